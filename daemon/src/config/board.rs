//! `daemon.board`: the board profile whose config defaults apply beneath the config file.

use std::path::Path;

use super::ConfigError;

/// The profile's config defaults as TOML, for `auto` (detected on this box) or a profile name.
pub(super) fn defaults(board: &str) -> Result<Option<String>, ConfigError> {
    let profile = if board == "auto" {
        match edgeserve_bsp::detect(Path::new("/")) {
            Ok(d) => d.profile,
            Err(e) => {
                tracing::warn!(error = %e, "board detection found no profile; using plain defaults");
                return Ok(None);
            }
        }
    } else {
        edgeserve_bsp::profile_by_name(board).map_err(|e| ConfigError::Invalid {
            key: "daemon.board".into(),
            reason: e.to_string(),
        })?
    };
    if profile.config.is_empty() {
        return Ok(None);
    }
    toml::to_string(&profile.config).map(Some).map_err(|e| ConfigError::Invalid {
        key: "daemon.board".into(),
        reason: format!("profile {}: {e}", profile.name),
    })
}
