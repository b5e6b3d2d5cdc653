//! The config file: parsed, merged with board defaults and validated as at start.
//! Must refuse, never panic, whatever the bytes (`edgeserve_daemon::fuzz::config_toml`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_daemon::fuzz::config_toml(data);
});
