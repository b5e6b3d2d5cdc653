//! An Open Inference Protocol JSON request: decoded against the test signatures, encoded back.
//! Must refuse, never panic, whatever the bytes (`edgeserve_daemon::fuzz::oip_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_daemon::fuzz::oip_json(data);
});
