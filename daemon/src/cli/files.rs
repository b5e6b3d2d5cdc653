//! Reading the CLI's input files (TOML or JSON) and `key=value` arguments.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Why an input file or argument was refused.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    /// The file at `path` could not be read.
    Read {
        /// The file.
        path: String,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid {format}: {reason}")]
    /// The file at `path` is not valid `format` (JSON, TOML); `reason` is the parser's message.
    Parse {
        /// The file.
        path: String,
        /// `JSON` or `TOML`.
        format: &'static str,
        /// The parser's message, with the line when it has one.
        reason: String,
    },
    #[error("{0}")]
    /// A command-line value is refused; the message names the flag and the fix.
    Argument(String),
}

/// Reads a TOML (`.toml`) or JSON file into a JSON value.
pub fn read_document(path: &Path) -> Result<Value, InputError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| InputError::Read { path: shown.clone(), source })?;
    let is_toml = path.extension().and_then(|e| e.to_str()) == Some("toml");
    if is_toml {
        let table: toml::Table = toml::from_str(&text).map_err(|e| InputError::Parse {
            path: shown.clone(),
            format: "TOML",
            reason: e.to_string(),
        })?;
        serde_json::to_value(table).map_err(|e| InputError::Parse {
            path: shown,
            format: "TOML",
            reason: e.to_string(),
        })
    } else {
        serde_json::from_str(&text).map_err(|e| InputError::Parse {
            path: shown,
            format: "JSON",
            reason: e.to_string(),
        })
    }
}

/// Parses `a=90,b=10` into whole percentages.
pub fn percentages(spec: &str) -> Result<BTreeMap<String, u32>, InputError> {
    let mut out = BTreeMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, pct) = part.split_once('=').ok_or_else(|| {
            InputError::Argument(format!("\"{part}\" must be DEPLOYMENT=PERCENT"))
        })?;
        let pct: u32 = pct.trim().parse().map_err(|_| {
            InputError::Argument(format!("\"{pct}\" in \"{part}\" is not a whole percentage"))
        })?;
        out.insert(name.trim().to_string(), pct);
    }
    Ok(out)
}

/// Parses `--set key=value`; values that read as JSON (numbers, booleans) keep their type.
pub fn assignment(spec: &str) -> Result<(String, Value), InputError> {
    let (key, value) = spec
        .split_once('=')
        .ok_or_else(|| InputError::Argument(format!("--set \"{spec}\" must be KEY=VALUE")))?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.trim().to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_and_refuse_garbage() {
        let p = percentages("blue=90, green=10").unwrap();
        assert_eq!(p.get("blue"), Some(&90));
        assert_eq!(p.get("green"), Some(&10));
        assert!(percentages("blue").is_err());
        assert!(percentages("blue=ninety").is_err());
    }

    #[test]
    fn assignments_keep_types() {
        assert_eq!(
            assignment("instance_count=2").unwrap(),
            ("instance_count".into(), Value::from(2))
        );
        assert_eq!(assignment("model=m:2").unwrap(), ("model".into(), Value::from("m:2")));
        assert!(assignment("nothing").is_err());
    }
}
