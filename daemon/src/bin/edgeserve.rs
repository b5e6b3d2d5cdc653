//! `edgeserve`: the operator CLI. It drives the daemon over its control socket.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use axum::http::Method;
use clap::Parser;
use edgeserve_daemon::cli::args::{
    Args, AssignmentVerb, BoardVerb, Command, DeploymentVerb, DeviceVerb, EndpointVerb, ModelVerb,
    Output, RoleVerb, TlsVerb,
};
use edgeserve_daemon::cli::files::{assignment, percentages, read_document};
use edgeserve_daemon::cli::render;
use edgeserve_daemon::control::{ControlClient, ControlError};
use serde_json::{json, Map, Value};

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
    if let Command::Completions { shell } = &args.command {
        let script = edgeserve_daemon::cli::manual::completions(*shell);
        std::io::Write::write_all(&mut std::io::stdout(), &script)?;
        std::process::exit(0);
    }
    if let Command::Bench(bench) = &args.command {
        std::process::exit(run_bench(bench, &args.socket));
    }
    if let Command::Man = &args.command {
        std::io::Write::write_all(
            &mut std::io::stdout(),
            &edgeserve_daemon::cli::manual::edgeserve_page()?,
        )?;
        std::process::exit(0);
    }
    let request = build(&args.command)?;
    check_path_names(&request.path)?;
    let client = ControlClient::new(&args.socket, Duration::from_secs(args.timeout));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if let Command::Endpoint { verb: EndpointVerb::Delete { name, yes: false } } = &args.command {
        if std::io::IsTerminal::is_terminal(&std::io::stdin())
            && !runtime.block_on(confirm_delete(&client, name))?
        {
            anyhow::bail!("not deleted");
        }
    }
    let headers: Vec<(&str, &str)> =
        request.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(runtime.block_on(client.call_with_headers(
        request.method,
        &request.path,
        request.body.as_ref(),
        &headers,
    ))?)
}

/// `edgeserve bench`: prints the report (text, or JSON with --json) and returns the exit code:
/// 0 all answered 2xx, 1 some failed, 2 could not run.
fn run_bench(bench: &edgeserve_daemon::cli::args::BenchArgs, socket: &std::path::Path) -> i32 {
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !bench.json;
    match edgeserve_daemon::bench::bench(bench, socket, progress) {
        Ok(report) => {
            if bench.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", report.text());
            }
            if report.errors.total == 0 && report.requests > 0 {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("edgeserve bench: {e}");
            2
        }
    }
}

/// On a terminal, asks before deleting an endpoint that still takes traffic.
async fn confirm_delete(client: &ControlClient, name: &str) -> anyhow::Result<bool> {
    let shown = client.call(Method::GET, &format!("/endpoints/{name}"), None).await?;
    let traffic: Vec<String> = shown["traffic"]
        .as_object()
        .map(|t| {
            t.iter()
                .filter(|(_, p)| p.as_u64().unwrap_or(0) > 0)
                .map(|(d, p)| format!("{d}={p}%"))
                .collect()
        })
        .unwrap_or_default();
    if traffic.is_empty() {
        return Ok(true);
    }
    eprint!(
        "endpoint {name} takes traffic ({}); delete it, its deployments and its keys? [y/N] ",
        traffic.join(", ")
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Refuses names that cannot be part of a control route (spaces, `!`, `/`, ...) with the rule
/// names follow, before anything is sent. Percent-encoded segments (role names) pass.
fn check_path_names(path: &str) -> anyhow::Result<()> {
    let route = path.split('?').next().unwrap_or(path);
    for segment in route.split('/').filter(|s| !s.is_empty()) {
        let uri_safe = segment.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:%~".contains(c));
        if !uri_safe {
            let shown = segment;
            edgeserve_daemon::names::check("name", shown).map_err(anyhow::Error::msg)?;
            anyhow::bail!(
                "name \"{shown}\" cannot be used: names are letters, digits, '-', '_' or '.'"
            );
        }
    }
    Ok(())
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
        Command::Drain { cancel } => {
            req(Method::POST, "/drain".into(), Some(serde_json::json!({ "cancel": cancel })))
        }
        Command::Device { verb: DeviceVerb::List } => req(Method::GET, "/devices".into(), None),
        Command::Board { verb: BoardVerb::Detect } => req(Method::GET, "/board".into(), None),
        Command::Board { verb: BoardVerb::UdevRules } => anyhow::bail!("udev-rules runs locally"),
        Command::Completions { .. } | Command::Man | Command::Bench(_) => {
            anyhow::bail!("this verb runs locally")
        }
        Command::Tls { verb: TlsVerb::Show { .. } } => req(Method::GET, "/tls".into(), None),
        Command::Tls { verb: TlsVerb::Reset } => req(Method::DELETE, "/tls".into(), None),
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
            allow_unauthenticated,
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
            if *allow_unauthenticated {
                body.insert("allow_unauthenticated".into(), Value::Bool(true));
            }
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
        EndpointVerb::Delete { name, .. } => {
            req(Method::DELETE, format!("/endpoints/{name}"), None)
        }
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
