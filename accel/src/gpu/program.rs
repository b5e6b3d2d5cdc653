//! The OpenCL program: built once per device from `kernels.cl`, and cached on disk as a device
//! binary keyed by device and source hash, so a restart does not compile again.

use std::path::{Path, PathBuf};

use opencl3::context::Context;
use opencl3::device::Device;
use opencl3::program::Program;
use sha2::{Digest, Sha256};

use crate::AccelError;

/// The kernels' source.
pub(crate) const SOURCE: &str = include_str!("kernels.cl");
/// Build options: IEEE-conformant maths (no fast-math), so results match the CPU backend.
const OPTIONS: &str = "-cl-std=CL1.2";

/// Where a program came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramOrigin {
    /// Compiled from source at this load.
    Compiled,
    /// Loaded from the on-disk cache.
    Cached,
}

/// The cache file for a device: `{dir}/{sha256(source, options, device identity)}.clbin`.
pub(crate) fn cache_path(dir: &Path, device: &Device) -> PathBuf {
    let mut h = Sha256::new();
    h.update(SOURCE.as_bytes());
    h.update([0]);
    h.update(OPTIONS.as_bytes());
    h.update([0]);
    h.update(super::platform::build_identity(device).as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{hex}.clbin"))
}

/// Builds the program for the context's device, through the cache when there is one.
pub(crate) fn build(
    context: &Context,
    device: &Device,
    cache_dir: Option<&Path>,
) -> Result<(Program, ProgramOrigin), AccelError> {
    let cached = cache_dir.map(|d| cache_path(d, device));
    if let Some(path) = &cached {
        if let Ok(binary) = std::fs::read(path) {
            match Program::create_and_build_from_binary(context, &[&binary], OPTIONS) {
                Ok(p) => {
                    tracing::info!(path = %path.display(), "OpenCL program loaded from cache");
                    return Ok((p, ProgramOrigin::Cached));
                }
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "cached OpenCL program rejected by the driver; compiling from source"
                ),
            }
        }
    }
    let program = compile(context, device, SOURCE)?;
    tracing::info!(device = %device.name().unwrap_or_default(), "OpenCL program compiled");
    if let Some(path) = &cached {
        if let Err(e) = store(&program, path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot cache the OpenCL program");
        }
    }
    Ok((program, ProgramOrigin::Compiled))
}

/// Compiles `source` for the context's device; a failure carries the device's build log.
fn compile(context: &Context, device: &Device, source: &str) -> Result<Program, AccelError> {
    let failed = |log: String| AccelError::ProgramBuild {
        device: device.name().unwrap_or_default().trim().to_string(),
        log,
    };
    let mut program =
        Program::create_from_source(context, source).map_err(|e| failed(e.to_string()))?;
    if let Err(e) = program.build(context.devices(), OPTIONS) {
        let log = program.get_build_log(device.id()).unwrap_or_default();
        return Err(failed(format!("{e}: {}", log.trim())));
    }
    Ok(program)
}

/// Writes the program's binary through a temporary file, so a crash leaves no torn cache entry.
fn store(program: &Program, path: &Path) -> Result<(), String> {
    let binaries = program.get_binaries().map_err(|e| e.to_string())?;
    let binary = binaries.into_iter().next().filter(|b| !b.is_empty()).ok_or("no binary")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let tmp = path.with_extension("clbin.tmp");
    std::fs::write(&tmp, &binary).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_compile_error_carries_the_device_build_log() {
        let Ok(found) = super::super::platform::enumerate() else {
            panic!("no OpenCL device: install pocl-opencl-icd (scripts/deps.sh does)")
        };
        let device = found[0].device;
        let context = Context::from_device(&device).unwrap();
        let broken = "__kernel void k(__global float* y) { y[0] = undeclared_name; }";
        let err = compile(&context, &device, broken).err().unwrap();
        let text = err.to_string();
        assert!(matches!(err, AccelError::ProgramBuild { .. }), "{text}");
        assert!(text.contains("undeclared_name"), "the build log names the problem: {text}");
        assert!(text.contains(device.name().unwrap().trim()), "{text}");
    }
}
