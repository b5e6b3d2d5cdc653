//! `edgeserved`: the edge inference daemon.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use edgeserve_daemon::cli::args::DaemonArgs as Args;
use edgeserve_daemon::{config, daemon, demo};

/// Logs to journald with structured fields under systemd (`JOURNAL_STREAM` set), else as text
/// on stderr (coloured on a terminal). Text lines are written by a thread of their own through a
/// bounded queue (8,192 lines; past that, lines are dropped rather than wait, and how many is
/// logged within 10 s), so a slow or stopped reader of stderr never blocks a runtime thread, and
/// lines written in a burst leave in one write. The returned guard flushes what is queued when it is dropped: hold it until exit.
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
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
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .thread_name("log writer")
        // The queue is allocated whole: the crate's default (128,000 lines) was 4 MiB of RSS.
        .buffered_lines_limit(8192)
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let dropped = writer.error_counter();
    tracing_subscriber::fmt().with_env_filter(filter()).with_ansi(ansi).with_writer(writer).init();
    // Lines dropped while stderr was not read are said once it is read again.
    let _ = std::thread::Builder::new().name("log drops".into()).spawn(move || {
        let mut said = 0;
        loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            let now = dropped.dropped_lines();
            if now > said {
                tracing::warn!(
                    dropped = now - said,
                    "log lines were dropped: stderr was not read fast enough (journald or the log collector is stalled)"
                );
                said = now;
            }
        }
    });
    Some(guard)
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
/// the only other threads by then are the log writer's two, which read no environment. A folder
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
