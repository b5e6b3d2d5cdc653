//! `edgeserve`: the operator CLI. It drives the daemon over its control socket.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use axum::http::Method;
use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use edgeserve_daemon::cli::files::{assignment, percentages, read_document};
use edgeserve_daemon::cli::render;
use edgeserve_daemon::control::{ControlClient, ControlError};
use serde_json::{json, Map, Value};

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
    /// Seconds to wait for the daemon's answer (loading a deployment can take a while).
    #[arg(long, default_value = "300", global = true)]
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
    /// Deployments of an endpoint.
    Deployment {
        #[command(subcommand)]
        verb: DeploymentVerb,
    },
    /// The model repository.
    Model {
        #[command(subcommand)]
        verb: ModelVerb,
    },
    /// The TLS listener's certificate.
    Tls {
        #[command(subcommand)]
        verb: TlsVerb,
    },
    /// Board support.
    Board {
        #[command(subcommand)]
        verb: BoardVerb,
    },
    /// Accelerator devices.
    Device {
        #[command(subcommand)]
        verb: DeviceVerb,
    },
    /// Roles and role assignments of the control plane (SPEC §4).
    Role {
        #[command(subcommand)]
        verb: RoleVerb,
    },
    /// What the daemon serves and whether it is ready.
    Status,
}

#[derive(Subcommand)]
enum RoleVerb {
    /// Create or replace a custom role from a JSON file (Name, IsCustom, Description, Actions,
    /// NotActions, AssignableScopes).
    Create {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// List built-in and custom roles.
    List,
    /// Show one role.
    Show {
        #[arg(short, long)]
        name: String,
    },
    /// Delete a custom role that is no longer assigned.
    Delete {
        #[arg(short, long)]
        name: String,
    },
    /// Role assignments: who holds which role where.
    Assignment {
        #[command(subcommand)]
        verb: AssignmentVerb,
    },
}

#[derive(Subcommand)]
enum AssignmentVerb {
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
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum EndpointVerb {
    /// Create an endpoint (with fresh keys) from a file or flags.
    Create {
        /// Endpoint file (TOML or JSON): name, auth_mode, public_network_access, description, transport.
        #[arg(short, long)]
        file: Option<PathBuf>,
        #[arg(short, long)]
        name: Option<String>,
        /// key (default), token (short-lived tokens from get-credentials), oidc (identity-provider
        /// JWTs, per [oidc] in the config; the subject needs a role), or none (needs
        /// allow_unauthenticated = true in the endpoint file).
        #[arg(long, value_parser = ["key", "token", "oidc", "none"])]
        auth_mode: Option<String>,
        #[arg(long)]
        public_network_access: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// tls (CPU/GPU deployments) or plain (FPGA deployments).
        #[arg(long)]
        transport: Option<String>,
    },
    /// List endpoints.
    List,
    /// Show one endpoint.
    Show {
        #[arg(short, long)]
        name: String,
    },
    /// Change traffic, mirror traffic or other fields.
    Update {
        #[arg(short, long)]
        name: String,
        /// Live traffic split, e.g. blue=90,green=10 (whole numbers summing to 100).
        #[arg(long)]
        traffic: Option<String>,
        /// Mirrored copies, e.g. green=10 (responses discarded).
        #[arg(long)]
        mirror: Option<String>,
        /// Other fields: description=..., public_network_access=enabled|disabled.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Delete an endpoint, its deployments and its keys.
    Delete {
        #[arg(short, long)]
        name: String,
    },
    /// Print an endpoint's primary and secondary keys.
    GetCredentials {
        #[arg(short, long)]
        name: String,
    },
    /// Replace one key; the other keeps working.
    RegenerateKeys {
        #[arg(short, long)]
        name: String,
        /// primary or secondary (key endpoints), or token-signing (token endpoints: revokes every token).
        #[arg(long, value_parser = ["primary", "secondary", "token-signing"])]
        key_type: String,
    },
    /// Score a request file on the endpoint.
    Invoke {
        #[arg(short, long)]
        name: String,
        /// Request file: {"data": ...} or {"inputs": {...}}.
        #[arg(short = 'r', long)]
        request_file: PathBuf,
        /// Send it to this deployment, whatever the traffic split.
        #[arg(long)]
        deployment: Option<String>,
    },
}

#[derive(ClapArgs)]
struct DeploymentFields {
    /// Deployment file (TOML or JSON), as SPEC §6 shows.
    #[arg(short, long)]
    file: Option<PathBuf>,
    #[arg(short, long)]
    name: Option<String>,
    #[arg(short, long)]
    endpoint: Option<String>,
    /// Registered model NAME:VERSION.
    #[arg(long)]
    model: Option<String>,
    /// cpu, gpu or fpga.
    #[arg(long)]
    target: Option<String>,
    #[arg(long)]
    device: Option<u32>,
    #[arg(long)]
    instance_count: Option<u32>,
    #[arg(long)]
    max_queue: Option<u32>,
    /// Other fields as KEY=VALUE.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum DeploymentVerb {
    /// Create (or replace) a deployment; it is loaded before it serves.
    Create {
        #[command(flatten)]
        fields: DeploymentFields,
        /// Give it 100% of the endpoint's traffic.
        #[arg(long)]
        all_traffic: bool,
    },
    /// Show one deployment.
    Show {
        #[arg(short, long)]
        name: String,
        #[arg(short, long)]
        endpoint: String,
    },
    /// List an endpoint's deployments.
    List {
        #[arg(short, long)]
        endpoint: String,
    },
    /// Change a deployment (e.g. --set model=defects:4); the new one loads before the old retires.
    Update {
        #[arg(short, long)]
        name: String,
        #[arg(short, long)]
        endpoint: String,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Delete a deployment that takes no traffic.
    Delete {
        #[arg(short, long)]
        name: String,
        #[arg(short, long)]
        endpoint: String,
    },
}

#[derive(Subcommand)]
enum ModelVerb {
    /// Copy a model (a folder with model.onnx, or an .onnx file) into the repository.
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
        #[arg(long)]
        path: PathBuf,
    },
    /// List registered models.
    List,
    /// Show one model version.
    Show {
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
    },
    /// Delete a model version no deployment uses.
    Delete {
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
    },
}

#[derive(Subcommand)]
enum TlsVerb {
    /// Show the served certificate: subject, SANs, issuer, validity, fingerprint, source.
    Show {
        /// Print only the PEM certificate a client must trust (the chain's root when the
        /// certificate file holds it, else its top-most certificate), e.g. for `curl --cacert`.
        #[arg(long)]
        ca_pem: bool,
    },
    /// Check new PEM files and serve them from the next handshake on, without a restart.
    Set {
        #[arg(long)]
        cert_pem: PathBuf,
        #[arg(long)]
        key_pem: PathBuf,
        #[arg(long)]
        cname: String,
    },
}

#[derive(Subcommand)]
enum BoardVerb {
    /// Which board profile fits this box, and which rule matched.
    Detect,
    /// Print the udev rules of every board profile (no daemon needed; for packaging).
    UdevRules,
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
            if let Command::Tls { verb: TlsVerb::Show { ca_pem: true } } = &args.command {
                match value.get("trustPem").and_then(Value::as_str) {
                    Some(pem) if !pem.is_empty() => print!("{pem}"),
                    _ => {
                        eprintln!("edgeserve: the daemon did not report a certificate to trust");
                        std::process::exit(1);
                    }
                }
                std::process::exit(0);
            }
            match args.output {
                Output::Json => {
                    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default())
                }
                Output::Table => print!("{}", render::table(&value)),
            }
            0
        }
        Err(e) => {
            eprintln!(
                "edgeserve: {}",
                edgeserve_daemon::error::chain_text(e.chain().map(|c| c as _))
            );
            match e.downcast_ref::<ControlError>() {
                Some(ControlError::Api { .. }) => 1,
                _ => 2,
            }
        }
    };
    std::process::exit(code);
}

/// One control request.
struct Request {
    method: Method,
    path: String,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

fn req(method: Method, path: String, body: Option<Value>) -> Request {
    Request { method, path, body, headers: Vec::new() }
}

fn run(args: &Args) -> anyhow::Result<Value> {
    if let Command::Board { verb: BoardVerb::UdevRules } = &args.command {
        print!("{}", udev_rules()?);
        std::process::exit(0);
    }
    let request = build(&args.command)?;
    let client = ControlClient::new(&args.socket, Duration::from_secs(args.timeout));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let headers: Vec<(&str, &str)> =
        request.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(runtime.block_on(client.call_with_headers(
        request.method,
        &request.path,
        request.body.as_ref(),
        &headers,
    ))?)
}

fn insert_some(obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        obj.insert(key.to_string(), v);
    }
}

fn apply_sets(obj: &mut Map<String, Value>, sets: &[String]) -> anyhow::Result<()> {
    for s in sets {
        let (k, v) = assignment(s)?;
        obj.insert(k, v);
    }
    Ok(())
}

fn object(v: Value, what: &str) -> anyhow::Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => anyhow::bail!("{what} must be a table of fields"),
    }
}

fn build(command: &Command) -> anyhow::Result<Request> {
    Ok(match command {
        Command::Status => req(Method::GET, "/status".into(), None),
        Command::Device { verb: DeviceVerb::List } => req(Method::GET, "/devices".into(), None),
        Command::Board { verb: BoardVerb::Detect } => req(Method::GET, "/board".into(), None),
        Command::Board { verb: BoardVerb::UdevRules } => anyhow::bail!("udev-rules runs locally"),
        Command::Tls { verb: TlsVerb::Show { .. } } => req(Method::GET, "/tls".into(), None),
        Command::Tls { verb: TlsVerb::Set { cert_pem, key_pem, cname } } => {
            let abs =
                |p: &PathBuf| std::fs::canonicalize(p).with_context(|| format!("{}", p.display()));
            let body =
                json!({ "certPem": abs(cert_pem)?, "keyPem": abs(key_pem)?, "cname": cname });
            req(Method::PUT, "/tls".into(), Some(body))
        }
        Command::Endpoint { verb } => endpoint(verb)?,
        Command::Role { verb } => role(verb)?,
        Command::Deployment { verb } => deployment(verb)?,
        Command::Model { verb } => match verb {
            ModelVerb::Register { name, version, path } => {
                let path = std::fs::canonicalize(path)
                    .with_context(|| format!("model path {}", path.display()))?;
                req(
                    Method::POST,
                    "/models".into(),
                    Some(json!({ "name": name, "version": version, "path": path })),
                )
            }
            ModelVerb::List => req(Method::GET, "/models".into(), None),
            ModelVerb::Show { name, version } => {
                req(Method::GET, format!("/models/{name}/versions/{version}"), None)
            }
            ModelVerb::Delete { name, version } => {
                req(Method::DELETE, format!("/models/{name}/versions/{version}"), None)
            }
        },
    })
}

fn endpoint(verb: &EndpointVerb) -> anyhow::Result<Request> {
    Ok(match verb {
        EndpointVerb::Create {
            file,
            name,
            auth_mode,
            public_network_access,
            description,
            transport,
        } => {
            let mut body = match file {
                Some(f) => object(read_document(f)?, "the endpoint file")?,
                None => Map::new(),
            };
            insert_some(&mut body, "name", name.clone().map(Value::from));
            insert_some(&mut body, "auth_mode", auth_mode.clone().map(Value::from));
            insert_some(
                &mut body,
                "public_network_access",
                public_network_access.clone().map(Value::from),
            );
            insert_some(&mut body, "description", description.clone().map(Value::from));
            insert_some(&mut body, "transport", transport.clone().map(Value::from));
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .context("the endpoint needs a name (--name or name = ... in the file)")?;
            req(Method::PUT, format!("/endpoints/{name}"), Some(Value::Object(body)))
        }
        EndpointVerb::List => req(Method::GET, "/endpoints".into(), None),
        EndpointVerb::Show { name } => req(Method::GET, format!("/endpoints/{name}"), None),
        EndpointVerb::Update { name, traffic, mirror, set } => {
            let mut body = Map::new();
            if let Some(t) = traffic {
                body.insert("traffic".into(), json!(percentages(t)?));
            }
            if let Some(m) = mirror {
                body.insert("mirrorTraffic".into(), json!(percentages(m)?));
            }
            for s in set {
                let (k, v) = assignment(s)?;
                let key = match k.as_str() {
                    "description" => "description",
                    "public_network_access" | "publicNetworkAccess" => "publicNetworkAccess",
                    "auth_mode" | "authMode" => "authMode",
                    "allow_unauthenticated" | "allowUnauthenticated" => "allowUnauthenticated",
                    other => anyhow::bail!(
                        "--set {other}: only description, public_network_access, auth_mode \
                         (key, token, none) and allow_unauthenticated can be set"
                    ),
                };
                body.insert(key.into(), v);
            }
            if body.is_empty() {
                anyhow::bail!("nothing to update: give --traffic, --mirror or --set");
            }
            req(Method::PATCH, format!("/endpoints/{name}"), Some(Value::Object(body)))
        }
        EndpointVerb::Delete { name } => req(Method::DELETE, format!("/endpoints/{name}"), None),
        EndpointVerb::GetCredentials { name } => {
            req(Method::POST, format!("/endpoints/{name}/credentials"), None)
        }
        EndpointVerb::RegenerateKeys { name, key_type } => req(
            Method::POST,
            format!("/endpoints/{name}/regenerateKeys"),
            Some(json!({ "keyType": key_type })),
        ),
        EndpointVerb::Invoke { name, request_file, deployment } => {
            let body = read_document(request_file)?;
            let mut r = req(Method::POST, format!("/endpoints/{name}/invoke"), Some(body));
            if let Some(d) = deployment {
                r.headers.push(("x-deployment", d.clone()));
            }
            r
        }
    })
}

fn deployment(verb: &DeploymentVerb) -> anyhow::Result<Request> {
    Ok(match verb {
        DeploymentVerb::Create { fields, all_traffic } => {
            let f = fields;
            let mut body = match &f.file {
                Some(file) => object(read_document(file)?, "the deployment file")?,
                None => Map::new(),
            };
            insert_some(&mut body, "name", f.name.clone().map(Value::from));
            insert_some(&mut body, "endpoint", f.endpoint.clone().map(Value::from));
            insert_some(&mut body, "model", f.model.clone().map(Value::from));
            insert_some(&mut body, "target", f.target.clone().map(Value::from));
            insert_some(&mut body, "device", f.device.map(Value::from));
            insert_some(&mut body, "instance_count", f.instance_count.map(Value::from));
            insert_some(&mut body, "max_queue", f.max_queue.map(Value::from));
            apply_sets(&mut body, &f.set)?;
            let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            let name = field("name")
                .context("the deployment needs a name (--name or name = ... in the file)")?;
            let endpoint = field("endpoint").context(
                "the deployment needs an endpoint (--endpoint or endpoint = ... in the file)",
            )?;
            let query = if *all_traffic { "?allTraffic=true" } else { "" };
            req(
                Method::PUT,
                format!("/endpoints/{endpoint}/deployments/{name}{query}"),
                Some(Value::Object(body)),
            )
        }
        DeploymentVerb::Show { name, endpoint } => {
            req(Method::GET, format!("/endpoints/{endpoint}/deployments/{name}"), None)
        }
        DeploymentVerb::List { endpoint } => {
            req(Method::GET, format!("/endpoints/{endpoint}/deployments"), None)
        }
        DeploymentVerb::Update { name, endpoint, set } => {
            let mut body = Map::new();
            apply_sets(&mut body, set)?;
            if body.is_empty() {
                anyhow::bail!("nothing to update: give --set KEY=VALUE");
            }
            req(
                Method::PATCH,
                format!("/endpoints/{endpoint}/deployments/{name}"),
                Some(Value::Object(body)),
            )
        }
        DeploymentVerb::Delete { name, endpoint } => {
            req(Method::DELETE, format!("/endpoints/{endpoint}/deployments/{name}"), None)
        }
    })
}

/// A URL path segment with everything but unreserved characters percent-encoded
/// (role names such as "Data Scientist" hold spaces).
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn role(verb: &RoleVerb) -> anyhow::Result<Request> {
    Ok(match verb {
        RoleVerb::Create { file } => {
            let body = read_document(file)?;
            if !body.is_object() {
                anyhow::bail!("{}: a role is a JSON object with Name and Actions", file.display());
            }
            req(Method::PUT, "/roleDefinitions".into(), Some(body))
        }
        RoleVerb::List => req(Method::GET, "/roleDefinitions".into(), None),
        RoleVerb::Show { name } => {
            req(Method::GET, format!("/roleDefinitions/{}", path_segment(name)), None)
        }
        RoleVerb::Delete { name } => {
            req(Method::DELETE, format!("/roleDefinitions/{}", path_segment(name)), None)
        }
        RoleVerb::Assignment { verb: AssignmentVerb::Create { assignee, role, scope } } => req(
            Method::POST,
            "/roleAssignments".into(),
            Some(json!({ "assignee": assignee, "role": role, "scope": scope })),
        ),
        RoleVerb::Assignment { verb: AssignmentVerb::List } => {
            req(Method::GET, "/roleAssignments".into(), None)
        }
        RoleVerb::Assignment { verb: AssignmentVerb::Delete { id } } => {
            req(Method::DELETE, format!("/roleAssignments/{}", path_segment(id)), None)
        }
    })
}

/// The udev rules of every board profile, as one rules file.
fn udev_rules() -> anyhow::Result<String> {
    let mut out =
        String::from("# edgeserve: accelerator device permissions, from bsp/boards/*.toml\n");
    for profile in edgeserve_bsp::builtin_profiles()? {
        if profile.udev_rules.is_empty() {
            continue;
        }
        out.push_str(&format!("\n# {} ({})\n", profile.name, profile.description));
        for rule in &profile.udev_rules {
            out.push_str(rule);
            out.push('\n');
        }
    }
    Ok(out)
}
