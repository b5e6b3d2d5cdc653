//! The FPGA backend through the real XRT libraries and XRT's no-op shim (no card needed):
//! open, xclbin load, kernel open, buffers, sync, run and wait all really go through XRT.
//! `XCL_EMULATION_MODE=noop` and `XILINX_XRT` (a folder whose `lib/` holds XRT) are set before
//! XRT is first used; this file is its own process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Once;

use edgeserve_accel::fpga::xclbin::builder::{ArgSpec, XclbinBuilder};
use edgeserve_accel::fpga::FpgaBackend;
use edgeserve_accel::{
    Backend, ErrorKind, LoadOptions, LoadedModel, ModelArtifact, Tensor, TensorData,
};

const VBNV: &str = "xilinx_u250_gen3x16_xdma_4_1_202210_1";
const MANIFEST: &str = "kernel = \"mlp_infer\"\n\
    [[input]]\nname = \"x\"\ndtype = \"f32\"\nshape = [-1, 4]\narg = 0\n\
    [[output]]\nname = \"y\"\ndtype = \"f32\"\nshape = [-1, 3]\narg = 1\n\
    [batch]\narg = 2\n";

fn noop_xrt() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        let root = common::tempfile_dir().join("xrt");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("/usr/lib/x86_64-linux-gnu", root.join("lib")).unwrap();
        std::env::set_var("XILINX_XRT", &root);
        std::env::set_var("XCL_EMULATION_MODE", "noop");
    });
}

fn package(builder: &XclbinBuilder, manifest: &str) -> PathBuf {
    let dir = common::tempfile_dir();
    std::fs::write(dir.join("model.xclbin"), builder.build()).unwrap();
    std::fs::write(dir.join("kernel.toml"), manifest).unwrap();
    dir
}

fn backend() -> FpgaBackend {
    FpgaBackend::new(std::time::Duration::from_secs(5))
}

#[test]
fn a_package_runs_the_whole_xrt_sequence_on_the_noop_shim() {
    noop_xrt();
    let dir = package(&XclbinBuilder::new(VBNV).model_kernel("mlp_infer"), MANIFEST);
    let mut model =
        backend().load_model(&ModelArtifact::new(&dir), &LoadOptions::default()).unwrap();
    assert_eq!(model.banks(), ["bank0"]);
    for batch in [1usize, 3, 1] {
        let x = Tensor::new(vec![batch, 4], TensorData::F32(vec![0.5; batch * 4])).unwrap();
        let y = model.run(vec![x]).unwrap();
        // The no-op shim computes nothing: only the shape is known.
        assert_eq!(y.len(), 1);
        assert_eq!(y[0].shape(), &[batch, 3]);
    }
}

#[test]
fn device_list_shows_the_shim_device() {
    noop_xrt();
    let devices = backend().devices();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert!(devices[0].available, "{devices:?}");
    assert_eq!(devices[0].vendor, "Xilinx");
    assert_eq!(devices[0].index, 0);
}

#[test]
fn an_argument_the_metadata_lacks_is_refused_before_xrt_sees_the_file() {
    noop_xrt();
    // The manifest's kernel exists in IP_LAYOUT, but its metadata gives it no arguments:
    // edgeserve's own check catches the argument first.
    let mut b = XclbinBuilder::new(VBNV).model_kernel("mlp_infer");
    b.kernels[0].2 = vec![ArgSpec::buffer("x", 0)];
    let dir = package(&b, MANIFEST);
    let err = backend().load(&ModelArtifact::new(&dir), &LoadOptions::default()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidModel, "{err}");
    assert!(
        err.to_string()
            .contains("output y uses argument 1 of kernel mlp_infer, which has 1 arguments"),
        "{err}"
    );
}

#[test]
fn no_such_device_index_is_refused() {
    noop_xrt();
    let dir = package(&XclbinBuilder::new(VBNV).model_kernel("mlp_infer"), MANIFEST);
    let err = backend()
        .load(&ModelArtifact::new(&dir), &LoadOptions { device: 9, max_batch_size: 1 })
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "no fpga device with index 9 (1 available)");
}

#[test]
fn xrt_reads_builder_files_as_our_parser_does() {
    noop_xrt();
    let mut b = XclbinBuilder::new(VBNV).model_kernel("mlp_infer").kernel(
        "vadd",
        2,
        vec![ArgSpec::buffer("a", 1), ArgSpec::buffer("b", 1), ArgSpec::scalar("n")],
    );
    b.banks.push("bank1".into());
    b.uuid = *b"\x01\x23\x45\x67\x89\xab\xcd\xef\x10\x32\x54\x76\x98\xba\xdc\xfe";
    let bytes = b.build();
    let ours = edgeserve_accel::fpga::xclbin::Xclbin::parse(&bytes).unwrap();
    let theirs = edgeserve_accel::fpga::xrt_view(&bytes).unwrap();
    assert_eq!(theirs.uuid, ours.uuid);
    assert_eq!(theirs.platform_vbnv, ours.platform_vbnv);
    assert_eq!(theirs.kernels, ours.kernels.len());
    assert_eq!(
        theirs.compute_units,
        ours.kernels.iter().map(|k| k.compute_units.len()).sum::<usize>()
    );
    assert_eq!((theirs.kernels, theirs.compute_units), (2, 3));
    assert_eq!(ours.used_banks(), vec!["bank0", "bank1"]);
}
