//! Debian's XRT installed, no card and no emulation: the FPGA side is unavailable with XRT's
//! reason, and loading fails with it (this file is its own process, with XRT's environment
//! cleared).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use edgeserve_accel::fpga::FpgaBackend;
use edgeserve_accel::{Backend, ErrorKind, LoadOptions, ModelArtifact};

#[test]
fn without_a_card_the_fpga_is_unavailable_with_xrts_reason() {
    std::env::remove_var("XCL_EMULATION_MODE");
    std::env::remove_var("XILINX_XRT");
    let backend = FpgaBackend::new(std::time::Duration::from_secs(5));
    let devices = backend.devices();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert!(!devices[0].available);
    let reason = devices[0].reason.clone().unwrap();
    assert!(reason.starts_with("XRT finds no FPGA device (xrtDeviceOpen(0): "), "{reason}");

    let dir = common::fpga_package("k");
    let err = backend.load(&ModelArtifact::new(&dir), &LoadOptions::default()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::DeviceUnavailable, "{err}");
    assert!(err.to_string().contains("xrtDeviceOpen"), "{err}");
}
