//! `null-https`: a do-nothing HTTPS server, the transport limit edgeserve is measured against
//! (bench/run.sh). hyper + rustls like edgeserved, an ECDSA P-256 certificate made by rcgen at
//! start, HTTP/1.1 and h2; every request's body is read whole and answered with one fixed JSON
//! document (by default the MLP example's `{"result": [[...10 numbers...]]}`).
//!
//! `null-https [--listen 127.0.0.1:0] [--cert-out ca.pem] [--answer-file answer.json]`
//! prints `listening ADDR` on stdout once bound, and serves until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The MLP example's answer to one row: ten class scores, as edgeserved prints them.
const DEFAULT_ANSWER: &str = r#"{"result":[[-0.12345679,0.23456789,-0.34567891,0.45678912,-0.56789123,0.67891234,-0.78912345,0.89123456,-0.91234567,0.12345678]]}"#;

struct Options {
    listen: SocketAddr,
    cert_out: Option<PathBuf>,
    answer: Bytes,
}

fn options() -> anyhow::Result<Options> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut cert_out = None;
    let mut answer = Bytes::from_static(DEFAULT_ANSWER.as_bytes());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse().context("--listen ADDR:PORT")?,
            "--cert-out" => cert_out = Some(PathBuf::from(value()?)),
            "--answer-file" => {
                let path = value()?;
                answer = std::fs::read(&path).with_context(|| path.clone())?.into();
            }
            "-h" | "--help" => {
                println!(
                    "null-https [--listen ADDR] [--cert-out CA.pem] [--answer-file FILE]: a \
                     do-nothing HTTPS server answering every request with one fixed JSON"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other} (see --help)"),
        }
    }
    Ok(Options { listen, cert_out, answer })
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    // ECDSA P-256 (rcgen's default key), self-signed for localhost and 127.0.0.1.
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    let cert = params.self_signed(&key)?;
    if let Some(path) = &options.cert_out {
        std::fs::write(path, cert.pem()).with_context(|| path.display().to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(options.listen, acceptor, options.answer))
}

async fn serve(
    listen: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    answer: Bytes,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.context("bind")?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(_) => continue,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let answer = answer.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    // Read the whole body, as a scoring server must.
                    req.into_body().collect().await?;
                    let mut resp = Response::new(Full::new(answer));
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, hyper::Error>(resp)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
