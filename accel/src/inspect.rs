//! The one HAL call through which the daemon inspects any artifact without naming a backend:
//! what files it consists of, its signature, and which targets can run it (SPEC §2).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cpu::proto;
use crate::{AccelError, Backends, ModelArtifact, Signature, Target};

/// A file of an artifact: its name inside the repository folder, and where it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Path relative to the model version's folder (`model.onnx`, `model.onnx.data`, ...).
    pub name: PathBuf,
    /// Where the file is now (the upload, or the repository copy).
    pub source: PathBuf,
}

/// Whether one target can run the artifact, and if not, why (the first thing it lacks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetFit {
    /// The target judged.
    pub target: Target,
    /// Whether the target can run the artifact.
    pub supported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why not, when it cannot: the first thing it lacks.
    pub reason: Option<String>,
}

/// What [`Backends::inspect`] found.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The files to copy, the model file first.
    pub files: Vec<ArtifactFile>,
    /// The signature a backend reported, else the one the ONNX graph declares.
    pub signature: Signature,
    /// Every target, in order.
    pub targets: Vec<TargetFit>,
}

/// The artifact at `source`: an ONNX file of any name, a folder with `model.onnx`, or a folder
/// with an FPGA package (`model.xclbin` + `kernel.toml`).
fn locate(source: &Path) -> Result<(ModelArtifact, Vec<ArtifactFile>), AccelError> {
    let unreadable = |e| AccelError::ArtifactUnreadable { path: source.into(), source: e };
    let meta = std::fs::metadata(source).map_err(unreadable)?;
    let file = |name: &str, path: PathBuf| ArtifactFile { name: name.into(), source: path };
    if meta.is_file() {
        let artifact = ModelArtifact::onnx_file(source);
        return Ok((artifact, vec![file("model.onnx", source.to_path_buf())]));
    }
    if source.join("model.xclbin").is_file() {
        let mut files = vec![file("model.xclbin", source.join("model.xclbin"))];
        if source.join("kernel.toml").is_file() {
            files.push(file("kernel.toml", source.join("kernel.toml")));
        }
        return Ok((ModelArtifact::new(source), files));
    }
    if source.join("model.onnx").is_file() {
        return Ok((
            ModelArtifact::new(source),
            vec![file("model.onnx", source.join("model.onnx"))],
        ));
    }
    Err(AccelError::InvalidModel {
        path: source.into(),
        reason: "the folder holds no model.onnx (ONNX) or model.xclbin + kernel.toml (FPGA)".into(),
    })
}

impl Backends {
    /// Inspects the artifact at `source` on every backend, without a device.
    ///
    /// Errors when the artifact itself is broken for every target: unreadable, not ONNX, a
    /// referenced external data file missing or outside its folder, an FPGA package whose
    /// parts disagree. A model some target cannot run is not an error: its [`TargetFit`] says
    /// why.
    pub fn inspect(&self, source: &Path) -> Result<Inspection, AccelError> {
        let (artifact, mut files) = locate(source)?;
        let mut declared = None;
        if !artifact.is_fpga_package() {
            let onnx = proto::read(&artifact.onnx_path())?;
            for rel in &onnx.external {
                files.push(ArtifactFile { name: rel.clone(), source: artifact.dir().join(rel) });
            }
            declared = Some(onnx);
        }
        let mut signature = None;
        let mut targets = Vec::new();
        for target in Target::ALL {
            let verdict = self.get(target).and_then(|b| b.inspect(&artifact));
            match verdict {
                Ok(found) => {
                    if signature.is_none() {
                        signature = found;
                    }
                    targets.push(TargetFit { target, supported: true, reason: None });
                }
                Err(
                    e @ (AccelError::InvalidModel { .. } | AccelError::ArtifactUnreadable { .. }),
                ) if target == Target::Cpu || artifact.is_fpga_package() => {
                    return Err(e);
                }
                Err(e) => targets.push(TargetFit {
                    target,
                    supported: false,
                    reason: Some(e.to_string()),
                }),
            }
        }
        let signature = match (signature, declared) {
            (Some(s), _) => s,
            (None, Some(onnx)) => declared_signature(&onnx, source)?,
            (None, None) => {
                return Err(AccelError::InvalidModel {
                    path: source.into(),
                    reason: "no target could read its signature".into(),
                })
            }
        };
        Ok(Inspection { files, signature, targets })
    }
}

/// The signature the ONNX graph declares, for models no backend could load.
fn declared_signature(onnx: &proto::OnnxFile, source: &Path) -> Result<Signature, AccelError> {
    let (inputs, outputs) = proto::declared(onnx);
    let complete = |specs: Vec<Option<crate::TensorSpec>>, what: &str| {
        specs.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| AccelError::Unsupported {
            what: format!("{what} of {} whose type edgeserve cannot describe", source.display()),
        })
    };
    let mut signature = Signature {
        inputs: complete(inputs, "an input")?,
        outputs: complete(outputs, "an output")?,
        zipmaps: onnx.zipmaps.clone(),
    };
    onnx.f16.restore(&mut signature);
    Ok(signature)
}
