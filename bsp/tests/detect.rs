//! Board detection on fixture trees, one per shipped profile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use edgeserve_bsp::{builtin_profiles, detect, profile_by_name};

/// A fake root: `files` are (path, contents) pairs.
fn fixture(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
    dir
}

fn detected(root: &Path) -> (String, Vec<String>, Vec<String>) {
    let d = detect(root).unwrap();
    (d.profile.name, d.matched, d.missing_device_nodes)
}

#[test]
fn plain_x86_64_box_is_generic() {
    let root = fixture(&[
        ("proc/sys/kernel/arch", b"x86_64\n"),
        ("sys/class/dmi/id/board_name", b"NUC11TNBi5\n"),
        ("sys/class/dmi/id/product_name", b"NUC11TNHi5\n"),
        ("sys/bus/pci/devices/0000:00:02.0/vendor", b"0x8086\n"),
    ]);
    let (name, why, missing) = detected(root.path());
    assert_eq!(name, "generic-x86_64");
    assert_eq!(why, vec!["fallback for x86_64 boxes (no specific profile matched)"]);
    assert!(missing.is_empty());
}

#[test]
fn x86_64_with_a_render_node_is_the_gpu_profile() {
    let root = fixture(&[("proc/sys/kernel/arch", b"x86_64\n"), ("dev/dri/renderD128", b"")]);
    let (name, why, missing) = detected(root.path());
    assert_eq!(name, "x86_64-opencl-gpu");
    assert_eq!(why, vec!["device node /dev/dri/renderD128 exists"]);
    assert!(missing.is_empty());
}

#[test]
fn xilinx_pci_device_is_the_alveo_profile_and_missing_nodes_are_named() {
    let root = fixture(&[
        ("proc/sys/kernel/arch", b"x86_64\n"),
        ("sys/bus/pci/devices/0000:03:00.1/vendor", b"0x10ee\n"),
        ("sys/bus/pci/devices/0000:00:02.0/vendor", b"0x8086\n"),
    ]);
    let (name, why, missing) = detected(root.path());
    assert_eq!(name, "x86_64-alveo");
    assert_eq!(why, vec!["PCI vendor \"0x10ee\" matched \"0x10ee\""]);
    assert_eq!(
        missing,
        vec!["/dev/dri/renderD128"],
        "the XRT driver is not loaded in this fixture"
    );
}

#[test]
fn kria_kv260_is_recognised_by_its_device_tree() {
    let root = fixture(&[
        ("proc/sys/kernel/arch", b"aarch64\n"),
        (
            "proc/device-tree/compatible",
            b"xlnx,zynqmp-sk-kv260-revB\0xlnx,zynqmp-sk-kv260\0xlnx,zynqmp\0",
        ),
        ("dev/dri/renderD128", b""),
    ]);
    let (name, why, missing) = detected(root.path());
    assert_eq!(name, "kria-kv260");
    assert_eq!(why, vec!["device-tree compatible \"xlnx,zynqmp-sk-kv260-revB\" matched \"xlnx,zynqmp-sk-kv260*\""]);
    assert!(missing.is_empty());
    let profile = detect(root.path()).unwrap().profile;
    assert_eq!(profile.config["limits"]["max_connections"].as_integer(), Some(512));
}

#[test]
fn raspberry_pi_5_is_recognised_from_sysfs_device_tree() {
    let root = fixture(&[
        ("proc/sys/kernel/arch", b"aarch64\n"),
        ("sys/firmware/devicetree/base/compatible", b"raspberrypi,5-model-b\0brcm,bcm2712\0"),
    ]);
    let (name, why, _) = detected(root.path());
    assert_eq!(name, "raspberrypi-5");
    assert_eq!(
        why,
        vec!["device-tree compatible \"raspberrypi,5-model-b\" matched \"raspberrypi,5-model-b\""]
    );
}

#[test]
fn other_aarch64_boards_fall_back_and_profiles_never_cross_architectures() {
    let root = fixture(&[
        ("proc/sys/kernel/arch", b"aarch64\n"),
        ("proc/device-tree/compatible", b"raspberrypi,4-model-b\0"),
        ("sys/bus/pci/devices/0000:01:00.0/vendor", b"0x10ee\n"),
    ]);
    let (name, _, _) = detected(root.path());
    assert_eq!(name, "generic-aarch64");
    let root = fixture(&[("proc/sys/kernel/arch", b"riscv64\n")]);
    assert_eq!(
        detect(root.path()).unwrap_err().to_string(),
        "no board profile matches this riscv64 box"
    );
}

#[test]
fn every_profile_file_ships_and_parses() {
    let shipped: Vec<String> = builtin_profiles().unwrap().into_iter().map(|p| p.name).collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("boards");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    on_disk.sort();
    let mut sorted = shipped.clone();
    sorted.sort();
    assert_eq!(sorted, on_disk, "every bsp/boards/*.toml must be embedded in the binary");
    for required in
        ["generic-x86_64", "x86_64-opencl-gpu", "x86_64-alveo", "kria-kv260", "raspberrypi-5"]
    {
        assert!(shipped.iter().any(|s| s == required), "{required}");
    }
    assert!(profile_by_name("nope")
        .unwrap_err()
        .to_string()
        .starts_with("no board profile named \"nope\""));
}
