//! The bad-input matrix (issue 19, SPEC §8): one table of malformed requests, headers, paths,
//! control-plane inputs, model files and config files, each with the exact status (or exit code)
//! and error code it must get and a word of what the message must say; after every case the
//! daemon is still ready and still scores a good request.
//!
//! Requests are written byte by byte (HTTP/1.1 over TLS, or over the control socket) so that
//! what `reqwest` refuses to send is in the table too: duplicate headers, 64 KiB headers, bodies
//! shorter than their `Content-Length`, raw `..` and non-UTF-8 bytes in paths.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeserve_accel::fpga::xclbin::builder::XclbinBuilder;
use edgeserve_tests::{models_dir, run_to_exit, Harness};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest any one case may take before it counts as a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(15);

/// The body-receive timeout of the matrix's daemon (`limits.request_timeout_ms`), short so that
/// the lying `Content-Length` cases end quickly.
const REQUEST_TIMEOUT_MS: u64 = 1500;

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// The TLS data-plane listener.
    Tls,
    /// The control socket.
    Unix,
}

/// One HTTP/1.1 request, as bytes on the wire.
#[derive(Clone)]
struct Req {
    via: Via,
    method: String,
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Add `Content-Length: <body length>` (off when the case sets its own framing).
    auto_length: bool,
    /// Close the sending side after the request (the client is gone mid-body).
    half_close: bool,
}

impl Req {
    fn new(via: Via, method: &str, target: impl AsRef<[u8]>) -> Req {
        Req {
            via,
            method: method.into(),
            target: target.as_ref().to_vec(),
            headers: Vec::new(),
            body: Vec::new(),
            auto_length: true,
            half_close: false,
        }
    }

    fn h(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    fn body(mut self, body: impl AsRef<[u8]>) -> Req {
        self.body = body.as_ref().to_vec();
        self
    }

    fn json(self, body: impl AsRef<[u8]>) -> Req {
        self.h("content-type", "application/json").body(body)
    }

    /// Framing set by the case's own headers.
    fn own_length(mut self) -> Req {
        self.auto_length = false;
        self
    }

    fn half_close(mut self) -> Req {
        self.half_close = true;
        self
    }

    fn wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if self.auto_length {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// What came back.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads an HTTP/1.1 response to the end of the connection (skipping `100 Continue`).
fn parse_answer(mut raw: &[u8]) -> Result<Answer, String> {
    loop {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("no response head in {:?}", String::from_utf8_lossy(raw)))?;
        let head = String::from_utf8_lossy(&raw[..end]).to_string();
        let rest = &raw[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        if (100..200).contains(&status) {
            raw = rest;
            continue;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            let mut body = Vec::new();
            let mut at = rest;
            while let Some(eol) = at.windows(2).position(|w| w == b"\r\n") {
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&at[..eol]).split(';').next().unwrap().trim(),
                    16,
                )
                .map_err(|e| format!("bad chunk size: {e}"))?;
                if size == 0 {
                    break;
                }
                let start = eol + 2;
                body.extend_from_slice(&at[start..(start + size).min(at.len())]);
                at = &at[(start + size + 2).min(at.len())..];
            }
            body
        } else {
            let len = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(rest.len());
            rest[..len.min(rest.len())].to_vec()
        };
        return Ok(Answer { status, headers, body });
    }
}

/// Writes the request and reads until the server closes; a reset after the answer counts as
/// the end.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    req: &Req,
) -> Result<Answer, String> {
    let wire = req.wire();
    // The server may answer early and stop reading: a failed write is not the case's verdict.
    let _ = s.write_all(&wire).await;
    let _ = s.flush().await;
    if req.half_close {
        let _ = s.shutdown().await;
    }
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    parse_answer(&raw)
}

/// A TLS client config that trusts the harness CA and speaks HTTP/1.1.
fn tls_connector(h: &Harness) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(h.pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn send(h: &Harness, tls: &tokio_rustls::TlsConnector, req: &Req) -> Result<Answer, String> {
    match req.via {
        Via::Tls => {
            let tcp =
                tokio::net::TcpStream::connect(h.daemon().tls).await.map_err(|e| e.to_string())?;
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let stream = tls.connect(name, tcp).await.map_err(|e| e.to_string())?;
            exchange(stream, req).await
        }
        Via::Unix => {
            let stream =
                tokio::net::UnixStream::connect(h.socket()).await.map_err(|e| e.to_string())?;
            exchange(stream, req).await
        }
    }
}

/// One row of the request table.
struct Case {
    name: &'static str,
    req: Req,
    status: u16,
    /// The error code in the JSON body.
    code: &'static str,
    /// A word the message must contain (what is wrong, or how to fix it).
    says: &'static str,
}

fn case(name: &'static str, req: Req, status: u16, code: &'static str, says: &'static str) -> Case {
    Case { name, req, status, code, says }
}

/// The "code" of rows the HTTP/1.1 parser answers before any handler sees the request: a bare
/// status (no body, so no JSON), then the connection closes.
const PARSER: &str = "(parser)";

/// Checks the answer against the row; returns what is wrong with it.
fn verdict(c: &Case, a: &Answer) -> Result<(), String> {
    if a.status == c.status && c.code == PARSER {
        return Ok(());
    }
    if a.status != c.status {
        return Err(format!(
            "status {} (want {}): {}",
            a.status,
            c.status,
            String::from_utf8_lossy(&a.body)
        ));
    }
    if a.header("content-type") != Some("application/json") {
        return Err(format!(
            "content-type {:?}, errors are JSON: {}",
            a.header("content-type"),
            String::from_utf8_lossy(&a.body)
        ));
    }
    let body: Value = serde_json::from_slice(&a.body)
        .map_err(|e| format!("body is not JSON ({e}): {}", String::from_utf8_lossy(&a.body)))?;
    let target = String::from_utf8_lossy(&c.req.target);
    let (code, message) = if c.req.via == Via::Tls && target.starts_with("/v2/") {
        (body["code"].as_str(), body["error"].as_str())
    } else {
        (body["error"]["code"].as_str(), body["error"]["message"].as_str())
    };
    if code != Some(c.code) {
        return Err(format!("code {code:?} (want {}): {body}", c.code));
    }
    let message = message.ok_or_else(|| format!("no message: {body}"))?;
    if !message.contains(c.says) {
        return Err(format!("message does not say {:?}: {message}", c.says));
    }
    if c.status == 401 && c.req.via == Via::Tls && a.header("www-authenticate") != Some("Bearer") {
        return Err("401 without WWW-Authenticate: Bearer".into());
    }
    if message.contains("esk_") {
        return Err(format!("a key in the message: {message}"));
    }
    Ok(())
}

/// The daemon still answers readiness and still scores a good request.
async fn healthy(h: &Harness, client: &reqwest::Client, key: &str) -> Result<(), String> {
    let ready = client.get(h.url("/v2/health/ready")).send().await.map_err(|e| e.to_string())?;
    if ready.status() != 200 {
        return Err(format!("/v2/health/ready answered {}", ready.status()));
    }
    let resp = client
        .post(h.score_url("mlp"))
        .bearer_auth(key)
        .json(&json!({"data": [[0.1, 0.2, 0.3, 0.4]]}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status != 200 || body["result"].as_array().map(Vec::len) != Some(1) {
        return Err(format!("a good request got {status}: {body}"));
    }
    Ok(())
}

const SEED: &str = "/api/v1/service/mlp/score";
const INFER: &str = "/v2/models/mlp/infer";

/// `n` levels of `[` around one number, closed again.
fn nested(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

/// An OIP request for the mlp with one input tensor.
fn oip_input(input: Value) -> String {
    json!({"inputs": [input]}).to_string()
}

/// A binary-extension body: the JSON header, then `binary`; `header_length` is what the
/// `Inference-Header-Content-Length` header says (the JSON's length when `None`).
fn binary_body(header: &Value, binary: &[u8]) -> (Vec<u8>, usize) {
    let mut body = header.to_string().into_bytes();
    let length = body.len();
    body.extend_from_slice(binary);
    (body, length)
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn data_plane_cases(key: &str, two_key: &str) -> Vec<Case> {
    let bearer = format!("Bearer {key}");
    let seed = |body: &str| {
        Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).json(body.as_bytes())
    };
    let two = |body: &str| {
        Req::new(Via::Tls, "POST", "/api/v1/service/two/score")
            .h("authorization", format!("Bearer {two_key}"))
            .json(body.as_bytes())
    };
    let infer = |body: &str| {
        Req::new(Via::Tls, "POST", INFER).h("authorization", &bearer).json(body.as_bytes())
    };
    let infer_binary = |header: Value, binary: &[u8], length: &str| {
        let (body, _) = binary_body(&header, binary);
        Req::new(Via::Tls, "POST", INFER)
            .h("authorization", &bearer)
            .h("content-type", "application/octet-stream")
            .h("inference-header-content-length", length)
            .body(body)
    };
    let x = |shape: Value, data: Value| {
        oip_input(json!({"name": "x", "shape": shape, "datatype": "FP32", "data": data}))
    };
    let good_header = json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
        "parameters": {"binary_data_size": 16}}]});
    let good_header_len = good_header.to_string().len().to_string();
    let four = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    let big_row = format!("{{\"data\": [[{}]]}}", vec!["0.5"; 300_000].join(","));
    let get = |path: &str| Req::new(Via::Tls, "GET", path).h("authorization", &bearer);

    vec![
        // --- seed-style bodies: JSON syntax ---
        case("seed: empty body", seed(""), 400, "InvalidInput", "not valid JSON"),
        case("seed: unterminated object", seed("{\"data\": [[1,2,3,4]]"), 400, "InvalidInput", "not valid JSON"),
        case("seed: trailing comma", seed("{\"data\": [[1,2,3,4]],}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: single quotes", seed("{'data': [[1,2,3,4]]}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: two documents", seed("{\"data\": [[1,2,3,4]]} {}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: byte order mark", seed("\u{feff}{\"data\": [[1,2,3,4]]}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: not UTF-8", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).json(b"{\"data\": [[\xff\xfe]]}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: NaN literal", seed("{\"data\": [[NaN, 0, 0, 0]]}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: Infinity literal", seed("{\"data\": [[Infinity, 0, 0, 0]]}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: number beyond f64", seed("{\"data\": [[1e400, 0, 0, 0]]}"), 400, "InvalidInput", "not valid JSON"),
        case("seed: 100k nested arrays", seed(&nested(100_000)), 400, "InvalidInput", "not valid JSON"),
        // --- seed-style bodies: wrong types and shapes ---
        case("seed: array body", seed("[[1,2,3,4]]"), 400, "InvalidInput", "JSON object"),
        case("seed: null body", seed("null"), 400, "InvalidInput", "JSON object"),
        case("seed: string body", seed("\"data\""), 400, "InvalidInput", "JSON object"),
        case("seed: no data or inputs", seed("{}"), 400, "InvalidInput", "\"data\" or \"inputs\""),
        case("seed: data and inputs", seed("{\"data\": [[1,2,3,4]], \"inputs\": {}}"), 400, "InvalidInput", "not both"),
        case("seed: data is a string", seed("{\"data\": \"1,2,3,4\"}"), 400, "InvalidInput", "x"),
        case("seed: data is a number", seed("{\"data\": 5}"), 400, "InvalidInput", "x"),
        case("seed: strings in data", seed("{\"data\": [[\"a\",\"b\",\"c\",\"d\"]]}"), 400, "InvalidInput", "x"),
        case("seed: null in data", seed("{\"data\": [[1,2,3,null]]}"), 400, "InvalidInput", "x"),
        case("seed: bool in data", seed("{\"data\": [[1,2,3,true]]}"), 400, "InvalidInput", "x"),
        case("seed: object in data", seed("{\"data\": [[1,2,3,{}]]}"), 400, "InvalidInput", "x"),
        case("seed: row too short", seed("{\"data\": [[1,2,3]]}"), 400, "InvalidInput", "shape"),
        case("seed: row too long", seed("{\"data\": [[1,2,3,4,5]]}"), 400, "InvalidInput", "shape"),
        case("seed: ragged rows", seed("{\"data\": [[1,2,3,4],[1,2]]}"), 400, "InvalidInput", "x"),
        case("seed: empty row", seed("{\"data\": [[]]}"), 400, "InvalidInput", "shape"),
        case("seed: too deep for the shape", seed(&format!("{{\"data\": {}}}", nested(100))), 400, "InvalidInput", "x"),
        case("seed: f32 overflow", seed("{\"data\": [[1e39, 0, 0, 0]]}"), 400, "InvalidInput", "f32"),
        case("seed: unknown input", seed("{\"inputs\": {\"y\": [[1,2,3,4]]}}"), 400, "InvalidInput", "unknown input y"),
        case("seed: inputs is a list", seed("{\"inputs\": [[1,2,3,4]]}"), 400, "InvalidInput", "\"inputs\" must be an object"),
        case("seed: input missing", seed("{\"inputs\": {}}"), 400, "InvalidInput", "input x is missing"),
        case("seed: data on a two-input model", two("{\"data\": [[1,2,3]]}"), 400, "InvalidInput", "2 inputs"),
        case("seed: float in an int64 input", two("{\"inputs\": {\"a\": [[1,2,3]], \"b\": [[1.5,2,3]]}}"), 400, "InvalidInput", "b"),
        case("seed: int64 overflow", two("{\"inputs\": {\"a\": [[1,2,3]], \"b\": [[9223372036854775808,2,3]]}}"), 400, "InvalidInput", "b"),
        case("seed: batch sizes differ between inputs", two("{\"inputs\": {\"a\": [[1,2,3]], \"b\": [[1,2,3],[4,5,6]]}}"), 400, "InvalidInput", "batch"),
        case("seed: binary extension on the seed route", seed("{\"data\": [[1,2,3,4]]}").h("inference-header-content-length", "LEN"), 400, "InvalidInput", "/v2/models"),
        case("seed: body over max_body_bytes", seed(&big_row), 413, "PayloadTooLarge", "limits.max_body_bytes"),
        case("seed: declared length over max_body_bytes", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "application/json").h("content-length", "5000000000").own_length(), 413, "PayloadTooLarge", "limits.max_body_bytes"),
        case("seed: text/plain", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "text/plain").body("{\"data\": [[1,2,3,4]]}"), 415, "UnsupportedMediaType", "application/json"),
        case("seed: form content type", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "application/x-www-form-urlencoded").body("data=1"), 415, "UnsupportedMediaType", "application/json"),
        // --- headers ---
        case("auth: none", Req::new(Via::Tls, "POST", SEED).json("{\"data\": [[1,2,3,4]]}"), 401, "Unauthorized", "Authorization: Bearer"),
        case("auth: Bearer without a token", Req::new(Via::Tls, "POST", SEED).h("authorization", "Bearer").json("{}"), 401, "Unauthorized", "Authorization"),
        case("auth: Basic scheme", Req::new(Via::Tls, "POST", SEED).h("authorization", "Basic dXNlcjpwYXNz").json("{}"), 401, "Unauthorized", "Bearer"),
        case("auth: wrong key", Req::new(Via::Tls, "POST", SEED).h("authorization", "Bearer esk_wrong").json("{}"), 401, "Unauthorized", "not valid for endpoint mlp"),
        case("auth: non-UTF-8 bytes", Req::new(Via::Tls, "POST", SEED).h("authorization", b"Bearer \xff\xfe").json("{}"), 401, "Unauthorized", "Authorization"),
        case("auth: 64 KiB token", Req::new(Via::Tls, "POST", SEED).h("authorization", format!("Bearer {}", "a".repeat(64 * 1024))).json("{}"), 431, "HeadersTooLarge", "over the limit"),
        case("auth: two Authorization headers, good first", seed("{\"data\": [[1,2,3,4]]}").h("authorization", "Bearer esk_other"), 400, "InvalidInput", "Authorization appears 2 times"),
        case("auth: two Authorization headers, bad first", Req::new(Via::Tls, "POST", SEED).h("authorization", "Bearer esk_other").h("authorization", &bearer).json("{\"data\": [[1,2,3,4]]}"), 400, "InvalidInput", "Authorization appears 2 times"),
        case("header: two content types", seed("{\"data\": [[1,2,3,4]]}").h("content-type", "text/plain"), 400, "InvalidInput", "Content-Type"),
        case("header: two x-deployment", seed("{\"data\": [[1,2,3,4]]}").h("x-deployment", "blue").h("x-deployment", "green"), 400, "InvalidInput", "x-deployment"),
        case("header: unknown x-deployment", seed("{\"data\": [[1,2,3,4]]}").h("x-deployment", "green"), 404, "NotFound", "deployment green not found"),
        case("header: x-deployment not text", seed("{\"data\": [[1,2,3,4]]}").h("x-deployment", b"\xffblue"), 400, "InvalidInput", "x-deployment"),
        case("header: 64 KiB x-deployment", seed("{\"data\": [[1,2,3,4]]}").h("x-deployment", "b".repeat(64 * 1024)), 431, "HeadersTooLarge", "over the limit"),
        case("header: 64 KiB unknown header", Req::new(Via::Tls, "POST", SEED).h("x-junk", "j".repeat(64 * 1024)).json("{}"), 431, "HeadersTooLarge", "send shorter headers"),
        case("header: 200 headers", (0..200).fold(Req::new(Via::Tls, "POST", SEED), |r, i| r.h(&format!("x-h{i}"), "v")).json("{}"), 431, PARSER, ""),
        case("header: content-length not a number", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "application/json").h("content-length", "ten").own_length().body("{}"), 400, PARSER, ""),
        case("header: two different content-lengths", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "application/json").h("content-length", "2").h("content-length", "3").own_length().body("{}"), 400, PARSER, ""),
        case("body: shorter than Content-Length, client waits", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "application/json").h("content-length", "100").own_length().body("{\"data\": [[1,2"), 408, "RequestTimeout", "limits.request_timeout_ms"),
        case("body: shorter than Content-Length, client closes", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "application/json").h("content-length", "100").own_length().body("{\"data\": [[1,2").half_close(), 400, "InvalidInput", "request body"),
        case("body: broken chunked encoding", Req::new(Via::Tls, "POST", SEED).h("authorization", &bearer).h("content-type", "application/json").h("transfer-encoding", "chunked").own_length().body("zz\r\n{}\r\n0\r\n\r\n"), 400, "InvalidInput", "request body"),
        // --- paths ---
        case("path: raw ../ segments", Req::new(Via::Tls, "POST", "/api/v1/service/../../../etc/passwd/score").h("authorization", &bearer).json("{}"), 404, "NotFound", "no such route"),
        case("path: encoded ../ in the endpoint name", Req::new(Via::Tls, "POST", "/api/v1/service/..%2F..%2Fetc%2Fpasswd/score").h("authorization", &bearer).json("{}"), 404, "EndpointNotFound", "not found"),
        case("path: endpoint named ..", Req::new(Via::Tls, "POST", "/api/v1/service/%2e%2e/score").h("authorization", &bearer).json("{}"), 404, "EndpointNotFound", "not found"),
        case("path: unicode endpoint name", Req::new(Via::Tls, "POST", "/api/v1/service/d%C3%A9fauts/score").h("authorization", &bearer).json("{}"), 404, "EndpointNotFound", "défauts"),
        case("path: NUL in the endpoint name", Req::new(Via::Tls, "POST", "/api/v1/service/mlp%00/score").h("authorization", &bearer).json("{}"), 404, "EndpointNotFound", "not found"),
        case("path: not UTF-8 once decoded", Req::new(Via::Tls, "POST", "/api/v1/service/%FF%FE/score").h("authorization", &bearer).json("{}"), 400, "InvalidInput", "UTF-8"),
        case("path: not UTF-8 on /v2", Req::new(Via::Tls, "POST", "/v2/models/%FF/infer").h("authorization", &bearer).json("{}"), 400, "InvalidInput", "UTF-8"),
        case("path: 8 KiB endpoint name", Req::new(Via::Tls, "POST", format!("/api/v1/service/{}/score", "n".repeat(8192))).h("authorization", &bearer).json("{}"), 404, "EndpointNotFound", "not found"),
        case("path: raw non-ASCII bytes", Req::new(Via::Tls, "POST", b"/api/v1/service/\xc3\xa9/score").h("authorization", &bearer).json("{}"), 404, "EndpointNotFound", "endpoint \u{e9} not found"),
        case("path: GET on the scoring route", get(SEED), 405, "MethodNotAllowed", "method"),
        case("path: GET on infer", get(INFER), 405, "MethodNotAllowed", "method"),
        case("path: unknown route", get("/v2/nothing"), 404, "NotFound", "no such route"),
        case("path: metadata of an unknown model", get("/v2/models/nope"), 404, "EndpointNotFound", "nope"),
        case("path: metadata without a key", Req::new(Via::Tls, "GET", "/v2/models/mlp"), 401, "Unauthorized", "Authorization"),
        case("token: on a key endpoint", Req::new(Via::Tls, "POST", "/api/v1/service/mlp/token").h("authorization", &bearer).json("{}"), 401, "Unauthorized", "oidc"),
        // --- Open Inference Protocol bodies ---
        case("oip: empty object", infer("{}"), 400, "InvalidInput", "inputs"),
        case("oip: inputs is a string", infer("{\"inputs\": \"x\"}"), 400, "InvalidInput", "inputs"),
        case("oip: no inputs", infer("{\"inputs\": []}"), 400, "InvalidInput", "x"),
        case("oip: unknown datatype", infer(&oip_input(json!({"name": "x", "shape": [1, 4], "datatype": "FP99", "data": [1, 2, 3, 4]}))), 400, "InvalidInput", "FP99"),
        case("oip: wrong datatype", infer(&oip_input(json!({"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4]}))), 400, "InvalidInput", "expected datatype FP32"),
        case("oip: datatype is a number", infer(&oip_input(json!({"name": "x", "shape": [1, 4], "datatype": 32, "data": [1, 2, 3, 4]}))), 400, "InvalidInput", "datatype"),
        case("oip: negative dim", infer(&x(json!([-1, 4]), json!([1, 2, 3, 4]))), 400, "InvalidInput", "shape"),
        case("oip: fractional dim", infer(&x(json!([1.5, 4]), json!([1, 2, 3, 4]))), 400, "InvalidInput", "shape"),
        case("oip: shape is a string", infer(&x(json!("1,4"), json!([1, 2, 3, 4]))), 400, "InvalidInput", "shape"),
        case("oip: huge dims overflow", infer(&x(json!([4294967296u64, 4294967296u64, 4]), json!([1, 2, 3, 4]))), 400, "InvalidInput", "shape"),
        case("oip: dim of usize::MAX", infer(&x(json!([u64::MAX, 4]), json!([1, 2, 3, 4]))), 400, "InvalidInput", "shape"),
        case("oip: 2^40 elements declared", infer(&x(json!([262144, 4194304]), json!([1, 2, 3, 4]))), 400, "InvalidInput", "shape"),
        case("oip: data shorter than shape", infer(&x(json!([1, 4]), json!([1, 2, 3]))), 400, "InvalidInput", "needs 4 elements"),
        case("oip: data longer than shape", infer(&x(json!([1, 4]), json!([1, 2, 3, 4, 5]))), 400, "InvalidInput", "needs 4 elements"),
        case("oip: wrong rank", infer(&x(json!([1, 4, 1]), json!([1, 2, 3, 4]))), 400, "InvalidInput", "x"),
        case("oip: wrong feature size", infer(&x(json!([2, 2]), json!([1, 2, 3, 4]))), 400, "InvalidInput", "x"),
        case("oip: strings in FP32 data", infer(&x(json!([1, 4]), json!(["a", "b", "c", "d"]))), 400, "InvalidInput", "x"),
        case("oip: null in data", infer(&x(json!([1, 4]), json!([1, null, 3, 4]))), 400, "InvalidInput", "x"),
        case("oip: data is an object", infer(&x(json!([1, 4]), json!({"a": 1}))), 400, "InvalidInput", "x"),
        case("oip: deeply nested data", infer(&format!("{{\"inputs\": [{{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": {}}}]}}", nested(120))), 400, "InvalidInput", "x"),
        case("oip: f32 overflow", infer(&x(json!([1, 4]), json!([1e39, 0, 0, 0]))), 400, "InvalidInput", "f32"),
        case("oip: unknown input name", infer(&oip_input(json!({"name": "y", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}))), 400, "InvalidInput", "y"),
        case("oip: input given twice", infer(&json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).to_string()), 400, "InvalidInput", "x"),
        case("oip: unknown requested output", infer(&json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "nope"}]}).to_string()), 400, "InvalidInput", "nope"),
        case("oip: id is a number", infer(&json!({"id": 7, "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).to_string()), 400, "InvalidInput", "id"),
        case("oip: no data", infer(&oip_input(json!({"name": "x", "shape": [1, 4], "datatype": "FP32"}))), 400, "InvalidInput", "has no data"),
        case("oip: binary size without a binary body", infer(&oip_input(json!({"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}))), 400, "InvalidInput", "Inference-Header-Content-Length"),

        // --- binary tensor extension ---
        case("binary: header length not a number", infer_binary(good_header.clone(), &four, "abc"), 400, "InvalidInput", "Inference-Header-Content-Length"),
        case("binary: header length negative", infer_binary(good_header.clone(), &four, "-1"), 400, "InvalidInput", "Inference-Header-Content-Length"),
        case("binary: header length beyond the body", infer_binary(good_header.clone(), &four, "100000"), 400, "InvalidInput", "Inference-Header-Content-Length"),
        case("binary: header length zero", infer_binary(good_header.clone(), &four, "0"), 400, "InvalidInput", "not valid JSON"),
        case("binary: header length cuts the JSON", infer_binary(good_header.clone(), &four, "20"), 400, "InvalidInput", "not valid JSON"),
        case("binary: header length into the tensor bytes", infer_binary(good_header.clone(), &four, &(good_header.to_string().len() + 3).to_string()), 400, "InvalidInput", "not valid JSON"),
        case("binary: truncated tensor section", infer_binary(good_header.clone(), &four[..8], &good_header_len), 400, "InvalidInput", "8 bytes left, 16 declared"),
        case("binary: size not a multiple of FP32", infer_binary(json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 15}}]}), &four, "LEN"), 400, "InvalidInput", "x"),
        case("binary: huge binary_data_size", infer_binary(json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 1_000_000_000_000u64}}]}), &four, "LEN"), 400, "InvalidInput", "x"),
        case("binary: bytes left over", infer_binary(good_header.clone(), &[four.clone(), four.clone()].concat(), &good_header_len), 400, "InvalidInput", "16 bytes"),
        case("binary: data and binary_data_size", infer_binary(json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4], "parameters": {"binary_data_size": 16}}]}), &four, "LEN"), 400, "InvalidInput", "both"),
        case("binary: octet-stream without the header length", Req::new(Via::Tls, "POST", INFER).h("authorization", &bearer).h("content-type", "application/octet-stream").body(&four), 415, "UnsupportedMediaType", "application/json"),
    ]
}

fn control_cases(models: &Path, scratch: &Path) -> Vec<Case> {
    let ctl = |method: &str, path: &str, body: &str| {
        Req::new(Via::Unix, method, path).json(body.as_bytes())
    };
    let endpoint_rule = "letters, digits";
    let mlp = models.join("mlp").display().to_string();
    let outside = scratch.display().to_string();
    vec![
        case(
            "ctl: endpoint name with a space",
            ctl("PUT", "/endpoints/bad%20name", "{}"),
            400,
            "InvalidInput",
            endpoint_rule,
        ),
        case(
            "ctl: endpoint name ../etc",
            ctl("PUT", "/endpoints/..%2Fetc", "{}"),
            400,
            "InvalidInput",
            endpoint_rule,
        ),
        case(
            "ctl: endpoint name ..",
            ctl("PUT", "/endpoints/..", "{}"),
            400,
            "InvalidInput",
            endpoint_rule,
        ),
        case(
            "ctl: unicode endpoint name",
            ctl("PUT", "/endpoints/d%C3%A9fauts", "{}"),
            400,
            "InvalidInput",
            endpoint_rule,
        ),
        case(
            "ctl: endpoint name of 64 characters",
            ctl("PUT", &format!("/endpoints/{}", "e".repeat(64)), "{}"),
            400,
            "InvalidInput",
            endpoint_rule,
        ),
        case(
            "ctl: endpoint name not UTF-8",
            ctl("PUT", "/endpoints/%FF", "{}"),
            400,
            "InvalidInput",
            "UTF-8",
        ),
        case(
            "ctl: endpoint body not JSON",
            ctl("PUT", "/endpoints/ok1", "name = \"ok1\""),
            400,
            "InvalidInput",
            "not valid JSON",
        ),
        case(
            "ctl: endpoint body truncated",
            ctl("PUT", "/endpoints/ok1", "{\"auth_mode\": "),
            400,
            "InvalidInput",
            "not valid JSON",
        ),
        case(
            "ctl: auth_mode is a number",
            ctl("PUT", "/endpoints/ok1", "{\"auth_mode\": 5}"),
            400,
            "InvalidInput",
            "auth_mode",
        ),
        case(
            "ctl: unknown auth_mode",
            ctl("PUT", "/endpoints/ok1", "{\"auth_mode\": \"magic\"}"),
            400,
            "InvalidInput",
            "auth_mode",
        ),
        case(
            "ctl: unknown endpoint field",
            ctl("PUT", "/endpoints/ok1", "{\"colour\": \"blue\"}"),
            400,
            "InvalidInput",
            "colour",
        ),
        case(
            "ctl: endpoint body is an array",
            ctl("PUT", "/endpoints/ok1", "[]"),
            400,
            "InvalidInput",
            "JSON object",
        ),
        case(
            "ctl: traffic over 100",
            ctl("PATCH", "/endpoints/mlp", "{\"traffic\": {\"blue\": 150}}"),
            400,
            "InvalidInput",
            "traffic",
        ),
        case(
            "ctl: negative traffic",
            ctl("PATCH", "/endpoints/mlp", "{\"traffic\": {\"blue\": -1}}"),
            400,
            "InvalidInput",
            "traffic",
        ),
        case(
            "ctl: traffic to an unknown deployment",
            ctl("PATCH", "/endpoints/mlp", "{\"traffic\": {\"green\": 100}}"),
            400,
            "InvalidInput",
            "green",
        ),
        case(
            "ctl: patch of an unknown endpoint",
            ctl("PATCH", "/endpoints/nope", "{\"traffic\": {}}"),
            404,
            "EndpointNotFound",
            "nope",
        ),
        case(
            "ctl: deployment of an unknown model",
            ctl("PUT", "/endpoints/mlp/deployments/green", "{\"model\": \"nope:1\"}"),
            400,
            "InvalidInput",
            "model nope:1 is not registered",
        ),
        case(
            "ctl: deployment model without version",
            ctl("PUT", "/endpoints/mlp/deployments/green", "{\"model\": \"mlp\"}"),
            400,
            "InvalidInput",
            "NAME:VERSION",
        ),
        case(
            "ctl: instance_count is a string",
            ctl(
                "PUT",
                "/endpoints/mlp/deployments/green",
                "{\"model\": \"mlp:1\", \"instance_count\": \"two\"}",
            ),
            400,
            "InvalidInput",
            "instance_count",
        ),
        case(
            "ctl: max_batch_size 0",
            ctl(
                "PUT",
                "/endpoints/mlp/deployments/green",
                "{\"model\": \"mlp:1\", \"max_batch_size\": 0}",
            ),
            400,
            "InvalidInput",
            "max_batch_size",
        ),
        case(
            "ctl: unknown target",
            ctl(
                "PUT",
                "/endpoints/mlp/deployments/green",
                "{\"model\": \"mlp:1\", \"target\": \"tpu\"}",
            ),
            400,
            "InvalidInput",
            "target",
        ),
        case(
            "ctl: deployment name with a slash",
            ctl("PUT", "/endpoints/mlp/deployments/a%2Fb", "{\"model\": \"mlp:1\"}"),
            400,
            "InvalidInput",
            "letters, digits",
        ),
        case(
            "ctl: register with a bad model name",
            ctl(
                "POST",
                "/models",
                &json!({"name": "../x", "version": "1", "path": mlp}).to_string(),
            ),
            400,
            "InvalidInput",
            "letters, digits",
        ),
        case(
            "ctl: register with a relative path",
            ctl(
                "POST",
                "/models",
                &json!({"name": "rel", "version": "1", "path": "../../etc"}).to_string(),
            ),
            400,
            "InvalidInput",
            "absolute",
        ),
        case(
            "ctl: register a missing path",
            ctl(
                "POST",
                "/models",
                &json!({"name": "gone", "version": "1", "path": format!("{outside}/nowhere")})
                    .to_string(),
            ),
            400,
            "InvalidInput",
            "nowhere",
        ),
        case(
            "ctl: register without version",
            ctl("POST", "/models", &json!({"name": "v", "path": mlp}).to_string()),
            400,
            "InvalidInput",
            "version",
        ),
        case(
            "ctl: register body declared 100 MiB",
            Req::new(Via::Unix, "POST", "/models")
                .h("content-type", "application/json")
                .h("content-length", "104857600")
                .own_length(),
            413,
            "PayloadTooLarge",
            "bytes",
        ),
        case(
            "ctl: role assignment body not JSON",
            ctl("POST", "/roleAssignments", "{assignee}"),
            400,
            "InvalidInput",
            "not valid JSON",
        ),
        case(
            "ctl: role assignment of an unknown role",
            ctl(
                "POST",
                "/roleAssignments",
                "{\"assignee\": \"unix-user:nobody\", \"role\": \"Nope\", \"scope\": \"/\"}",
            ),
            400,
            "InvalidInput",
            "Nope",
        ),
        case(
            "ctl: role definition with a wrong type",
            ctl("PUT", "/roleDefinitions", "{\"name\": \"r\", \"actions\": \"all\"}"),
            400,
            "InvalidInput",
            "actions",
        ),
        case(
            "ctl: delete an unknown role assignment",
            ctl("DELETE", "/roleAssignments/no-such-id", ""),
            404,
            "NotFound",
            "no-such-id",
        ),
        case(
            "ctl: tls set with garbage PEM",
            ctl(
                "PUT",
                "/tls",
                "{\"cert_pem\": \"garbage\", \"key_pem\": \"garbage\", \"cname\": \"localhost\"}",
            ),
            400,
            "InvalidInput",
            "cert",
        ),
        case(
            "ctl: invoke with a bad body",
            ctl("POST", "/endpoints/mlp/invoke", "{\"data\": \"x\"}"),
            400,
            "InvalidInput",
            "x",
        ),
        case(
            "ctl: unknown control route",
            ctl("GET", "/nothing", ""),
            404,
            "NotFound",
            "no such control route",
        ),
        case(
            "ctl: config plan without base_dir",
            ctl("POST", "/config/plan", "{\"toml\": \"[limits]\\nmax_body_bytes = 1\"}"),
            400,
            "InvalidInput",
            "base_dir",
        ),
        case(
            "ctl: config plan of bad TOML",
            ctl(
                "POST",
                "/config/plan",
                &json!({"toml": "[daemon]\nstate_dir = \n", "base_dir": outside}).to_string(),
            ),
            400,
            "InvalidInput",
            "line 2",
        ),
        case(
            "ctl: config plan with a wrong type",
            ctl(
                "POST",
                "/config/plan",
                &json!({"toml": "[limits]\nmax_body_bytes = \"lots\"\n", "base_dir": outside})
                    .to_string(),
            ),
            400,
            "InvalidInput",
            "max_body_bytes",
        ),
        case(
            "ctl: body is an array",
            ctl("POST", "/drain", "[true]"),
            400,
            "InvalidInput",
            "JSON object",
        ),
        case(
            "ctl: duplicate content types",
            ctl("PUT", "/endpoints/ok2", "{}").h("content-type", "text/plain"),
            400,
            "InvalidInput",
            "Content-Type appears 2 times",
        ),
        case(
            "ctl: 64 KiB header",
            ctl("GET", "/status", "").h("x-junk", "j".repeat(64 * 1024)),
            431,
            "HeadersTooLarge",
            "over the limit",
        ),
        case("ctl: wrong method", ctl("POST", "/status", "{}"), 405, "MethodNotAllowed", "method"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_gets_its_exact_error_and_the_daemon_keeps_serving() {
    let mut h = Harness::new();
    h.edit_config(|t| {
        t.replacen(
            "[limits]\n",
            &format!(
                "[limits]\nrequest_timeout_ms = {REQUEST_TIMEOUT_MS}\nauth_failures_per_minute = 100000\n"
            ),
            1,
        )
    });
    h.start();
    let (key, _) = h.keys("mlp");
    let (two_key, _) = h.keys("two");
    let scratch = h.dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("broken.toml"), "[daemon]\nstate_dir = \n").unwrap();
    let client = h.client();
    let tls = tls_connector(&h);
    let mut cases = data_plane_cases(&key, &two_key);
    cases.extend(control_cases(&models_dir(), &scratch));
    // Binary-extension rows whose header length is the JSON's own.
    for c in &mut cases {
        for (name, value) in &mut c.req.headers {
            if name == "inference-header-content-length" && value == b"LEN" {
                let end = c.req.body.iter().rposition(|&b| b == b'}').unwrap() + 1;
                *value = end.to_string().into_bytes();
            }
        }
    }
    let mut failures = Vec::new();
    let count = cases.len();
    for c in &cases {
        let started = Instant::now();
        let answer = tokio::time::timeout(CASE_TIMEOUT, send(&h, &tls, &c.req)).await;
        let result = match answer {
            Err(_) => Err(format!("no answer within {CASE_TIMEOUT:?} (a hang)")),
            Ok(Err(e)) => Err(format!("no HTTP answer: {e}")),
            Ok(Ok(a)) => verdict(c, &a),
        };
        if let Err(e) = result {
            failures.push(format!("{}: {e}", c.name));
        }
        if let Err(e) = healthy(&h, &client, &key).await {
            panic!("after {:?} the daemon is unwell: {e}\n{}", c.name, h.logs());
        }
        assert!(started.elapsed() < CASE_TIMEOUT * 2, "{} took {:?}", c.name, started.elapsed());
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 80, "{count} request cases");
    let logs = h.logs();
    let panics: Vec<&str> = logs.lines().filter(|l| l.contains("panicked")).collect();
    assert!(panics.is_empty(), "a handler panicked:\n{}", panics.join("\n"));

    // Model files through `edgeserve model register`: refused, named, nothing half-registered.
    let model_failures = tokio::task::block_in_place(|| model_file_cases(&h, &scratch));
    healthy(&h, &client, &key).await.unwrap();
    assert!(model_failures.is_empty(), "model file cases failed:\n{}", model_failures.join("\n"));
    h.stop();
}

/// Writes `files` into `scratch/name` and returns the folder.
fn model_dir(scratch: &Path, name: &str, files: &[(&str, &[u8])]) -> String {
    let dir = scratch.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    dir.display().to_string()
}

fn model_file_cases(h: &Harness, scratch: &Path) -> Vec<String> {
    let onnx = std::fs::read(models_dir().join("mlp/model.onnx")).unwrap();
    let ext_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/H005/extdata_model");
    let ext = std::fs::read(ext_dir.join("model.onnx")).unwrap();
    let ext_data = std::fs::read(ext_dir.join("model.onnx.data")).unwrap();
    let at = ext.windows(15).position(|w| w == b"model.onnx.data").unwrap();
    let mut escaping = ext.clone();
    escaping[at..at + 15].copy_from_slice(b"../outside.data");
    // The file it points at exists: the refusal is about where it is, not that it is missing.
    std::fs::write(scratch.join("outside.data"), &ext_data).unwrap();
    let mut absolute = ext.clone();
    absolute[at..at + 15].copy_from_slice(b"/etc/passwd\0\0\0\0");
    let manifest = "kernel = \"mlp_infer\"\n[[input]]\nname = \"x\"\ndtype = \"f32\"\n\
        shape = [-1, 4]\narg = 0\n[[output]]\nname = \"y\"\ndtype = \"f32\"\nshape = [-1, 3]\n\
        arg = 1\n[batch]\narg = 2\n";
    let good_xclbin = XclbinBuilder::new("xilinx_u250_gen3x16_xdma_4_1_202210_1")
        .model_kernel("mlp_infer")
        .build();
    let mut bad_magic = good_xclbin.clone();
    bad_magic[..8].copy_from_slice(b"xclbin1\0");

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated ONNX",
            model_dir(scratch, "trunc", &[("model.onnx", &onnx[..onnx.len() / 2])]),
            "model.onnx",
        ),
        (
            "ONNX cut after one byte",
            model_dir(scratch, "onebyte", &[("model.onnx", &onnx[..1])]),
            "model.onnx",
        ),
        ("empty ONNX file", model_dir(scratch, "empty", &[("model.onnx", b"")]), "model.onnx"),
        (
            "text, not ONNX",
            model_dir(scratch, "text", &[("model.onnx", b"this is not a model\n")]),
            "model.onnx",
        ),
        (
            "PNG bytes, not ONNX",
            model_dir(scratch, "png", &[("model.onnx", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")]),
            "model.onnx",
        ),
        (
            "external data ../ outside the folder",
            model_dir(scratch, "escape", &[("model.onnx", &escaping)]),
            "../outside.data",
        ),
        (
            "external data at an absolute path",
            model_dir(scratch, "absolute", &[("model.onnx", &absolute)]),
            "/etc/passwd",
        ),
        ("folder with no model", model_dir(scratch, "nothing", &[("README", b"hi")]), "model.onnx"),
        (
            "xclbin with a wrong magic",
            model_dir(
                scratch,
                "magic",
                &[("model.xclbin", &bad_magic), ("kernel.toml", manifest.as_bytes())],
            ),
            "xclbin2",
        ),
        (
            "ONNX bytes as an xclbin",
            model_dir(
                scratch,
                "onnxbin",
                &[("model.xclbin", &onnx), ("kernel.toml", manifest.as_bytes())],
            ),
            "xclbin",
        ),
        (
            "truncated xclbin",
            model_dir(
                scratch,
                "shortbin",
                &[
                    ("model.xclbin", &good_xclbin[..good_xclbin.len() / 3]),
                    ("kernel.toml", manifest.as_bytes()),
                ],
            ),
            "xclbin",
        ),
        (
            "xclbin with a broken kernel.toml",
            model_dir(
                scratch,
                "badtoml",
                &[("model.xclbin", &good_xclbin), ("kernel.toml", b"kernel = [")],
            ),
            "kernel.toml",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (name, path, says)) in cases.iter().enumerate() {
        let model = format!("bad{i}");
        let out = h.cli(&["model", "register", "--name", &model, "--version", "1", "--path", path]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{name}: exit {:?} (want 1, the daemon refusing): {err}",
                out.status.code()
            ));
        } else if !err.contains(says) {
            failures.push(format!("{name}: message does not say {says:?}: {err}"));
        }
        if h.dir.path().join("state/models").join(&model).exists() {
            failures.push(format!("{name}: a half-registered model is left in the store"));
        }
    }
    // A path that does not exist is the CLI's own finding (exit 2: nothing was sent).
    let missing = scratch.join("missing").display().to_string();
    let out = h.cli(&["model", "register", "--name", "gone", "--version", "1", "--path", &missing]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.code() != Some(2) || !err.contains(&missing) {
        failures
            .push(format!("missing path: exit {:?} (want 2) naming it: {err}", out.status.code()));
    }
    let listed = h.cli_json(&["model", "list"]);
    let names: Vec<&str> =
        listed.as_array().unwrap().iter().filter_map(|m| m["name"].as_str()).collect();
    if names.iter().any(|n| n.starts_with("bad")) {
        failures.push(format!("refused models are listed: {names:?}"));
    }
    failures
}

/// Config files `edgeserved --check-config` refuses with exit 1 and a message naming the key.
#[test]
fn every_bad_config_file_is_refused_naming_the_key() {
    let h = Harness::new();
    let good = std::fs::read_to_string(&h.config_path).unwrap();
    let d = h.dir.path().display().to_string();
    let with = |from: &str, to: &str| {
        assert!(good.contains(from), "the base config has no {from:?}");
        good.replacen(from, to, 1)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("TOML syntax error", with("[limits]", "[limits").into_bytes(), "line"),
        ("not UTF-8", [good.as_bytes(), b"\n# \xff\xfe\n"].concat(), "UTF-8"),
        ("JSON instead of TOML", b"{\"daemon\": {}}".to_vec(), "TOML"),
        (
            "unknown key",
            with("[limits]\n", "[limits]\nmax_body_byte = 3\n").into_bytes(),
            "max_body_byte",
        ),
        ("unknown section", format!("{good}\n[limitz]\nx = 1\n").into_bytes(), "limitz"),
        (
            "wrong type",
            with("max_body_bytes = 1048576", "max_body_bytes = \"lots\"").into_bytes(),
            "max_body_bytes",
        ),
        (
            "negative size",
            with("max_body_bytes = 1048576", "max_body_bytes = -1").into_bytes(),
            "max_body_bytes",
        ),
        (
            "fractional size (not rounded)",
            with("max_body_bytes = 1048576", "max_body_bytes = 1.5").into_bytes(),
            "limits.max_body_bytes",
        ),
        (
            "duplicate key",
            with("max_body_bytes = 1048576", "max_body_bytes = 1\nmax_body_bytes = 2").into_bytes(),
            "max_body_bytes",
        ),
        (
            "listen not an address",
            with("listen = [\"127.0.0.1:0\"]", "listen = [\"nowhere\"]").into_bytes(),
            "tls.listen",
        ),
        (
            "listen port out of range",
            with("listen = [\"127.0.0.1:0\"]", "listen = [\"127.0.0.1:70000\"]").into_bytes(),
            "tls.listen",
        ),
        (
            "missing cert file",
            with(&format!("{d}/tls/cert.pem"), &format!("{d}/tls/none.pem")).into_bytes(),
            "none.pem",
        ),
        (
            "traffic sum not 100",
            with("traffic = { blue = 100 }", "traffic = { blue = 90 }").into_bytes(),
            "traffic",
        ),
        (
            "deployment model without a version",
            with("model = \"mlp:1\"", "model = \"mlp\"").into_bytes(),
            "NAME:VERSION",
        ),
        (
            "model path missing",
            with("path = \"", &format!("path = \"{d}/nowhere")).into_bytes(),
            "nowhere",
        ),
        (
            "endpoint name with a slash",
            with("[[endpoint]]\nname = \"mlp\"", "[[endpoint]]\nname = \"m/lp\"").into_bytes(),
            "m/lp",
        ),
        ("duplicate endpoint", format!("{good}[[endpoint]]\nname = \"mlp\"\n").into_bytes(), "mlp"),
        (
            "unknown deployment target",
            with("model = \"mlp:1\"", "model = \"mlp:1\"\ntarget = \"tpu\"").into_bytes(),
            "target",
        ),
        (
            "control socket mode not octal",
            with("[daemon]\n", "[daemon]\ncontrol_socket_mode = \"rw\"\n").into_bytes(),
            "control_socket_mode",
        ),
        ("empty file", Vec::new(), "cert"),
    ];
    let mut failures = Vec::new();
    for (i, (name, text, says)) in cases.iter().enumerate() {
        let path = h.dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let mut cmd = Command::new(edgeserve_tests::bin("edgeserved"));
        cmd.arg("--config").arg(&path).arg("--check-config");
        cmd.env("CREDENTIALS_DIRECTORY", h.dir.path().join("creds"));
        let started = Instant::now();
        let out = run_to_exit(cmd, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.code() != Some(1) {
            failures.push(format!("{name}: exit {:?} (want 1): {err}", out.status.code()));
        } else if !err.contains(says) {
            failures.push(format!("{name}: message does not say {says:?}: {err}"));
        } else if err.contains("panicked") {
            failures.push(format!("{name}: panicked: {err}"));
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{name} was slow");
    }
    // The config path itself: missing, and a folder.
    for (name, path, says) in [
        ("config file missing", format!("{d}/none.toml"), "none.toml"),
        ("config path is a folder", d.clone(), d.as_str()),
    ] {
        let mut cmd = Command::new(edgeserve_tests::bin("edgeserved"));
        cmd.args(["--config", &path, "--check-config"]);
        let out = run_to_exit(cmd, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.code() != Some(1) || !err.contains(says) {
            failures.push(format!(
                "{name}: exit {:?}, want 1 naming {says:?}: {err}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "config cases failed:\n{}", failures.join("\n"));
}
