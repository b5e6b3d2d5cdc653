//! TLS material: a cname line, then PEM certificates and a private key, checked as at start.
//! Must refuse, never panic, whatever the bytes (`edgeserve_daemon::fuzz::tls_pem`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_daemon::fuzz::tls_pem(data);
});
