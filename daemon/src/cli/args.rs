//! The command lines of `edgeserve` (the operator CLI) and `edgeserved` (the daemon), as clap
//! definitions shared by the binaries, the completion and man-page generators, and tests.
//!
//! Conventions every verb keeps: `-n/--name` for the name a verb acts on, `-e/--endpoint` for
//! the endpoint of a deployment, `-f/--file` for a TOML or JSON file, `-o/--output` for the
//! output format; every argument has a help line and closed sets list their values.

use std::path::PathBuf;

use clap::{Args as ClapArgs, CommandFactory, Parser, Subcommand, ValueEnum};

/// The `edgeserve` command tree (for completions, man pages and tests).
pub fn command() -> clap::Command {
    Args::command()
}

/// The `edgeserved` command tree (for its man page and tests).
pub fn daemon_command() -> clap::Command {
    DaemonArgs::command()
}

/// Examples shown by `edgeserve --help` and in `man edgeserve`.
const EDGESERVE_EXAMPLES: &str = "\
Examples:
  edgeserve status -o table
  edgeserve model register --name defects --version 3 --path ./defects/
  edgeserve endpoint create --name defects
  edgeserve deployment create -f blue.toml --all-traffic
  edgeserve endpoint get-credentials -n defects
  edgeserve deployment create -f green.toml
  edgeserve endpoint update -n defects --traffic blue=90,green=10
  edgeserve endpoint update -n defects --traffic blue=100,green=0 --mirror green=20
  edgeserve deployment update -n blue -e defects --set model=defects:4
  edgeserve endpoint regenerate-keys -n defects --key-type primary
  edgeserve endpoint invoke -n defects -r request.json --deployment green
  edgeserve tls set --cert-pem new.pem --key-pem new.key --cname edge-box.local
  EDGESERVE_SOCKET=/run/edgeserve/control.sock edgeserve endpoint list -o table

Exit codes: 0 done, 1 refused by the daemon, 2 could not ask (socket, file, arguments).
Shell completions: edgeserve completions bash|zsh|fish.";

/// The edgeserve operator CLI: manage endpoints, deployments, models, TLS and roles of the local
/// edgeserved over its control socket.
#[derive(Parser)]
#[command(
    name = "edgeserve",
    version,
    about = "Operate an edgeserved box: endpoints, deployments, models, TLS and roles",
    long_about = "Operate an edgeserved box: endpoints, deployments, models, TLS and roles.\n\n\
                  edgeserve talks to the daemon's control socket; root and members of the \
                  edgeserve-admin group are Owner, other users get what their role assignments \
                  grant. Answers are JSON (-o table for people); errors go to stderr.",
    after_long_help = EDGESERVE_EXAMPLES
)]
pub struct Args {
    /// Control socket of the daemon.
    #[arg(
        long,
        env = "EDGESERVE_SOCKET",
        default_value = "/run/edgeserve/control.sock",
        value_name = "PATH",
        global = true,
        help_heading = "Global options"
    )]
    pub socket: PathBuf,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        value_enum,
        default_value = "json",
        global = true,
        help_heading = "Global options"
    )]
    pub output: Output,
    /// Seconds to wait for the daemon's answer (loading a deployment can take a while).
    #[arg(
        long,
        default_value = "300",
        value_name = "SECONDS",
        global = true,
        help_heading = "Global options"
    )]
    pub timeout: u64,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How answers are printed.
#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    /// Pretty-printed JSON, the machine format.
    Json,
    /// Aligned columns for people.
    Table,
}

/// The top-level commands of `edgeserve` (one per resource, plus status, drain, bench).
#[derive(Subcommand)]
pub enum Command {
    /// Scoring endpoints: create, list, show, update traffic, delete, keys, invoke.
    #[command(after_long_help = "\
Examples:
  edgeserve endpoint create --name defects
  edgeserve endpoint create -f endpoint.toml
  edgeserve endpoint list -o table
  edgeserve endpoint get-credentials -n defects
  edgeserve endpoint update -n defects --traffic blue=90,green=10 --mirror green=20
  edgeserve endpoint regenerate-keys -n defects --key-type secondary
  edgeserve endpoint invoke -n defects -r request.json")]
    Endpoint {
        /// What to do with endpoints.
        #[command(subcommand)]
        verb: EndpointVerb,
    },
    /// Deployments of an endpoint: a model on a target, loaded before it serves.
    #[command(after_long_help = "\
Examples:
  edgeserve deployment create -f blue.toml --all-traffic
  edgeserve deployment create -n green -e defects --model defects:4 --target cpu
  edgeserve deployment list -e defects -o table
  edgeserve deployment update -n blue -e defects --set model=defects:4
  edgeserve deployment delete -n green -e defects")]
    Deployment {
        /// What to do with deployments.
        #[command(subcommand)]
        verb: DeploymentVerb,
    },
    /// The model repository: register, list, show and delete model versions.
    #[command(after_long_help = "\
Examples:
  edgeserve model register -n defects -v 3 --path ./defects/
  edgeserve model list -o table
  edgeserve model show -n defects -v 3
  edgeserve model delete -n defects -v 2")]
    Model {
        /// What to do with models.
        #[command(subcommand)]
        verb: ModelVerb,
    },
    /// The TLS listener's certificate: show it, or serve new files without a restart.
    #[command(after_long_help = "\
Examples:
  edgeserve tls show
  edgeserve tls show --ca-pem > edge-ca.pem
  edgeserve tls set --cert-pem new.pem --key-pem new.key --cname edge-box.local
  edgeserve tls reset")]
    Tls {
        /// What to do with the TLS certificate.
        #[command(subcommand)]
        verb: TlsVerb,
    },
    /// Board support: the detected board profile and the udev rules of all profiles.
    #[command(after_long_help = "\
Examples:
  edgeserve board detect
  edgeserve board udev-rules > /etc/udev/rules.d/70-edgeserve.rules")]
    Board {
        /// What to ask about the board.
        #[command(subcommand)]
        verb: BoardVerb,
    },
    /// Accelerator devices of every backend (CPU, GPU, FPGA).
    #[command(after_long_help = "\
Examples:
  edgeserve device list -o table")]
    Device {
        /// What to ask about devices.
        #[command(subcommand)]
        verb: DeviceVerb,
    },
    /// Roles and role assignments of the control plane (README: Roles).
    #[command(after_long_help = "\
Examples:
  edgeserve role list -o table
  edgeserve role show -n \"Data Scientist\"
  edgeserve role create -f operator-role.json
  edgeserve role assignment create --assignee unix-user:alice --role Reader --scope /
  edgeserve role assignment create --assignee oidc:alice --role Scorer --scope /endpoints/line3
  edgeserve role assignment list
  edgeserve role assignment delete --id ID")]
    Role {
        /// What to do with roles.
        #[command(subcommand)]
        verb: RoleVerb,
    },
    /// What the daemon serves and whether it is ready.
    #[command(after_long_help = "\
Examples:
  edgeserve status
  edgeserve status -o table
  edgeserve --socket /run/edgeserve/control.sock status")]
    Status,
    /// Take the box out of its load balancer: readiness answers 503 while scoring goes on.
    #[command(after_long_help = "\
`systemctl stop` drains by itself (limits.drain_grace_ms); `edgeserve drain` is for
maintenance without stopping: the balancer's health check (GET /v2/health/ready) sees 503
and moves traffic to other boxes. `--cancel` puts the box back.

Examples:
  edgeserve drain
  edgeserve drain --cancel")]
    Drain {
        /// End draining: readiness follows the deployments again.
        #[arg(long)]
        cancel: bool,
    },
    /// Print a shell completion script to stdout.
    #[command(after_long_help = "\
Examples:
  edgeserve completions bash > ~/.local/share/bash-completion/completions/edgeserve
  edgeserve completions zsh > ~/.zfunc/_edgeserve
  edgeserve completions fish > ~/.config/fish/completions/edgeserve.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the edgeserve manual page (roff) to stdout, e.g. for `man -l -`.
    Man,
    /// Load an endpoint over its data plane (HTTPS or plain): req/s, latency percentiles, errors.
    #[command(after_long_help = BENCH_EXAMPLES)]
    Bench(Box<BenchArgs>),
}

/// Examples shown by `edgeserve bench --help`.
const BENCH_EXAMPLES: &str = "\
Examples:
  edgeserve bench -n mlp -r request.json --concurrency 32 --duration 15s
  edgeserve bench -n mlp -r oip.json --rate 2000 --duration 30s --warmup 2s --json
  edgeserve bench --url https://box.local:8443/v2/models/mlp/infer -r oip.bin --cacert ca.pem
  edgeserve bench -n mlp -r request.json --requests 10000 --http2 --connections 2

The key comes from --key, $EDGESERVE_KEY, or (with -n) the control socket's get-credentials;
it is never printed. A request file that is a JSON header followed by bytes is sent as an Open
Inference Protocol binary body (Inference-Header-Content-Length found from the JSON's end).
Exit codes: 0 every request answered 2xx, 1 some failed (the report says how), 2 could not run.";

/// `edgeserve bench`: the load generator's options (see `crate::bench`).
#[derive(ClapArgs, Clone, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["name", "url"]))]
pub struct BenchArgs {
    /// Endpoint to load: its seed or Open Inference Protocol route, picked from the request file.
    #[arg(short = 'n', long, value_name = "ENDPOINT")]
    pub name: Option<String>,
    /// Full URL to load instead of an endpoint name (https:// or http://).
    #[arg(long, value_name = "URL", conflicts_with_all = ["host", "port", "plain"])]
    pub url: Option<String>,
    /// Request body: seed JSON, Open Inference Protocol JSON, or a JSON header followed by binary.
    #[arg(short = 'r', long = "request-file", value_name = "FILE")]
    pub request_file: PathBuf,
    /// Host of the data plane (default: the daemon's scoring URI, else localhost).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Port of the data plane (default: the daemon's scoring URI, else 8443, or 8080 with --plain).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Use the plain (FPGA) listener over http:// instead of TLS.
    #[arg(long)]
    pub plain: bool,
    /// Requests in flight at once (closed loop), or the most in flight with --rate.
    #[arg(short = 'c', long, default_value = "8", value_name = "N")]
    pub concurrency: usize,
    /// Open loop: start this many requests per second, latency counted from the intended start.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// How long to measure, e.g. 15s or 1m (default 10s unless --requests is given).
    #[arg(long, value_name = "DURATION", conflicts_with = "requests")]
    pub duration: Option<humantime::Duration>,
    /// Measure this many requests instead of a duration.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Load sent before measuring starts (not counted), e.g. 2s.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub warmup: humantime::Duration,
    /// Endpoint key sent as `Authorization: Bearer` (better: set EDGESERVE_KEY).
    #[arg(long, env = "EDGESERVE_KEY", hide_env_values = true, value_name = "KEY")]
    pub key: Option<String>,
    /// Access token sent as `Authorization: Bearer` (better: set EDGESERVE_TOKEN).
    #[arg(
        long,
        env = "EDGESERVE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        conflicts_with = "key"
    )]
    pub token: Option<String>,
    /// Send no credential, even when the control socket could provide one.
    #[arg(long, conflicts_with_all = ["key", "token"])]
    pub no_auth: bool,
    /// CA certificate(s) to trust, PEM (default: the chain the daemon reports on its socket).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's certificate (development only).
    #[arg(long, conflicts_with = "cacert")]
    pub insecure: bool,
    /// Speak HTTP/2 (ALPN h2 over TLS, prior knowledge over plain) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// HTTP/2 connections the requests share (HTTP/1.1 uses one per request in flight).
    #[arg(long, default_value = "1", value_name = "N", requires = "http2")]
    pub connections: usize,
    /// Extra request header, e.g. `x-deployment: green` (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Worker threads of the load generator.
    #[arg(long, default_value = "2", value_name = "N")]
    pub threads: usize,
    /// Longest wait for one answer before it counts as a timeout error.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub request_timeout: humantime::Duration,
    /// Print the report as JSON (machine output) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Verbs of `edgeserve role`: custom role definitions and, under `assignment`, who holds them.
#[derive(Subcommand)]
pub enum RoleVerb {
    /// Create or replace a custom role from a JSON file (Name, IsCustom, Description, Actions,
    /// NotActions, AssignableScopes).
    Create {
        /// Role file (JSON or TOML) with Name, Actions and optionally NotActions, Description,
        /// AssignableScopes.
        #[arg(short, long, value_name = "PATH")]
        file: PathBuf,
    },
    /// List built-in and custom roles.
    List,
    /// Show one role.
    Show {
        /// Role name, e.g. Owner, Reader, Scorer, "Data Scientist" or a custom role.
        #[arg(short, long)]
        name: String,
    },
    /// Delete a custom role that is no longer assigned.
    Delete {
        /// Name of the custom role.
        #[arg(short, long)]
        name: String,
    },
    /// Role assignments: who holds which role where.
    Assignment {
        /// What to do with role assignments.
        #[command(subcommand)]
        verb: AssignmentVerb,
    },
}

/// Verbs of `edgeserve role assignment`.
#[derive(Subcommand)]
pub enum AssignmentVerb {
    /// Give an assignee a role at a scope.
    Create {
        /// unix-user:NAME, unix-group:NAME, oidc:SUBJECT or cert:COMMON_NAME.
        #[arg(long)]
        assignee: String,
        /// A role name, e.g. Reader, Scorer, "Data Scientist", Owner or a custom role.
        #[arg(long)]
        role: String,
        /// "/" (everything) or /endpoints/NAME.
        #[arg(long)]
        scope: String,
    },
    /// List assignments, built-in ones included.
    List,
    /// Delete an assignment by id.
    Delete {
        /// Assignment id, as `role assignment list` prints it (built-in ones cannot be deleted).
        #[arg(long)]
        id: String,
    },
}

/// A clap value parser for endpoint, deployment and model names: refuses what cannot be a
/// name (spaces, `!`, `/`) with the rule names follow, before any request is made.
pub fn resource_name(s: &str) -> Result<String, String> {
    crate::names::check("name", s).map(|()| s.to_string())
}

/// Verbs of `edgeserve endpoint`.
#[derive(Subcommand)]
pub enum EndpointVerb {
    /// Create an endpoint (with fresh keys) from a file or flags.
    Create {
        /// Endpoint file (TOML or JSON): name, auth_mode, public_network_access, description, transport.
        #[arg(short, long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Endpoint name (overrides the file's).
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: Option<String>,
        /// key (default), token (short-lived tokens from get-credentials), oidc (identity-provider
        /// JWTs, per the config's oidc table; the subject needs a role), or none (needs
        /// allow_unauthenticated = true in the endpoint file).
        #[arg(long, value_parser = ["key", "token", "oidc", "none"])]
        auth_mode: Option<String>,
        /// enabled (default): scoring from the network; disabled: refused (403).
        #[arg(long, value_parser = ["enabled", "disabled"])]
        public_network_access: Option<String>,
        /// Free text shown by list and show.
        #[arg(long)]
        description: Option<String>,
        /// tls (CPU/GPU deployments) or plain (FPGA deployments).
        #[arg(long, value_parser = ["tls", "plain"])]
        transport: Option<String>,
        /// Confirm that anyone on the network may score (needed with --auth-mode none).
        #[arg(long)]
        allow_unauthenticated: bool,
    },
    /// List endpoints.
    List,
    /// Show one endpoint.
    Show {
        /// Endpoint name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
    },
    /// Change traffic, mirror traffic or other fields.
    Update {
        /// Endpoint name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// Live traffic split, e.g. blue=90,green=10 (whole numbers summing to 100).
        #[arg(long, value_name = "DEPLOYMENT=PERCENT,...")]
        traffic: Option<String>,
        /// Mirrored copies, e.g. green=10 (responses discarded).
        #[arg(long, value_name = "DEPLOYMENT=PERCENT,...")]
        mirror: Option<String>,
        /// Other fields: description=..., public_network_access=enabled|disabled,
        /// auth_mode=key|token|oidc|none, allow_unauthenticated=true|false (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Delete an endpoint, its deployments and its keys.
    Delete {
        /// Endpoint name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// Do not ask, even on a terminal, when the endpoint still takes traffic.
        #[arg(short, long)]
        yes: bool,
    },
    /// Print an endpoint's credentials: its primary and secondary keys, or a fresh token.
    GetCredentials {
        /// Endpoint name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
    },
    /// Replace one key; the other keeps working.
    RegenerateKeys {
        /// Endpoint name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// primary or secondary (key endpoints), or token-signing (token endpoints: revokes every token).
        #[arg(long, value_parser = ["primary", "secondary", "token-signing"])]
        key_type: String,
    },
    /// Score a request file on the endpoint.
    Invoke {
        /// Endpoint name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// Request file: {"data": ...} or {"inputs": {...}}.
        #[arg(short = 'r', long, value_name = "PATH")]
        request_file: PathBuf,
        /// Send it to this deployment, whatever the traffic split.
        #[arg(long, value_name = "NAME")]
        deployment: Option<String>,
    },
}

/// The fields of `deployment create`: a deployment file and the flags that override it.
#[derive(ClapArgs)]
pub struct DeploymentFields {
    /// Deployment file (TOML or JSON), fields as in the README's deployment file; flags override them.
    #[arg(short, long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Deployment name.
    #[arg(value_parser = crate::cli::args::resource_name, short, long)]
    pub name: Option<String>,
    /// The endpoint it belongs to.
    #[arg(value_parser = crate::cli::args::resource_name, short, long, value_name = "NAME")]
    pub endpoint: Option<String>,
    /// Registered model NAME:VERSION.
    #[arg(long, value_name = "NAME:VERSION")]
    pub model: Option<String>,
    /// Where the model runs.
    #[arg(long, value_parser = ["cpu", "gpu", "fpga"])]
    pub target: Option<String>,
    /// Device index within the target, as `device list` numbers them (default 0).
    #[arg(long, value_name = "INDEX")]
    pub device: Option<u32>,
    /// Model instances (worker threads) in parallel.
    #[arg(long, value_name = "N")]
    pub instance_count: Option<u32>,
    /// Waiting requests before 503 + Retry-After.
    #[arg(long, value_name = "N")]
    pub max_queue: Option<u32>,
    /// Other fields as KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Verbs of `edgeserve deployment`.
#[derive(Subcommand)]
pub enum DeploymentVerb {
    /// Create (or replace) a deployment; it is loaded before it serves.
    Create {
        /// The deployment file and the flags that override it.
        #[command(flatten)]
        fields: DeploymentFields,
        /// Give it 100% of the endpoint's traffic.
        #[arg(long)]
        all_traffic: bool,
    },
    /// Show one deployment.
    Show {
        /// Deployment name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// The endpoint it belongs to.
        #[arg(value_parser = crate::cli::args::resource_name, short, long, value_name = "NAME")]
        endpoint: String,
    },
    /// List an endpoint's deployments.
    List {
        /// The endpoint whose deployments to list.
        #[arg(value_parser = crate::cli::args::resource_name, short, long, value_name = "NAME")]
        endpoint: String,
    },
    /// Change a deployment (e.g. --set model=defects:4); the new one loads before the old retires.
    Update {
        /// Deployment name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// The endpoint it belongs to.
        #[arg(value_parser = crate::cli::args::resource_name, short, long, value_name = "NAME")]
        endpoint: String,
        /// Fields to change: model=NAME:VERSION, target=cpu|gpu|fpga, device=N,
        /// instance_count=N, max_queue=N (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Delete a deployment that takes no traffic.
    Delete {
        /// Deployment name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// The endpoint it belongs to.
        #[arg(value_parser = crate::cli::args::resource_name, short, long, value_name = "NAME")]
        endpoint: String,
    },
}

/// Verbs of `edgeserve model`.
#[derive(Subcommand)]
pub enum ModelVerb {
    /// Copy a model (a folder with model.onnx, or an .onnx file) into the repository.
    Register {
        /// Model name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// Version label, e.g. 3.
        #[arg(short, long)]
        version: String,
        /// A folder with model.onnx (and an FPGA manifest, if any), or an .onnx file.
        #[arg(long, value_name = "PATH")]
        path: PathBuf,
    },
    /// List registered models.
    List,
    /// Show one model version.
    Show {
        /// Model name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// Model version.
        #[arg(short, long)]
        version: String,
    },
    /// Delete a model version no deployment uses.
    Delete {
        /// Model name.
        #[arg(value_parser = crate::cli::args::resource_name, short, long)]
        name: String,
        /// Model version.
        #[arg(short, long)]
        version: String,
    },
}

/// Verbs of `edgeserve tls`.
#[derive(Subcommand)]
pub enum TlsVerb {
    /// Show the served certificate: subject, SANs, issuer, validity, fingerprint, source.
    Show {
        /// Print only the PEM certificate a client must trust (the chain's root when the
        /// certificate file holds it, else its top-most certificate), e.g. for `curl --cacert`.
        #[arg(long)]
        ca_pem: bool,
    },
    /// Check new PEM files and serve them from the next handshake on, without a restart.
    Set {
        /// Certificate chain (PEM), leaf first.
        #[arg(long, value_name = "PATH")]
        cert_pem: PathBuf,
        /// Private key of the leaf certificate (PEM).
        #[arg(long, value_name = "PATH")]
        key_pem: PathBuf,
        /// Host name the certificate must cover (a SAN), e.g. edge-box.local.
        #[arg(long, value_name = "HOST")]
        cname: String,
    },
    /// Undo `tls set`: serve the config file's cert_pem, key_pem and cname again (checked
    /// first; if they do not load, the installed copy stays in force).
    Reset,
}

/// Verbs of `edgeserve board`.
#[derive(Subcommand)]
pub enum BoardVerb {
    /// Which board profile fits this box, and which rule matched.
    Detect,
    /// Print the udev rules of every board profile (no daemon needed; for packaging).
    UdevRules,
}

/// Verbs of `edgeserve device`.
#[derive(Subcommand)]
pub enum DeviceVerb {
    /// List every device of every backend.
    List,
}

/// Examples shown by `edgeserved --help` and in `man edgeserved`.
const EDGESERVED_EXAMPLES: &str = "\
Examples:
  edgeserved --demo
  edgeserved --check-config --config /etc/edgeserve/edgeserve.toml
  edgeserved --print-default-config > edgeserve.toml
  systemctl start edgeserved; journalctl -u edgeserved
  EDGESERVE_LOG=debug edgeserved --config ./edgeserve.toml

Environment: EDGESERVE_LOG sets the log filter (default info); EDGESERVE_SECTION__KEY=value
overrides a config key, e.g. EDGESERVE_TLS__LISTEN=127.0.0.1:9443.";

/// The edgeserve inference daemon.
#[derive(Parser)]
#[command(
    name = "edgeserved",
    version,
    about = "The edgeserve inference daemon: serves models on the box's accelerators to the \
             local network",
    long_about = "The edgeserve inference daemon: serves models on the box's accelerators to \
                  the local network.\n\n\
                  edgeserved loads registered models onto CPU, GPU (OpenCL) or FPGA (XRT) \
                  targets and serves scoring over key-, token- or OIDC-authenticated HTTPS, with \
                  blue/green deployments and certificate hot reload. It is managed with the \
                  edgeserve CLI over its control socket and usually runs under systemd \
                  (edgeserved.service).",
    after_long_help = EDGESERVED_EXAMPLES
)]
pub struct DaemonArgs {
    /// Config file (default /etc/edgeserve/edgeserve.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Validate the configuration and TLS material, then exit.
    #[arg(long)]
    pub check_config: bool,
    /// Serve the bundled example models on a temporary state dir with a development certificate.
    #[arg(long, conflicts_with_all = ["config", "check_config"])]
    pub demo: bool,
    /// Print the edgeserved manual page (roff) to stdout, then exit.
    #[arg(long, hide = true)]
    pub print_man: bool,
    /// Print the default configuration file, every key with its default and meaning, then exit.
    #[arg(long, conflicts_with_all = ["config", "check_config", "demo"])]
    pub print_default_config: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_trees_are_consistent() {
        command().debug_assert();
        daemon_command().debug_assert();
    }
}
