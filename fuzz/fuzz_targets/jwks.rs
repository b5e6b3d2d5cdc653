//! A JSON Web Key Set file, loaded as oidc.jwks_file is, then asked to verify test tokens.
//! Must refuse, never panic, whatever the bytes (`edgeserve_daemon::fuzz::jwks`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_daemon::fuzz::jwks(data);
});
