//! An Open Inference Protocol request with binary tensor data after its JSON header.
//! Must refuse, never panic, whatever the bytes (`edgeserve_daemon::fuzz::oip_binary`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_daemon::fuzz::oip_binary(data);
});
