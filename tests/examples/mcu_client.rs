//! A microcontroller-class scoring client: what an ESP32/STM32 sensor runs to score an
//! edgeserve endpoint. It uses embedded-tls (no_std-capable, no allocator in its TLS path; built
//! with `std` here for the host): TLS 1.3 only, TLS_AES_128_GCM_SHA256, a P-256 key share,
//! ECDSA P-256 server certificates verified against one CA with the server name checked
//! against the leaf's DNS SANs, and record buffers of 4.3 KiB — enough because edgeserved
//! keeps its TLS records to 4 KiB of plaintext.
//!
//! Usage: mcu_client ADDR SERVER_NAME CA_PEM ENDPOINT KEY JSON_BODY
//! Prints the HTTP status line and the response body; exits 0 on HTTP 200.

use std::net::TcpStream;
use std::time::SystemTime;

use embedded_io_adapters::std::FromStd;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsConfig, TlsConnection, TlsContext, TlsError,
    TlsVerifier,
};
use embedded_tls::pki::CertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Bytes of one TLS record the client can hold: 4,096 of plaintext plus header and tag, rounded.
const RECORD_BUFFER: usize = 4352;

struct Provider<'a> {
    rng: rand_core::OsRng,
    verifier: CertVerifier<'a, Aes128GcmSha256, SystemTime, 4096>,
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = Vec<u8>;

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("mcu_client: {e}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, server_name, ca_pem, endpoint, key, body] = args.as_slice() else {
        return Err("usage: mcu_client ADDR SERVER_NAME CA_PEM ENDPOINT KEY JSON_BODY".into());
    };
    let ca = CertificateDer::from_pem_file(ca_pem).map_err(|e| format!("{ca_pem}: {e}"))?;
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;

    let mut read_buf = vec![0u8; RECORD_BUFFER];
    let mut write_buf = vec![0u8; RECORD_BUFFER];
    let config = TlsConfig::new().with_server_name(server_name);
    let mut tls: TlsConnection<'_, FromStd<TcpStream>, Aes128GcmSha256> =
        TlsConnection::new(FromStd::new(stream), &mut read_buf, &mut write_buf);
    let provider = Provider {
        rng: rand_core::OsRng,
        verifier: CertVerifier::new(Certificate::X509(ca.as_ref())),
    };
    tls.open(TlsContext::new(&config, provider)).map_err(|e| format!("TLS handshake: {e:?}"))?;

    let request = format!(
        "POST /api/v1/service/{endpoint}/score HTTP/1.1\r\nHost: {server_name}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut sent = 0;
    while sent < request.len() {
        sent += tls.write(&request.as_bytes()[sent..]).map_err(|e| format!("TLS write: {e:?}"))?;
    }
    tls.flush().map_err(|e| format!("TLS flush: {e:?}"))?;

    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            // The server closes after answering (Connection: close).
            Err(TlsError::ConnectionClosed) => break,
            Err(e) => return Err(format!("TLS read: {e:?}")),
        }
        if complete(&response) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    let status = head.lines().next().unwrap_or_default();
    println!("{status}");
    println!("{body}");
    Ok(status.split_whitespace().nth(1) == Some("200"))
}

/// Whether a whole HTTP response (headers and a Content-Length body) has arrived.
fn complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().ok())
        })
        .flatten();
    length.is_some_and(|n| body.len() >= n)
}
