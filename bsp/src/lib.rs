//! Board support for edgeserve: board profiles (data files in `bsp/boards/`) and detection of
//! the profile that fits the box, from a sysfs/proc root that tests point at a fixture tree.

mod detect;
mod profile;

pub use detect::{detect, BoardFacts, Detection};
pub use profile::{builtin_profiles, profile_by_name, Accelerator, BoardProfile, MatchRules};

/// Why board support failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BspError {
    /// A profile file (built in or under `bsp/boards/`) does not parse or fails its checks.
    #[error("board profile {name}: {reason}")]
    BadProfile {
        /// The profile's name (its file stem).
        name: String,
        /// What is wrong, with the TOML key when there is one.
        reason: String,
    },
    /// `daemon.board` names no known profile: the name asked for, then the known names,
    /// comma-separated.
    #[error("no board profile named {0:?} (known: {1})")]
    UnknownBoard(String, String),
    /// Detection found no profile whose match rules fit; the box's architecture (`uname -m`).
    #[error("no board profile matches this {0} box")]
    NoMatch(String),
}
