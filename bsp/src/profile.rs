//! Board profiles: what a kind of box is, how to recognise it, and what it needs.

use serde::Deserialize;

use crate::BspError;

/// The profiles shipped with edgeserve, embedded at build time.
const BUILTIN: [(&str, &str); 6] = [
    ("generic-x86_64", include_str!("../boards/generic-x86_64.toml")),
    ("generic-aarch64", include_str!("../boards/generic-aarch64.toml")),
    ("x86_64-opencl-gpu", include_str!("../boards/x86_64-opencl-gpu.toml")),
    ("x86_64-alveo", include_str!("../boards/x86_64-alveo.toml")),
    ("kria-kv260", include_str!("../boards/kria-kv260.toml")),
    ("raspberrypi-5", include_str!("../boards/raspberrypi-5.toml")),
];

/// Rules that recognise a board; every kind given must match (any of its patterns). A profile
/// with no rules matches any box of its architecture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRules {
    /// Patterns for `/sys/class/dmi/id/board_name` (`*` matches any run of characters).
    #[serde(default)]
    pub dmi_board_name: Vec<String>,
    /// Patterns for `/sys/class/dmi/id/product_name`.
    #[serde(default)]
    pub dmi_product_name: Vec<String>,
    /// Patterns for any entry of the device tree's `compatible`.
    #[serde(default)]
    pub dt_compatible: Vec<String>,
    /// PCI vendor ids (`0x10ee`) of which some device must be present.
    #[serde(default)]
    pub pci_vendors: Vec<String>,
    /// Device nodes of which one must exist.
    #[serde(default)]
    pub devices: Vec<String>,
}

impl MatchRules {
    /// Whether no rule is given.
    pub fn is_empty(&self) -> bool {
        *self == MatchRules::default()
    }
}

/// An accelerator a board is expected to have.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Accelerator {
    /// `cpu`, `gpu` or `fpga`.
    pub target: String,
    /// Device nodes the daemon must reach (systemd `DeviceAllow=`, udev permissions).
    #[serde(default)]
    pub device_nodes: Vec<String>,
    /// Groups the service user needs for them.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A board profile (`bsp/boards/NAME.toml`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BoardProfile {
    /// The profile's name (its file stem), as `daemon.board` names it.
    pub name: String,
    /// One line for `edgeserve board list`.
    pub description: String,
    /// `x86_64` or `aarch64`.
    pub arch: String,
    /// Higher wins when several profiles match.
    #[serde(default)]
    pub priority: i32,
    #[serde(default, rename = "match")]
    /// When the profile fits a box (`[match]`); a profile with no rules is chosen only by name.
    pub rules: MatchRules,
    #[serde(default, rename = "accelerator")]
    /// The accelerators the board carries (`[[accelerator]]`), with the device nodes they need.
    pub accelerators: Vec<Accelerator>,
    #[serde(default)]
    /// udev rule lines giving the daemon's group access to the accelerators' device nodes, as
    /// `edgeserve board udev-rules` prints them.
    pub udev_rules: Vec<String>,
    /// Config defaults for this board (same keys as edgeserve.toml; the config file wins).
    #[serde(default)]
    pub config: toml::Table,
}

impl BoardProfile {
    /// Parses a profile, checking its fields.
    pub fn parse(name: &str, text: &str) -> Result<BoardProfile, BspError> {
        let bad = |reason: String| BspError::BadProfile { name: name.to_string(), reason };
        let p: BoardProfile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if p.name != name {
            return Err(bad(format!("its name field says {}", p.name)));
        }
        if !["x86_64", "aarch64"].contains(&p.arch.as_str()) {
            return Err(bad(format!("arch {} is not x86_64 or aarch64", p.arch)));
        }
        if let Some(a) =
            p.accelerators.iter().find(|a| !["cpu", "gpu", "fpga"].contains(&a.target.as_str()))
        {
            return Err(bad(format!("accelerator target {} is not cpu, gpu or fpga", a.target)));
        }
        Ok(p)
    }

    /// Every device node the board's accelerators use.
    pub fn device_nodes(&self) -> Vec<&str> {
        self.accelerators.iter().flat_map(|a| a.device_nodes.iter().map(String::as_str)).collect()
    }
}

/// Every shipped profile.
pub fn builtin_profiles() -> Result<Vec<BoardProfile>, BspError> {
    BUILTIN.iter().map(|(name, text)| BoardProfile::parse(name, text)).collect()
}

/// The shipped profile with this name.
pub fn profile_by_name(name: &str) -> Result<BoardProfile, BspError> {
    let all = builtin_profiles()?;
    let known = all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    all.iter()
        .find(|p| p.name == name)
        .cloned()
        .ok_or_else(|| BspError::UnknownBoard(name.to_string(), known))
}
