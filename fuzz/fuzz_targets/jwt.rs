//! A bearer token, checked by the OIDC (JWKS) and token-mode (HS256) verifiers.
//! Must refuse, never panic, whatever the bytes (`edgeserve_daemon::fuzz::jwt`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_daemon::fuzz::jwt(data);
});
