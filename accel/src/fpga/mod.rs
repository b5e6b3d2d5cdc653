//! The FPGA backend: an xclbin's kernel run through Xilinx XRT (Alveo, Kria).
//!
//! A package is `model.xclbin` + `kernel.toml`. Both are checked in pure Rust first
//! (`xclbin`, `manifest`); only then does XRT (`xrt`, over `xrt-sys`) open the device, load
//! the xclbin and open the kernel. Buffers are allocated in each argument's memory bank once
//! per instance and batch size (`model`).

pub mod manifest;
mod model;
pub mod xclbin;
mod xrt;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use model::FpgaModel;
pub use xrt::XrtError;

use self::manifest::Manifest;
use self::xclbin::Xclbin;
use crate::{AccelError, Backend, DeviceInfo, LoadOptions, LoadedModel, ModelArtifact, Target};

/// Devices probed at most (XRT's C API has no device count: devices are opened in turn).
const MAX_DEVICES: u32 = 16;

/// How many device indexes to try: XRT's emulation shims (`XCL_EMULATION_MODE`) open any
/// index, and model one device.
fn device_limit() -> u32 {
    match std::env::var_os("XCL_EMULATION_MODE") {
        Some(m) if !m.is_empty() => 1,
        _ => MAX_DEVICES,
    }
}

/// What XRT itself reads from an xclbin (without any device): UUID, platform, kernel and
/// compute-unit counts. Tests compare it with [`Xclbin::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrtXclbinView {
    /// The UUID XRT read (`xrtXclbinGetUUID`).
    pub uuid: [u8; 16],
    /// The platform name XRT read (`xrtXclbinGetXSAName`).
    pub platform_vbnv: String,
    /// Kernels XRT counted (`xrtXclbinGetNumKernels`).
    pub kernels: usize,
    /// Compute units XRT counted (`xrtXclbinGetNumKernelComputeUnits`).
    pub compute_units: usize,
}

/// Hands an xclbin (checked by [`Xclbin::parse`] first) to XRT and reports what XRT read.
pub fn xrt_view(bytes: &[u8]) -> Result<XrtXclbinView, AccelError> {
    Xclbin::parse(bytes)
        .map_err(|e| AccelError::InvalidModel { path: "xclbin".into(), reason: e.to_string() })?;
    let h = xrt::XclbinHandle::from_bytes(bytes).map_err(xrt_failed)?;
    let (kernels, compute_units) = h.counts().map_err(xrt_failed)?;
    Ok(XrtXclbinView {
        uuid: h.uuid().map_err(xrt_failed)?,
        platform_vbnv: h.xsa_name().map_err(xrt_failed)?,
        kernels,
        compute_units,
    })
}

/// How long a device listing is reused: listing opens every device through XRT, and metrics
/// scrapes ask for it each time.
const LISTING_TTL: Duration = Duration::from_secs(10);

/// A device listing and when it was made.
type Listing = (Instant, Vec<DeviceInfo>);

/// Runs xclbin kernels on Xilinx FPGA cards through XRT.
#[derive(Clone)]
pub struct FpgaBackend {
    run_timeout: Duration,
    /// Memory banks of the xclbin last loaded on each device, for `device list`.
    banks: Arc<Mutex<HashMap<u32, Vec<String>>>>,
    /// The last listing and when it was made.
    listing: Arc<Mutex<Option<Listing>>>,
}

impl FpgaBackend {
    /// A backend whose kernel runs wait at most `run_timeout`.
    pub fn new(run_timeout: Duration) -> FpgaBackend {
        FpgaBackend { run_timeout, banks: Arc::default(), listing: Arc::default() }
    }

    /// Loads a package, returning the concrete type.
    pub fn load_model(
        &self,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<FpgaModel, AccelError> {
        let package = Package::read(artifact)?;
        if options.device >= device_limit() {
            return Err(AccelError::NoSuchDevice {
                target: "fpga".into(),
                index: options.device,
                available: device_limit() as usize,
            });
        }
        let device = xrt::Device::open(options.device).map_err(|e| match e {
            XrtError::NotFound(reason) => unavailable(reason),
            XrtError::Call { call: "xrtDeviceOpen", reason }
            | XrtError::Exception { call: "xrtDeviceOpen", what: reason } => unavailable(format!(
                "XRT finds no FPGA device (xrtDeviceOpen({}): {reason})",
                options.device
            )),
            other => xrt_failed(other),
        })?;
        if let Some(card) = card_vbnv(options.device) {
            check_platform(&package.xclbin.platform_vbnv, &card)?;
        }
        let model = FpgaModel::load(device, package, self.run_timeout)?;
        self.banks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(options.device, model.banks().to_vec());
        *self.listing.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(model)
    }
}

/// A checked package: the xclbin's bytes and facts, and its manifest.
pub(crate) struct Package {
    pub bytes: Vec<u8>,
    pub xclbin: Xclbin,
    pub manifest: Manifest,
}

impl Package {
    /// Reads and checks `model.xclbin` and `kernel.toml`, and that they fit each other.
    pub fn read(artifact: &ModelArtifact) -> Result<Package, AccelError> {
        let xpath = artifact.dir().join("model.xclbin");
        let mpath = artifact.dir().join("kernel.toml");
        let bytes = std::fs::read(&xpath)
            .map_err(|source| AccelError::ArtifactUnreadable { path: xpath.clone(), source })?;
        let text = std::fs::read_to_string(&mpath)
            .map_err(|source| AccelError::ArtifactUnreadable { path: mpath.clone(), source })?;
        let invalid = |path: &std::path::Path, reason: String| AccelError::InvalidModel {
            path: path.to_path_buf(),
            reason,
        };
        let xclbin = Xclbin::parse(&bytes).map_err(|e| invalid(&xpath, e.to_string()))?;
        let manifest = Manifest::parse(&text).map_err(|e| invalid(&mpath, e.to_string()))?;
        manifest.check_against(&xclbin).map_err(|e| invalid(&mpath, e.to_string()))?;
        Ok(Package { bytes, xclbin, manifest })
    }
}

/// Checks, without any device, that an FPGA package is well formed; returns its signature.
pub fn check_package(artifact: &ModelArtifact) -> Result<crate::Signature, AccelError> {
    Ok(Package::read(artifact)?.manifest.signature())
}

fn unavailable(reason: String) -> AccelError {
    AccelError::BackendUnavailable { target: "fpga".into(), reason }
}

pub(crate) fn xrt_failed(e: XrtError) -> AccelError {
    match e {
        XrtError::NotFound(reason) => unavailable(reason),
        XrtError::Timeout { call, millis } => {
            AccelError::Timeout { call: format!("XRT {call}"), millis }
        }
        other => AccelError::Device { reason: other.to_string() },
    }
}

/// Refuses an xclbin built for another shell than the card's.
pub fn check_platform(xclbin_vbnv: &str, card_vbnv: &str) -> Result<(), AccelError> {
    if xclbin_vbnv == card_vbnv {
        Ok(())
    } else {
        Err(AccelError::PlatformMismatch { xclbin: xclbin_vbnv.into(), card: card_vbnv.into() })
    }
}

/// A card's shell name (VBNV) and PCI address from the xocl driver's sysfs entries, when the
/// card is driven by xocl (not under XRT's emulation shims).
fn card_sysfs(index: u32) -> Option<(String, String)> {
    let mut bdfs: Vec<String> = std::fs::read_dir("/sys/bus/pci/drivers/xocl")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(':'))
        .collect();
    bdfs.sort();
    let bdf = bdfs.get(index as usize)?.clone();
    let dev = std::path::Path::new("/sys/bus/pci/devices").join(&bdf);
    let vbnv = std::fs::read_dir(&dev)
        .ok()?
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("rom."))
        .and_then(|e| std::fs::read_to_string(e.path().join("VBNV")).ok())?;
    Some((bdf, vbnv.trim().to_string()))
}

fn card_vbnv(index: u32) -> Option<String> {
    card_sysfs(index).map(|(_, v)| v)
}

impl Backend for FpgaBackend {
    fn target(&self) -> Target {
        Target::Fpga
    }

    fn probe(&self) -> Result<(), AccelError> {
        xrt::runtime().map(|_| ()).map_err(xrt_failed)
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        let mut listing = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, devices)) = listing.as_ref() {
            if at.elapsed() < LISTING_TTL {
                return devices.clone();
            }
        }
        let devices = self.list_devices();
        *listing = Some((Instant::now(), devices.clone()));
        devices
    }

    /// The last listing, or else the devices models were loaded on.
    fn known_devices(&self) -> Option<Vec<DeviceInfo>> {
        let listing = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, devices)) = listing.as_ref() {
            return Some(devices.clone());
        }
        let banks = self.banks.lock().unwrap_or_else(PoisonError::into_inner);
        let mut loaded: Vec<DeviceInfo> = banks
            .iter()
            .map(|(&index, banks)| DeviceInfo {
                memory_banks: banks.clone(),
                ..DeviceInfo::new(Target::Fpga, index, format!("xrt device {index}"))
            })
            .collect();
        loaded.sort_by_key(|d| d.index);
        (!loaded.is_empty()).then_some(loaded)
    }

    fn inspect(&self, artifact: &ModelArtifact) -> Result<Option<crate::Signature>, AccelError> {
        if !artifact.is_fpga_package() {
            return Err(AccelError::Unsupported {
                what: "ONNX models on the fpga target: it runs packages of model.xclbin + \
                       kernel.toml"
                    .into(),
            });
        }
        check_package(artifact).map(Some)
    }

    fn load(
        &self,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, AccelError> {
        Ok(Box::new(self.load_model(artifact, options)?))
    }
}

impl FpgaBackend {
    /// Every device XRT opens, or one entry saying why there is none.
    fn list_devices(&self) -> Vec<DeviceInfo> {
        if let Err(e) = xrt::runtime() {
            return vec![DeviceInfo::unavailable(Target::Fpga, "xrt", e.to_string())];
        }
        let banks = self.banks.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut out = Vec::new();
        let mut first_error = None;
        for index in 0..device_limit() {
            match xrt::Device::open(index) {
                Ok(dev) => {
                    drop(dev);
                    let (bdf, vbnv) = card_sysfs(index).unzip();
                    out.push(DeviceInfo {
                        vendor: "Xilinx".into(),
                        bdf,
                        memory_banks: banks.get(&index).cloned().unwrap_or_default(),
                        ..DeviceInfo::new(
                            Target::Fpga,
                            index,
                            vbnv.unwrap_or_else(|| format!("xrt device {index}")),
                        )
                    });
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                    break;
                }
            }
        }
        if out.is_empty() {
            let reason = match first_error {
                Some(XrtError::Call { reason, .. } | XrtError::Exception { what: reason, .. }) => {
                    format!("XRT finds no FPGA device (xrtDeviceOpen(0): {reason})")
                }
                Some(other) => other.to_string(),
                None => "XRT finds no FPGA device".into(),
            };
            return vec![DeviceInfo::unavailable(Target::Fpga, "xrt", reason)];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_xclbin_for_another_shell_is_refused_naming_both() {
        assert!(
            check_platform("xilinx_u250_gen3x16_xdma_4_1", "xilinx_u250_gen3x16_xdma_4_1").is_ok()
        );
        let err = check_platform("xilinx_u250_gen3x16_xdma_4_1", "xilinx_u50_gen3x16_xdma_5")
            .err()
            .map(|e| (e.kind(), e.to_string()));
        assert_eq!(
            err,
            Some((
                crate::ErrorKind::Unsupported,
                "xclbin built for platform xilinx_u250_gen3x16_xdma_4_1, card is \
                 xilinx_u50_gen3x16_xdma_5"
                    .to_string()
            ))
        );
    }
}
