//! EMBEDDED_METADATA: the XML that describes each kernel's arguments (what XRT itself reads to
//! open a kernel).

use std::collections::HashMap;

use super::XclbinError;

/// One kernel argument: its index, name and whether it is a buffer (global memory) or a scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelArg {
    /// `id`: the argument's index, as `xrtRunSetArg` takes it.
    pub index: u32,
    /// `name`: the argument's name in the kernel source.
    pub name: String,
    /// `addressQualifier` 1: a pointer to global memory.
    pub global: bool,
    /// `type`: its C type (`float*`, `unsigned int`).
    pub type_name: String,
}

fn meta(reason: impl Into<String>) -> XclbinError {
    XclbinError::Metadata(reason.into())
}

/// Kernel name → its arguments, in index order.
pub(super) fn kernel_args(xml: &[u8]) -> Result<HashMap<String, Vec<KernelArg>>, XclbinError> {
    let text = std::str::from_utf8(xml.strip_suffix(&[0]).unwrap_or(xml))
        .map_err(|_| meta("not UTF-8 text"))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| meta(format!("not XML: {e}")))?;
    let mut out = HashMap::new();
    for kernel in doc.descendants().filter(|n| n.has_tag_name("kernel")) {
        let name = kernel.attribute("name").ok_or_else(|| meta("a <kernel> has no name"))?;
        let mut args = Vec::new();
        for arg in kernel.children().filter(|n| n.has_tag_name("arg")) {
            let arg_name = arg.attribute("name").unwrap_or_default().to_string();
            let id = arg.attribute("id").and_then(|v| v.parse::<u32>().ok()).ok_or_else(|| {
                meta(format!("kernel {name} argument {arg_name:?} has no numeric id"))
            })?;
            args.push(KernelArg {
                index: id,
                name: arg_name,
                global: arg.attribute("addressQualifier") == Some("1"),
                type_name: arg.attribute("type").unwrap_or_default().to_string(),
            });
        }
        args.sort_by_key(|a| a.index);
        out.insert(name.to_string(), args);
    }
    Ok(out)
}
