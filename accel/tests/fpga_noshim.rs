//! XRT present but its shim missing (`XCL_EMULATION_MODE=noop` with no `libxrt_noop.so` under
//! `$XILINX_XRT/lib`): XRT itself fails, and edgeserve reports it cleanly with the XRT call
//! named, never an abort. This file is its own process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use edgeserve_accel::fpga::FpgaBackend;
use edgeserve_accel::{Backend, ErrorKind, LoadOptions, ModelArtifact};

#[test]
fn a_missing_shim_is_a_clean_error_naming_the_xrt_call() {
    let root = common::tempfile_dir().join("xrt");
    std::fs::create_dir_all(root.join("lib")).unwrap();
    for lib in ["libxrt_coreutil.so.2", "libxrt_core.so.2"] {
        std::os::unix::fs::symlink(
            format!("/usr/lib/x86_64-linux-gnu/{lib}"),
            root.join("lib").join(lib),
        )
        .unwrap();
    }
    std::env::set_var("XILINX_XRT", &root);
    std::env::set_var("XCL_EMULATION_MODE", "noop");

    let dir = common::fpga_package("k");
    let backend = FpgaBackend::new(std::time::Duration::from_secs(5));
    let err = backend.load(&ModelArtifact::new(&dir), &LoadOptions::default()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::DeviceUnavailable, "{err}");
    assert!(err.to_string().contains("xrtDeviceOpen"), "{err}");
    let devices = backend.devices();
    assert!(!devices[0].available, "{devices:?}");
    assert!(devices[0].reason.as_deref().unwrap().contains("xrtDeviceOpen"), "{devices:?}");
}
