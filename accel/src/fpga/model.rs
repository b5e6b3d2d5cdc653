//! An FPGA package loaded on a device: the kernel, and per batch size its buffers and a run
//! handle with every argument bound, made once and reused.

use std::time::Duration;

use super::manifest::Manifest;
use super::xrt::{Bo, Device, Kernel, Run, XclbinHandle};
use super::{xrt_failed, Package};
use crate::bound::BoundBatches;
use crate::{AccelError, LoadedModel, Signature, Tensor, TensorData};

/// Buffers and a run for one batch size. Field order is drop order: the run before its buffers.
struct Bound {
    run: Run,
    inputs: Vec<Bo>,
    outputs: Vec<Bo>,
}

/// A kernel loaded on an FPGA. Field order is drop order: runs and buffers, then the kernel,
/// the xclbin and the device.
pub struct FpgaModel {
    bound: BoundBatches<Bound>,
    kernel: Kernel,
    _xclbin: XclbinHandle,
    device: Device,
    package_manifest: Manifest,
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
            bound: BoundBatches::default(),
            kernel,
            _xclbin: xclbin,
            device,
            signature: manifest.signature(),
            package_manifest: manifest,
            groups,
            banks: package.xclbin.used_banks(),
            timeout,
        };
        // Allocates now, so a package that cannot run fails at load.
        let parts = (&model.package_manifest, &model.device, &model.kernel, &model.groups);
        model.bound.get_or_bind(1, |b| bind_batch(parts, b))?;
        Ok(model)
    }

    /// Memory banks of the loaded xclbin.
    pub fn banks(&self) -> &[String] {
        &self.banks
    }
}

/// What binding a batch size needs: the manifest, device, kernel and argument memory groups.
type Parts<'a> = (&'a Manifest, &'a Device, &'a Kernel, &'a (Vec<u32>, Vec<u32>));

/// Allocates a batch size's buffers in their arguments' memory groups and binds a run to them.
fn bind_batch((m, device, kernel, groups): Parts<'_>, batch: usize) -> Result<Bound, AccelError> {
    let alloc = |p: &super::manifest::Port, group: u32| {
        device.alloc(batch * p.item_len() * p.elem_bytes(), group).map_err(xrt_failed)
    };
    let inputs =
        m.inputs.iter().zip(&groups.0).map(|(p, &g)| alloc(p, g)).collect::<Result<Vec<_>, _>>()?;
    let outputs = m
        .outputs
        .iter()
        .zip(&groups.1)
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
    let run = kernel.run(&buffers, &scalars).map_err(xrt_failed)?;
    Ok(Bound { run, inputs, outputs })
}

impl LoadedModel for FpgaModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Runs at the batch's power-of-two bucket (rows padded with zeros, outputs sliced back).
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        let timeout = self.timeout;
        let parts = (&self.package_manifest, &self.device, &self.kernel, &self.groups);
        let (bound, manifest) = (&mut self.bound, &self.package_manifest);
        crate::bound::padded_run(&self.signature, inputs, |batch, inputs| {
            run_bound(
                bound.get_or_bind(batch, |b| bind_batch(parts, b))?,
                manifest,
                batch,
                &inputs,
                timeout,
            )
        })
    }
}

/// Copies `inputs` (`batch` rows) in, runs the kernel and reads the outputs back.
fn run_bound(
    bound: &mut Bound,
    manifest: &Manifest,
    batch: usize,
    inputs: &[Tensor],
    timeout: Duration,
) -> Result<Vec<Tensor>, AccelError> {
    for (bo, t) in bound.inputs.iter_mut().zip(inputs) {
        bo.write_to_device(&t.data().to_le_bytes()).map_err(xrt_failed)?;
    }
    bound.run.start_and_wait(timeout).map_err(xrt_failed)?;
    let mut out = Vec::new();
    for (bo, p) in bound.outputs.iter_mut().zip(&manifest.outputs) {
        let mut bytes = vec![0u8; batch * p.item_len() * p.elem_bytes()];
        bo.read_from_device(&mut bytes).map_err(xrt_failed)?;
        let mut shape = vec![batch];
        shape.extend(p.shape[1..].iter().map(|&d| d as usize));
        let data = TensorData::from_le_bytes(&bytes, p.dtype).map_err(|e| AccelError::Device {
            reason: format!("output {} read back wrong: {e}", p.name),
        })?;
        out.push(Tensor::new(shape, data)?);
    }
    Ok(out)
}
