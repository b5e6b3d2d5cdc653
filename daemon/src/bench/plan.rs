//! From `edgeserve bench` arguments to a run plan: the URL (given, or the endpoint's route on the
//! daemon's scoring URI), the credential, the CA to trust, the body and its headers. The control
//! socket is asked only for what the arguments leave open, and only if it answers.

use std::path::Path;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::Value;

use super::conn::{self, Connector};
use super::request::{self, Kind, RequestBody};
use super::BenchError;
use crate::cli::args::BenchArgs;
use crate::control::ControlClient;

/// The header naming the JSON part of a binary-extension body.
const HEADER_LENGTH: &str = "inference-header-content-length";

/// Everything a run needs, resolved.
pub struct Plan {
    /// The URL loaded, for the report.
    pub url: String,
    /// How connections are made: address, TLS or plain, HTTP/1.1 or h2.
    pub connector: Connector,
    /// The request target (origin form for HTTP/1.1, absolute for h2).
    pub request_uri: Uri,
    /// Every request's headers (credential marked sensitive).
    pub headers: HeaderMap,
    /// The body every request sends, with its content type.
    pub body: RequestBody,
    /// Requests in flight at once (`--concurrency`); with `rate`, the most in flight.
    pub concurrency: usize,
    /// HTTP/2 connections the requests share (`--connections`; HTTP/1.1 uses one per request
    /// in flight).
    pub connections: usize,
    /// Open loop: requests started per second (`--rate`); `None` for a closed loop.
    pub rate: Option<f64>,
    /// How long to measure (`--duration`); `None` when `requests` bounds the run.
    pub duration: Option<Duration>,
    /// How many requests to measure (`--requests`).
    pub requests: Option<u64>,
    /// Load sent before measuring starts, not counted (`--warmup`).
    pub warmup: Duration,
    /// Longest wait for one answer before it counts as a timeout error.
    pub request_timeout: Duration,
    /// Worker threads of the load generator's runtime (`--threads`).
    pub threads: usize,
    /// Things the operator should know (where the key came from, ...), for stderr.
    pub notes: Vec<String>,
}

/// Resolves the arguments; `socket` is the control socket asked for what they leave open.
pub async fn resolve(args: &BenchArgs, socket: &Path) -> Result<Plan, BenchError> {
    check_numbers(args)?;
    let mut notes = Vec::new();
    let (extra, header_length) = extra_headers(&args.headers)?;
    let body = request::load(&args.request_file, header_length)?;
    let control = ControlClient::new(socket, Duration::from_secs(5));
    let have_socket = socket.exists();
    let ask = |path: String| {
        let control = &control;
        async move {
            if !have_socket {
                return None;
            }
            control.call(Method::POST, &path, None).await.ok()
        }
    };
    let ask_get = |path: String| {
        let control = &control;
        async move {
            if !have_socket {
                return None;
            }
            control.call(Method::GET, &path, None).await.ok()
        }
    };
    let url = match (&args.url, &args.name) {
        (Some(url), _) => url.clone(),
        (None, Some(name)) => {
            crate::names::check("endpoint", name).map_err(BenchError::Option)?;
            let shown = ask_get(format!("/endpoints/{name}")).await;
            let served = shown
                .as_ref()
                .and_then(|v| v["scoringUri"].as_str())
                .and_then(|u| u.parse::<Uri>().ok());
            let scheme = match (&served, args.plain) {
                (_, true) => "http",
                (Some(u), false) => u.scheme_str().unwrap_or("https"),
                (None, false) => "https",
            };
            let host = args
                .host
                .clone()
                .or_else(|| served.as_ref().and_then(|u| u.host().map(str::to_string)))
                .unwrap_or_else(|| "localhost".into());
            let default_port = if scheme == "http" { 8080 } else { 8443 };
            let port = args
                .port
                .or_else(|| served.as_ref().filter(|u| u.scheme_str() == Some(scheme))?.port_u16())
                .unwrap_or(default_port);
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host
            };
            format!("{scheme}://{host}:{port}{}", body.kind.route(name))
        }
        (None, None) => return Err(BenchError::Option("give -n ENDPOINT or --url URL".into())),
    };
    let uri: Uri = url.parse().map_err(|e: axum::http::uri::InvalidUri| BenchError::Url {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    let bad = |reason: &str| BenchError::Url { url: url.clone(), reason: reason.into() };
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("the scheme must be https:// or http://")),
    };
    let host = uri.host().ok_or_else(|| bad("no host"))?.to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri.authority().map(|a| a.to_string()).ok_or_else(|| bad("no host"))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();

    let credential = match (&args.key, &args.token) {
        (Some(k), _) | (None, Some(k)) => Some(k.clone()),
        (None, None) if args.no_auth => None,
        (None, None) => match &args.name {
            Some(name) => {
                let creds = ask(format!("/endpoints/{name}/credentials")).await;
                let found = creds
                    .as_ref()
                    .and_then(|v| v["primaryKey"].as_str().or_else(|| v["accessToken"].as_str()));
                match found {
                    Some(k) => {
                        notes
                            .push(format!("credential of endpoint {name} from the control socket"));
                        Some(k.to_string())
                    }
                    None => {
                        notes.push(format!(
                            "no credential: none given (--key, $EDGESERVE_KEY, --token) and the \
                             control socket {} gave none; requests go without one",
                            socket.display()
                        ));
                        None
                    }
                }
            }
            None => None,
        },
    };

    let tls = if tls {
        let served_ca = if args.cacert.is_none() && !args.insecure {
            ask_get("/tls".into())
                .await
                .and_then(|v| v.get("trustPem").and_then(Value::as_str).map(str::to_string))
                .filter(|p| !p.is_empty())
        } else {
            None
        };
        if served_ca.is_some() {
            notes.push("trusting the chain the daemon reports on its control socket".into());
        }
        let config = conn::tls_config(
            args.cacert.as_deref(),
            served_ca.as_deref(),
            args.insecure,
            args.http2,
        )?;
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let name = rustls::pki_types::ServerName::try_from(bare)
            .map_err(|e| bad(&format!("the host is not a TLS server name: {e}")))?;
        Some((config, name))
    } else {
        None
    };

    let lookup = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addr = tokio::net::lookup_host((lookup.as_str(), port))
        .await
        .map_err(|e| BenchError::Resolve { host: lookup.clone(), reason: e.to_string() })?
        .next()
        .ok_or_else(|| BenchError::Resolve { host: lookup.clone(), reason: "no address".into() })?;

    let mut headers = HeaderMap::new();
    if !args.http2 {
        headers.insert(header::HOST, value(&authority)?);
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(body.kind.content_type()));
    if let Some(secret) = credential {
        let mut v = HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| {
            BenchError::Option("the credential holds characters a header cannot".into())
        })?;
        v.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, v);
    }
    if let Kind::OipBinary { header_length } = body.kind {
        headers.insert(HeaderName::from_static(HEADER_LENGTH), HeaderValue::from(header_length));
    }
    for (name, v) in extra {
        headers.insert(name, v);
    }
    let request_uri =
        if args.http2 { uri.clone() } else { path.parse().map_err(|_| bad("bad path"))? };

    Ok(Plan {
        url: format!("{}://{authority}{path}", if tls.is_some() { "https" } else { "http" }),
        connector: Connector { addr, tls, http2: args.http2 },
        request_uri,
        headers,
        body,
        concurrency: args.concurrency,
        connections: args.connections,
        rate: args.rate,
        duration: match (args.duration, args.requests) {
            (Some(d), _) => Some(d.into()),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(10)),
        },
        requests: args.requests,
        warmup: args.warmup.into(),
        request_timeout: args.request_timeout.into(),
        threads: args.threads,
        notes,
    })
}

fn value(text: &str) -> Result<HeaderValue, BenchError> {
    HeaderValue::from_str(text).map_err(|_| BenchError::Header(text.to_string()))
}

fn check_numbers(args: &BenchArgs) -> Result<(), BenchError> {
    let refuse = |m: &str| Err(BenchError::Option(m.into()));
    if args.concurrency == 0 {
        return refuse("--concurrency must be at least 1");
    }
    if args.threads == 0 || args.connections == 0 {
        return refuse("--threads and --connections must be at least 1");
    }
    if args.rate.is_some_and(|r| !r.is_finite() || r <= 0.0) {
        return refuse("--rate must be a positive number of requests per second");
    }
    if args.requests == Some(0) {
        return refuse("--requests must be at least 1");
    }
    if args.duration.is_some_and(|d| Duration::from(d).is_zero()) {
        return refuse("--duration must be longer than 0s");
    }
    Ok(())
}

/// Extra request headers, in the order given.
type Headers = Vec<(HeaderName, HeaderValue)>;

/// `--header NAME:VALUE` as header pairs, and `Inference-Header-Content-Length` when given.
fn extra_headers(given: &[String]) -> Result<(Headers, Option<usize>), BenchError> {
    let mut out = Vec::new();
    let mut header_length = None;
    for h in given {
        let bad = || BenchError::Header(h.clone());
        let (name, v) = h.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let v = v.trim();
        if name == HEADER_LENGTH {
            header_length = Some(v.parse().map_err(|_| bad())?);
            continue;
        }
        out.push((name, HeaderValue::from_str(v).map_err(|_| bad())?));
    }
    Ok((out, header_length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_parsed_and_bad_ones_named() {
        let (h, n) = extra_headers(&[
            "x-deployment: green".into(),
            "Inference-Header-Content-Length:12".into(),
        ])
        .unwrap();
        assert_eq!(n, Some(12));
        assert_eq!(h[0].0, "x-deployment");
        assert_eq!(h[0].1, "green");
        let err = extra_headers(&["nocolon".into()]).unwrap_err().to_string();
        assert!(err.contains("NAME:VALUE"), "{err}");
    }
}
