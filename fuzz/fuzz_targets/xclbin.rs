//! The xclbin parser must refuse, never panic or read out of bounds, whatever the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgeserve_accel::fpga::xclbin::fuzz_parse(data);
});
