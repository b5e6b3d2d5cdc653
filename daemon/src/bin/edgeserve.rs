//! `edgeserve`: the operator CLI. It drives the daemon over its control socket.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::Method;
use clap::{Parser, Subcommand, ValueEnum};
use edgeserve_daemon::cli::render;
use edgeserve_daemon::control::{ControlClient, ControlError};
use serde_json::Value;

/// The edgeserve operator CLI.
#[derive(Parser)]
#[command(name = "edgeserve", version, about)]
struct Args {
    /// Control socket of the daemon.
    #[arg(
        long,
        env = "EDGESERVE_SOCKET",
        default_value = "/run/edgeserve/control.sock",
        global = true
    )]
    socket: PathBuf,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "json", global = true)]
    output: Output,
    /// Seconds to wait for the daemon's answer.
    #[arg(long, default_value = "30", global = true)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Json,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Scoring endpoints.
    Endpoint {
        #[command(subcommand)]
        verb: EndpointVerb,
    },
    /// Accelerator devices.
    Device {
        #[command(subcommand)]
        verb: DeviceVerb,
    },
    /// What the daemon serves and whether it is ready.
    Status,
}

#[derive(Subcommand)]
enum EndpointVerb {
    /// List endpoints.
    List,
    /// Show one endpoint.
    Show {
        #[arg(short, long)]
        name: String,
    },
    /// Print an endpoint's primary and secondary keys.
    GetCredentials {
        #[arg(short, long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum DeviceVerb {
    /// List every device of every backend.
    List,
}

fn main() {
    let args = Args::parse();
    let code = match run(&args) {
        Ok(value) => {
            match args.output {
                Output::Json => {
                    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default())
                }
                Output::Table => print!("{}", render::table(&value)),
            }
            0
        }
        Err(e) => {
            eprintln!("edgeserve: {e}");
            match e.downcast_ref::<ControlError>() {
                Some(ControlError::Api { .. }) => 1,
                _ => 2,
            }
        }
    };
    std::process::exit(code);
}

fn run(args: &Args) -> anyhow::Result<Value> {
    let client = ControlClient::new(&args.socket, Duration::from_secs(args.timeout));
    let (method, path) = match &args.command {
        Command::Status => (Method::GET, "/status".to_string()),
        Command::Device { verb: DeviceVerb::List } => (Method::GET, "/devices".to_string()),
        Command::Endpoint { verb } => match verb {
            EndpointVerb::List => (Method::GET, "/endpoints".to_string()),
            EndpointVerb::Show { name } => (Method::GET, format!("/endpoints/{name}")),
            EndpointVerb::GetCredentials { name } => {
                (Method::POST, format!("/endpoints/{name}/credentials"))
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(client.call(method, &path, None))?)
}
