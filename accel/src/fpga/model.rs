//! An FPGA package loaded on a device: the kernel, and per batch size its buffers and a run
//! handle with every argument bound, made once and reused.

use std::time::Duration;

use super::xrt::{Bo, Device, Kernel, Run, XclbinHandle};
use super::{xrt_failed, Package};
use crate::{AccelError, LoadedModel, Signature, Tensor, TensorData};

/// Batch sizes an instance keeps bound at once.
const BOUND_BATCH_SIZES: usize = 8;

/// Buffers and a run for one batch size. Field order is drop order: the run before its buffers.
struct Bound {
    batch: usize,
    run: Run,
    inputs: Vec<Bo>,
    outputs: Vec<Bo>,
}

/// A kernel loaded on an FPGA. Field order is drop order: runs and buffers, then the kernel,
/// the xclbin and the device.
pub struct FpgaModel {
    bound: Vec<Bound>,
    kernel: Kernel,
    _xclbin: XclbinHandle,
    device: Device,
    package_manifest: super::manifest::Manifest,
    signature: Signature,
    groups: (Vec<u32>, Vec<u32>),
    banks: Vec<String>,
    timeout: Duration,
}

impl FpgaModel {
    pub(crate) fn load(
        device: Device,
        package: Package,
        timeout: Duration,
    ) -> Result<FpgaModel, AccelError> {
        let xclbin = XclbinHandle::from_bytes(&package.bytes).map_err(xrt_failed)?;
        let uuid = xclbin.uuid().map_err(xrt_failed)?;
        if uuid != package.xclbin.uuid {
            return Err(AccelError::Internal(format!(
                "XRT reads xclbin UUID {}, edgeserve read {}",
                super::xclbin::uuid_string(&uuid),
                package.xclbin.uuid_string()
            )));
        }
        device.load(&xclbin).map_err(xrt_failed)?;
        let manifest = package.manifest;
        let kernel = device.kernel(&uuid, &manifest.kernel).map_err(xrt_failed)?;
        let group = |arg| kernel.group_of(arg).map_err(xrt_failed);
        let groups = (
            manifest.inputs.iter().map(|p| group(p.arg)).collect::<Result<Vec<_>, _>>()?,
            manifest.outputs.iter().map(|p| group(p.arg)).collect::<Result<Vec<_>, _>>()?,
        );
        let mut model = FpgaModel {
            bound: Vec::new(),
            kernel,
            _xclbin: xclbin,
            device,
            signature: manifest.signature(),
            package_manifest: manifest,
            groups,
            banks: package.xclbin.used_banks(),
            timeout,
        };
        model.bound_for(1)?; // allocates now, so a package that cannot run fails at load
        Ok(model)
    }

    /// Memory banks of the loaded xclbin.
    pub fn banks(&self) -> &[String] {
        &self.banks
    }

    fn bound_for(&mut self, batch: usize) -> Result<usize, AccelError> {
        if let Some(at) = self.bound.iter().position(|b| b.batch == batch) {
            let b = self.bound.remove(at);
            self.bound.push(b);
            return Ok(self.bound.len() - 1);
        }
        let m = &self.package_manifest;
        let alloc = |p: &super::manifest::Port, group: u32| {
            self.device.alloc(batch * p.item_len() * p.elem_bytes(), group).map_err(xrt_failed)
        };
        let inputs = m
            .inputs
            .iter()
            .zip(&self.groups.0)
            .map(|(p, &g)| alloc(p, g))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = m
            .outputs
            .iter()
            .zip(&self.groups.1)
            .map(|(p, &g)| alloc(p, g))
            .collect::<Result<Vec<_>, _>>()?;
        let buffers: Vec<(u32, &Bo)> = m
            .inputs
            .iter()
            .map(|p| p.arg)
            .zip(&inputs)
            .chain(m.outputs.iter().map(|p| p.arg).zip(&outputs))
            .collect();
        let batch_u32 = u32::try_from(batch)
            .map_err(|_| AccelError::InvalidInput(format!("batch {batch} is too large")))?;
        let scalars: Vec<(u32, u32)> = m.batch_arg.map(|a| (a, batch_u32)).into_iter().collect();
        let run = self.kernel.run(&buffers, &scalars).map_err(xrt_failed)?;
        if self.bound.len() >= BOUND_BATCH_SIZES {
            self.bound.remove(0);
        }
        self.bound.push(Bound { batch, run, inputs, outputs });
        Ok(self.bound.len() - 1)
    }
}

impl LoadedModel for FpgaModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        let batch = self.signature.check_inputs(&inputs)?;
        let at = self.bound_for(batch)?;
        let timeout = self.timeout;
        let bound = &mut self.bound[at];
        for (bo, t) in bound.inputs.iter_mut().zip(&inputs) {
            bo.write_to_device(&t.data().to_le_bytes()).map_err(xrt_failed)?;
        }
        bound.run.start_and_wait(timeout).map_err(xrt_failed)?;
        let mut out = Vec::new();
        for (bo, p) in bound.outputs.iter_mut().zip(&self.package_manifest.outputs) {
            let mut bytes = vec![0u8; batch * p.item_len() * p.elem_bytes()];
            bo.read_from_device(&mut bytes).map_err(xrt_failed)?;
            let mut shape = vec![batch];
            shape.extend(p.shape[1..].iter().map(|&d| d as usize));
            let data = TensorData::from_le_bytes(&bytes, p.dtype).map_err(|e| {
                AccelError::Device { reason: format!("output {} read back wrong: {e}", p.name) }
            })?;
            out.push(Tensor::new(shape, data)?);
        }
        Ok(out)
    }
}
