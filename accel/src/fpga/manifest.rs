//! `kernel.toml`: how an FPGA package's tensors map onto its kernel's arguments (SPEC §2).
//!
//! ```toml
//! kernel = "mlp_infer"
//! [[input]]
//! name = "x"
//! dtype = "f32"
//! shape = [-1, 784]
//! arg = 0
//! [[output]]
//! name = "y"
//! dtype = "f32"
//! shape = [-1, 10]
//! arg = 1
//! [batch]
//! arg = 2
//! ```

use serde::Deserialize;

use super::xclbin::Xclbin;
use crate::{DType, Signature, TensorSpec, DYNAMIC};

/// A parsed and checked `kernel.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The kernel's name, as the xclbin's EMBEDDED_METADATA names it (`kernel = "..."`).
    pub kernel: String,
    /// The model's inputs (`[[input]]` tables), in file order: the order requests give them.
    pub inputs: Vec<Port>,
    /// The model's outputs (`[[output]]` tables), in file order.
    pub outputs: Vec<Port>,
    /// The scalar argument receiving the batch size, if the kernel takes one.
    pub batch_arg: Option<u32>,
}

/// One tensor bound to a buffer argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The tensor's name in requests and responses.
    pub name: String,
    /// Element type (`dtype = "f32"`, ...); the buffer holds little-endian elements of it.
    pub dtype: DType,
    /// Batch first (-1), then fixed dimensions.
    pub shape: Vec<i64>,
    /// Index of the kernel's global-memory (buffer) argument that holds this tensor.
    pub arg: u32,
}

impl Port {
    /// Elements of one batch item.
    pub fn item_len(&self) -> usize {
        self.shape[1..].iter().map(|&d| d as usize).product()
    }

    /// Bytes of one element.
    pub fn elem_bytes(&self) -> usize {
        self.dtype.size()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    kernel: String,
    #[serde(default)]
    input: Vec<RawPort>,
    #[serde(default)]
    output: Vec<RawPort>,
    batch: Option<RawBatch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: String,
    dtype: String,
    shape: Vec<i64>,
    arg: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    arg: u32,
}

/// Why a `kernel.toml` was refused (or does not fit its xclbin); messages name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("kernel.toml is not valid: {0}")]
    /// The file is not TOML, or has a key or type `kernel.toml` does not define; the parser's
    /// message.
    Syntax(String),
    #[error("kernel.toml: {0}")]
    /// A field has a value the FPGA backend cannot use (unknown dtype, bad shape, repeated
    /// name or argument); the message names the field.
    Field(String),
    #[error(
        "kernel.toml names kernel {kernel:?}, which the xclbin does not have (it has: {have})"
    )]
    /// `kernel` is not a kernel of the xclbin; `have` lists the kernels it has, comma-separated.
    NoKernel {
        /// The name `kernel.toml` gives.
        kernel: String,
        /// The xclbin's kernel names, comma-separated.
        have: String,
    },
    #[error(
        "kernel.toml: {port} uses argument {arg} of kernel {kernel}, which has {count} arguments"
    )]
    /// Tensor `port` names argument `arg`, but `kernel` takes only `count` arguments.
    ArgOutOfRange {
        /// The tensor (or `batch`) naming the argument.
        port: String,
        /// The argument index given.
        arg: u32,
        /// The kernel's name.
        kernel: String,
        /// How many arguments the kernel has.
        count: usize,
    },
    #[error("kernel.toml: {port} uses argument {arg} ({name}) of kernel {kernel}, which is {is}, not {want}")]
    /// Tensor `port` (or the batch) names argument `arg`, called `name` in `kernel`, whose kind
    /// `is` (buffer or scalar) is not the `want`ed one.
    ArgKind {
        /// The tensor (or `batch`) naming the argument.
        port: String,
        /// The argument index given.
        arg: u32,
        /// The argument's name in the kernel.
        name: String,
        /// The kernel's name.
        kernel: String,
        /// What the argument is: `a buffer` or `a scalar`.
        is: &'static str,
        /// What the tensor needs it to be.
        want: &'static str,
    },
}

fn field(msg: impl Into<String>) -> ManifestError {
    ManifestError::Field(msg.into())
}

impl Manifest {
    /// Parses and checks a manifest on its own (names, dtypes, shapes, distinct arguments).
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        if raw.kernel.trim().is_empty() {
            return Err(field("kernel must not be empty"));
        }
        if raw.input.is_empty() || raw.output.is_empty() {
            return Err(field("at least one [[input]] and one [[output]] are needed"));
        }
        let port = |p: RawPort, what: &str| -> Result<Port, ManifestError> {
            // Kernel buffers hold fixed-size elements: no text.
            let dtype = DType::parse(&p.dtype).filter(|d| *d != DType::Str).ok_or_else(|| {
                field(format!(
                    "{what} {}: unknown dtype {:?} (f32, f16, f64, i64, i32, u8, bool)",
                    p.name, p.dtype
                ))
            })?;
            let batch_ok = p.shape.first() == Some(&DYNAMIC);
            if !batch_ok || p.shape.len() < 2 || p.shape[1..].iter().any(|&d| d <= 0) {
                return Err(field(format!(
                    "{what} {}: shape {:?} must be [-1, d1, ...] with positive d1, ...",
                    p.name, p.shape
                )));
            }
            if p.name.is_empty() {
                return Err(field(format!("an {what} has an empty name")));
            }
            Ok(Port { name: p.name, dtype, shape: p.shape, arg: p.arg })
        };
        let inputs =
            raw.input.into_iter().map(|p| port(p, "input")).collect::<Result<Vec<_>, _>>()?;
        let outputs =
            raw.output.into_iter().map(|p| port(p, "output")).collect::<Result<Vec<_>, _>>()?;
        let batch_arg = raw.batch.map(|b| b.arg);
        let mut args: Vec<u32> = inputs.iter().chain(&outputs).map(|p| p.arg).collect();
        args.extend(batch_arg);
        let mut seen = Vec::new();
        for a in args {
            if seen.contains(&a) {
                return Err(field(format!("argument {a} is used twice")));
            }
            seen.push(a);
        }
        let mut names: Vec<&str> = Vec::new();
        for p in inputs.iter().chain(&outputs) {
            if names.contains(&p.name.as_str()) {
                return Err(field(format!("tensor name {} is used twice", p.name)));
            }
            names.push(&p.name);
        }
        Ok(Manifest { kernel: raw.kernel, inputs, outputs, batch_arg })
    }

    /// Checks the manifest against the xclbin: the kernel exists, every argument index exists,
    /// tensors sit on buffer arguments and the batch size on a scalar.
    pub fn check_against(&self, xclbin: &Xclbin) -> Result<(), ManifestError> {
        let kernel = xclbin.kernel(&self.kernel).ok_or_else(|| ManifestError::NoKernel {
            kernel: self.kernel.clone(),
            have: xclbin.kernels.iter().map(|k| k.name.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        let check = |port: String, arg: u32, want_buffer: bool| {
            let a = kernel.args.iter().find(|a| a.index == arg).ok_or_else(|| {
                ManifestError::ArgOutOfRange {
                    port: port.clone(),
                    arg,
                    kernel: kernel.name.clone(),
                    count: kernel.args.len(),
                }
            })?;
            let is = if a.global { "a buffer" } else { "a scalar" };
            if a.global != want_buffer {
                return Err(ManifestError::ArgKind {
                    port,
                    arg,
                    name: a.name.clone(),
                    kernel: kernel.name.clone(),
                    is,
                    want: if want_buffer { "a buffer" } else { "a scalar" },
                });
            }
            Ok(())
        };
        for p in &self.inputs {
            check(format!("input {}", p.name), p.arg, true)?;
        }
        for p in &self.outputs {
            check(format!("output {}", p.name), p.arg, true)?;
        }
        if let Some(arg) = self.batch_arg {
            check("[batch]".into(), arg, false)?;
        }
        Ok(())
    }

    /// The model's signature.
    pub fn signature(&self) -> Signature {
        let spec =
            |p: &Port| TensorSpec { name: p.name.clone(), dtype: p.dtype, shape: p.shape.clone() };
        Signature {
            inputs: self.inputs.iter().map(spec).collect(),
            outputs: self.outputs.iter().map(spec).collect(),
            zipmaps: Default::default(),
        }
    }
}

/// Entry point of the `kernel_toml` fuzz target: parsing never panics, whatever the text.
pub fn fuzz_parse(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = Manifest::parse(text);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::xclbin::builder::XclbinBuilder;
    use super::*;

    pub(crate) const GOOD: &str = "kernel = \"mlp_infer\"\n\
        [[input]]\nname = \"x\"\ndtype = \"f32\"\nshape = [-1, 4]\narg = 0\n\
        [[output]]\nname = \"y\"\ndtype = \"f32\"\nshape = [-1, 3]\narg = 1\n\
        [batch]\narg = 2\n";

    fn xclbin() -> Xclbin {
        Xclbin::parse(&XclbinBuilder::new("p").model_kernel("mlp_infer").build()).unwrap()
    }

    #[test]
    fn a_good_manifest_fits_its_xclbin() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.batch_arg, Some(2));
        m.check_against(&xclbin()).unwrap();
        assert_eq!(m.signature().inputs[0].shape, vec![-1, 4]);
    }

    #[test]
    fn field_errors_are_named() {
        let cases = [
            (
                GOOD.replace("\"f32\"\nshape = [-1, 4]", "\"f8\"\nshape = [-1, 4]"),
                "unknown dtype \"f8\"",
            ),
            (
                GOOD.replace("\"f32\"\nshape = [-1, 4]", "\"str\"\nshape = [-1, 4]"),
                "unknown dtype \"str\"",
            ),
            (GOOD.replace("[-1, 4]", "[4, 4]"), "shape [4, 4] must be [-1, d1, ...]"),
            (GOOD.replace("arg = 1", "arg = 0"), "argument 0 is used twice"),
            (GOOD.replace("kernel =", "kernal ="), "unknown field `kernal`"),
            (GOOD.replace("arg = 2", "arg = 2\nspeed = 1"), "unknown field `speed`"),
        ];
        for (text, want) in cases {
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn mismatches_with_the_xclbin_are_named() {
        let x = xclbin();
        let err = Manifest::parse(&GOOD.replace("mlp_infer", "cnn_infer"))
            .unwrap()
            .check_against(&x)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel.toml names kernel \"cnn_infer\", which the xclbin does not have (it has: mlp_infer)"
        );
        let err = Manifest::parse(&GOOD.replace("arg = 1", "arg = 7"))
            .unwrap()
            .check_against(&x)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel.toml: output y uses argument 7 of kernel mlp_infer, which has 3 arguments"
        );
        let err =
            Manifest::parse(&GOOD.replace("arg = 2", "arg = 9").replace("arg = 1", "arg = 2"))
                .unwrap()
                .check_against(&x)
                .unwrap_err();
        assert!(
            err.to_string().contains("(n) of kernel mlp_infer, which is a scalar, not a buffer"),
            "{err}"
        );
    }
}
