//! `edgeserve`: the operator CLI. It drives the daemon over its control socket.

use clap::Parser;

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
    socket: std::path::PathBuf,
}

fn main() {
    let _args = Args::parse();
}
