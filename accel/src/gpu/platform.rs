//! OpenCL platforms and devices: what `device list` shows and what a deployment opens.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use opencl3::device::{Device, CL_DEVICE_TYPE_ALL};

use crate::{AccelError, DeviceInfo, Target};

/// Why there is no OpenCL at all on this box.
pub(crate) const NO_RUNTIME: &str = "OpenCL runtime libOpenCL.so.1 not found (install \
     ocl-icd-libopencl1 and a driver, e.g. pocl-opencl-icd)";
pub(crate) const NO_PLATFORM: &str = "no OpenCL platform found (is an ICD installed?)";

/// One OpenCL device, indexed across every platform in the order the ICD loader lists them.
#[derive(Clone)]
pub(crate) struct Found {
    pub device: Device,
    pub info: DeviceInfo,
}

fn unavailable(reason: String) -> AccelError {
    AccelError::BackendUnavailable { target: "gpu".into(), reason }
}

/// Devices found by the first successful enumeration: the ICD loader and PoCL initialise
/// platforms once per process and are not safe to initialise from several threads at once
/// (concurrent first calls can report zero devices), so enumeration is serialised and its
/// success remembered. A failure is not remembered: installing a driver or fixing the PoCL
/// cache folder shows up at the next `device list` or deployment.
static FOUND: Mutex<Option<Vec<Found>>> = Mutex::new(None);

/// Every OpenCL device, or why there is none.
pub(crate) fn enumerate() -> Result<Vec<Found>, AccelError> {
    let mut found = FOUND.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(devices) = found.as_ref() {
        return Ok(devices.clone());
    }
    let devices = discover()?;
    *found = Some(devices.clone());
    Ok(devices)
}

/// The devices of an enumeration that already ran, without loading anything.
pub(crate) fn found() -> Option<Vec<Found>> {
    FOUND.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn discover() -> Result<Vec<Found>, AccelError> {
    if !cl3::is_opencl_runtime_available() {
        return Err(unavailable(NO_RUNTIME.into()));
    }
    let platforms = opencl3::platform::get_platforms().unwrap_or_default();
    if platforms.is_empty() {
        return Err(unavailable(NO_PLATFORM.into()));
    }
    let mut found = Vec::new();
    let mut names = Vec::new();
    for platform in platforms {
        let pname = platform.name().unwrap_or_else(|_| "unknown platform".into());
        names.push(pname.clone());
        for id in platform.get_devices(CL_DEVICE_TYPE_ALL).unwrap_or_default() {
            let device = Device::new(id);
            let info = DeviceInfo {
                target: Target::Gpu,
                index: found.len() as u32,
                name: device.name().unwrap_or_default().trim().to_string(),
                vendor: device.vendor().unwrap_or_default().trim().to_string(),
                memory_bytes: device.global_mem_size().unwrap_or(0),
                available: true,
                reason: None,
                platform: Some(pname.trim().to_string()),
                compute_units: device.max_compute_units().ok(),
                ..DeviceInfo::new(Target::Gpu, 0, "")
            };
            found.push(Found { device, info });
        }
    }
    if found.is_empty() {
        let cache = std::env::var_os(super::driver_cache::POCL_CACHE_DIR)
            .map(|d| format!(" ({})", Path::new(&d).display()))
            .unwrap_or_default();
        return Err(unavailable(format!(
            "OpenCL platform {} reports no device (for PoCL: is POCL_CACHE_DIR{cache} writable?)",
            names.join(", ")
        )));
    }
    Ok(found)
}

/// A text that changes whenever a built program would: device, driver and OpenCL version.
pub(crate) fn build_identity(device: &Device) -> String {
    format!(
        "{}|{}|{}|{}",
        device.name().unwrap_or_default(),
        device.vendor().unwrap_or_default(),
        device.version().unwrap_or_default(),
        device.driver_version().unwrap_or_default()
    )
}
