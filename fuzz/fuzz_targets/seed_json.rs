//! A seed scoring body (`{"data": ...}`): decoded against the test signatures, encoded back.
//! Must refuse, never panic, whatever the bytes (`edgeserve_daemon::fuzz::seed_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_daemon::fuzz::seed_json(data);
});
