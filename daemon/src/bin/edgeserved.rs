//! `edgeserved`: the edge inference daemon.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use edgeserve_daemon::cli::args::DaemonArgs as Args;
use edgeserve_daemon::{config, daemon, demo, log_writer};

/// Logs to journald with structured fields under systemd (`JOURNAL_STREAM` set), else as text
/// on stderr (coloured on a terminal) through `log_writer::BatchWriter`: lines gather in a 1 MiB
/// buffer and a thread of their own writes them in batches (past 1 MiB, lines are dropped rather
/// than wait, and how many is logged), so a slow or stopped reader of stderr never blocks a
/// runtime thread. The returned guard writes what is gathered when it is dropped: hold it until
/// exit.
fn init_logging() -> Option<log_writer::FlushGuard> {
    use std::io::IsTerminal;

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;

    let filter =
        || EnvFilter::try_from_env("EDGESERVE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            let journald = journald.with_syslog_identifier("edgeserved".into());
            tracing_subscriber::registry().with(filter()).with(journald).init();
            return None;
        }
    }
    let ansi = std::io::stderr().is_terminal();
    match log_writer::BatchWriter::new(std::io::stderr(), 1 << 20) {
        Ok((writer, guard)) => {
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(ansi)
                .with_writer(writer)
                .init();
            Some(guard)
        }
        // No thread for the writer: write each line to stderr directly, and say so.
        Err(e) => {
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .init();
            tracing::warn!(
                error = %e,
                "the log writer thread could not start: log lines are written to stderr from the threads that log them, so a stalled reader of stderr stalls them"
            );
            None
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("edgeserved: {}", edgeserve_daemon::error::chain_text(e.chain().map(|c| c as _)));
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.print_man {
        std::io::Write::write_all(
            &mut std::io::stdout(),
            &edgeserve_daemon::cli::manual::edgeserved_page()?,
        )?;
        return Ok(());
    }
    if args.print_default_config {
        print!("{}", config::reference::default_config()?);
        return Ok(());
    }
    let _log_guard = init_logging();
    if args.demo {
        let demo = demo::prepare()?;
        prepare_driver_cache(&demo.settings.daemon.state_dir);
        return runtime()?.block_on(run_demo(demo));
    }
    let settings = config::load(args.config.as_deref())?;
    // Relative paths in the config file are read from its folder.
    let base_dir = args
        .config
        .as_deref()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/edgeserve"));
    if args.check_config {
        daemon::check(&settings, &base_dir)?;
        let plan = runtime()?.block_on(daemon::check_plan(
            &settings,
            args.config.as_deref(),
            &base_dir,
        ))?;
        // The plan goes to stderr: stdout stays the one line scripts check.
        eprint!("{plan}");
        println!("configuration OK");
        return Ok(());
    }
    let options =
        daemon::RunOptions { base_dir, config_path: args.config.clone(), ..Default::default() };
    prepare_driver_cache(&settings.daemon.state_dir);
    runtime()?.block_on(daemon::run(settings, options))?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Points the OpenCL driver's kernel cache at `{state_dir}/cache/pocl` (unless the operator set
/// `POCL_CACHE_DIR`). Runs before the async runtime starts, as it sets an environment variable:
/// the only other threads by then are the log writer's, which reads no environment. A folder
/// that cannot be used is logged and only the GPU target suffers; other targets keep serving.
fn prepare_driver_cache(state_dir: &std::path::Path) {
    let default_dir = state_dir.join("cache").join("pocl");
    match edgeserve_accel::gpu::driver_cache::prepare(&default_dir) {
        Ok(dir) => tracing::debug!(dir = %dir.display(), "OpenCL driver cache"),
        Err(e) => tracing::warn!(error = %e, "GPU target degraded"),
    }
}

async fn run_demo(demo: demo::Demo) -> anyhow::Result<()> {
    let ca = demo.ca_path();
    let options = daemon::RunOptions {
        master_key: Some(demo.master_key()),
        base_dir: demo.dir.path().to_path_buf(),
        in_memory_config: true,
        config_path: None,
        on_ready: Some(Box::new(move |app, _| match app.store.keys("iris") {
            Ok(Some(keys)) => {
                println!(
                    "{}",
                    demo::ready_message(&app.settings(), &app.bound(), &ca, &keys.primary)
                );
            }
            _ => eprintln!("edgeserved: the demo endpoint has no keys"),
        })),
    };
    let settings = demo.settings.clone();
    daemon::run(settings, options).await?;
    drop(demo);
    Ok(())
}
