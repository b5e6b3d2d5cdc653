//! The kernel.toml parser must refuse, never panic, whatever the text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_accel::fpga::manifest::fuzz_parse(data);
});
