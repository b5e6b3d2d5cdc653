//! Board detection: read a few facts from a sysfs/proc root, pick the best matching profile
//! and say which rule matched.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{builtin_profiles, BoardProfile, BspError, MatchRules};

/// What detection reads off a box.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BoardFacts {
    /// CPU architecture (`x86_64`, `aarch64`): `proc/sys/kernel/arch`, else this build's.
    pub arch: String,
    /// `sys/class/dmi/id/board_name` (x86 boards), when present.
    pub dmi_board_name: Option<String>,
    /// `sys/class/dmi/id/product_name`, when present.
    pub dmi_product_name: Option<String>,
    /// The device tree's `compatible` strings (Arm boards), most specific first.
    pub dt_compatible: Vec<String>,
    /// PCI vendor IDs present (`sys/bus/pci/devices/*/vendor`, `0x10ee`), sorted, once each.
    pub pci_vendors: Vec<String>,
    #[serde(skip)]
    root: PathBuf,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl BoardFacts {
    /// Reads the facts under `root` (`/` on a real box). The architecture comes from
    /// `proc/sys/kernel/arch` when the root has it, else from this build.
    pub fn read(root: &Path) -> BoardFacts {
        let arch = read_trimmed(&root.join("proc/sys/kernel/arch"))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let dmi = root.join("sys/class/dmi/id");
        let compatible = std::fs::read(root.join("proc/device-tree/compatible"))
            .or_else(|_| std::fs::read(root.join("sys/firmware/devicetree/base/compatible")))
            .unwrap_or_default();
        let dt_compatible = compatible
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).to_string())
            .collect();
        let mut pci_vendors: Vec<String> = std::fs::read_dir(root.join("sys/bus/pci/devices"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| read_trimmed(&e.path().join("vendor")))
                    .collect()
            })
            .unwrap_or_default();
        pci_vendors.sort();
        pci_vendors.dedup();
        BoardFacts {
            arch,
            dmi_board_name: read_trimmed(&dmi.join("board_name")),
            dmi_product_name: read_trimmed(&dmi.join("product_name")),
            dt_compatible,
            pci_vendors,
            root: root.to_path_buf(),
        }
    }

    fn device_exists(&self, node: &str) -> bool {
        self.root.join(node.trim_start_matches('/')).exists()
    }
}

/// `*` matches any run of characters; everything else literally, ignoring ASCII case.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// Why each rule kind of a profile matched, or `None` when one does not.
fn explain(rules: &MatchRules, facts: &BoardFacts) -> Option<Vec<String>> {
    let mut why = Vec::new();
    let mut kind = |patterns: &[String], values: &[&str], what: &str| -> bool {
        if patterns.is_empty() {
            return true;
        }
        for p in patterns {
            if let Some(v) = values.iter().find(|v| glob(p, v)) {
                why.push(format!("{what} {v:?} matched {p:?}"));
                return true;
            }
        }
        false
    };
    let board: Vec<&str> = facts.dmi_board_name.iter().map(String::as_str).collect();
    let product: Vec<&str> = facts.dmi_product_name.iter().map(String::as_str).collect();
    let compatible: Vec<&str> = facts.dt_compatible.iter().map(String::as_str).collect();
    let vendors: Vec<&str> = facts.pci_vendors.iter().map(String::as_str).collect();
    let ok = kind(&rules.dmi_board_name, &board, "DMI board_name")
        && kind(&rules.dmi_product_name, &product, "DMI product_name")
        && kind(&rules.dt_compatible, &compatible, "device-tree compatible")
        && kind(&rules.pci_vendors, &vendors, "PCI vendor");
    if !ok {
        return None;
    }
    if !rules.devices.is_empty() {
        let found = rules.devices.iter().find(|d| facts.device_exists(d))?;
        why.push(format!("device node {found} exists"));
    }
    Some(why)
}

/// The profile picked for a box, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// The profile picked: the highest-priority one whose rules match.
    pub profile: BoardProfile,
    /// Which rules matched, in words (`device-tree compatible "..." matched "..."`).
    pub matched: Vec<String>,
    /// What was read off the box.
    pub facts: BoardFacts,
    /// Device nodes the profile expects that this box lacks.
    pub missing_device_nodes: Vec<String>,
}

/// Picks the highest-priority profile of the box's architecture whose rules all match.
pub fn detect(root: &Path) -> Result<Detection, BspError> {
    let facts = BoardFacts::read(root);
    let mut best: Option<(BoardProfile, Vec<String>)> = None;
    for profile in builtin_profiles()? {
        if profile.arch != facts.arch {
            continue;
        }
        let Some(mut why) = explain(&profile.rules, &facts) else { continue };
        if profile.rules.is_empty() {
            why.push(format!("fallback for {} boxes (no specific profile matched)", profile.arch));
        }
        if best.as_ref().is_none_or(|(b, _)| profile.priority > b.priority) {
            best = Some((profile, why));
        }
    }
    let (profile, matched) = best.ok_or_else(|| BspError::NoMatch(facts.arch.clone()))?;
    let missing_device_nodes = profile
        .device_nodes()
        .into_iter()
        .filter(|n| !facts.device_exists(n))
        .map(str::to_string)
        .collect();
    Ok(Detection { profile, matched, facts, missing_device_nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("xlnx,zynqmp-sk-kv260*", "xlnx,zynqmp-sk-kv260-revB"));
        assert!(glob("raspberrypi,5-model-b", "raspberrypi,5-model-b"));
        assert!(!glob("raspberrypi,5-model-b", "raspberrypi,4-model-b"));
        assert!(glob("*NUC*", "Intel NUC11TNHi5"));
        assert!(!glob("a*b", "acx"));
    }
}
