//! Reads the config file and environment overrides through the `config` crate.

use std::collections::HashMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};

use super::{ConfigError, Settings};

/// Where the daemon looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/edgeserve/edgeserve.toml";

/// Keys whose environment overrides are comma-separated lists.
const LIST_KEYS: [&str; 3] = ["tls.listen", "plain.listen", "network.allowed_networks"];

/// Loads and validates a config file (absent is fine only for the default path) plus overrides.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
    let (path, required) = match path {
        Some(p) => (p, true),
        None => (Path::new(DEFAULT_CONFIG_PATH), false),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
    };
    build(&text, &path.display().to_string(), env_overrides())
}

/// Loads settings from TOML text (with the process's environment overrides).
pub fn load_from_str(text: &str, origin: &str) -> Result<Settings, ConfigError> {
    build(text, origin, env_overrides())
}

/// Loads settings from TOML text with the given environment overrides.
pub(super) fn build(
    text: &str,
    origin: &str,
    env: HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let mut env_source = Environment::default()
        .prefix("EDGESERVE")
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .source(Some(env.clone()));
    for key in LIST_KEYS {
        env_source = env_source.with_list_parse_key(key);
    }
    let parse_error = |e: config::ConfigError| {
        let message = e.to_string();
        // A bad environment override names its variable, not the file it does not come from.
        match env_variable_of(&message).or_else(|| unknown_env_field(&message, &env)) {
            Some(var) => ConfigError::Parse {
                origin: format!("environment variable {var}"),
                message: message.replace(" in the environment", ""),
            },
            None => ConfigError::Parse { origin: origin.to_string(), message },
        }
    };
    let assemble = |board_defaults: &str| -> Result<Settings, ConfigError> {
        Config::builder()
            .add_source(File::from_str(board_defaults, FileFormat::Toml))
            .add_source(File::from_str(text, FileFormat::Toml))
            .add_source(env_source.clone())
            .build()
            .map_err(parse_error)?
            .try_deserialize()
            .map_err(parse_error)
    };
    let first = assemble("")?;
    strict_types(text)?;
    // The board profile's defaults sit beneath the file: the file and the environment win.
    let settings = match super::board::defaults(&first.daemon.board)? {
        Some(defaults) => assemble(&defaults)?,
        None => first,
    };
    settings.validate()?;
    Ok(settings)
}

/// Checks the file's own values against the settings' types without the `config` crate's
/// coercions, which would silently round `max_body_bytes = 1.5` to 2 or read `"256"` as 256:
/// a value of the wrong type is refused with its key's full name.
fn strict_types(text: &str) -> Result<(), ConfigError> {
    let de = toml::Deserializer::new(text);
    match serde_path_to_error::deserialize::<_, Settings>(de) {
        Ok(_) => Ok(()),
        Err(e) => {
            let key = e.path().to_string();
            let reason = e.into_inner().message().trim().to_string();
            Err(ConfigError::Invalid { key, reason })
        }
    }
}

/// An `EDGESERVE_*` variable whose key is the unknown field a `config` error names.
fn unknown_env_field(message: &str, env: &HashMap<String, String>) -> Option<String> {
    let field = message.split("unknown field `").nth(1)?.split('`').next()?;
    let suffix = format!("__{}", field.to_uppercase());
    env.keys().find(|k| k.ends_with(&suffix)).cloned()
}

/// The variable behind a `config` error about "key `section.key` in the environment".
fn env_variable_of(message: &str) -> Option<String> {
    if !message.ends_with("in the environment") {
        return None;
    }
    let key = message.split("key `").nth(1)?.split('`').next()?;
    Some(format!("EDGESERVE_{}", key.replace('.', "__").to_uppercase()))
}

/// `EDGESERVE_SECTION__KEY` variables only: others (like the CLI's `EDGESERVE_SOCKET`) are not
/// configuration and must not be mistaken for unknown keys.
fn env_overrides() -> HashMap<String, String> {
    std::env::vars().filter(|(k, _)| k.starts_with("EDGESERVE_") && k.contains("__")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        build(text, "test.toml", HashMap::new())
    }

    #[test]
    fn values_of_the_wrong_type_are_refused_not_coerced() {
        let err = parse("[limits]\nmax_body_bytes = 1.5\n").unwrap_err().to_string();
        assert!(err.starts_with("config key limits.max_body_bytes: invalid type"), "{err}");
        let err = parse("[[deployment]]\nname = \"b\"\nendpoint = \"e\"\nmodel = \"m:1\"\nmax_queue = \"256\"\n[[endpoint]]\nname = \"e\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("deployment[0].max_queue"), "{err}");
    }

    #[test]
    fn empty_file_gives_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.tls.listen, vec!["0.0.0.0:8443"]);
        assert_eq!(s.limits.max_body_bytes, 67_108_864);
        assert_eq!(s.daemon.control_socket, Path::new("/run/edgeserve/control.sock"));
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let err = parse("[limits]\nmax_body_byte = 3\n").unwrap_err().to_string();
        assert!(err.contains("max_body_byte"), "{err}");
        let err = parse("[bogus]\nx = 1\n").unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = parse("[limits]\nmax_body_bytes = \"lots\"\n").unwrap_err().to_string();
        assert!(err.contains("max_body_bytes"), "{err}");
        let err = parse("[tls]\nlisten = [\"nowhere\"]\n").unwrap_err().to_string();
        assert!(err.contains("tls.listen"), "{err}");
    }

    #[test]
    fn env_overrides_apply_with_double_underscore() {
        let env = HashMap::from([
            ("EDGESERVE_LIMITS__MAX_BODY_BYTES".to_string(), "1024".to_string()),
            ("EDGESERVE_TLS__LISTEN".to_string(), "127.0.0.1:1,127.0.0.1:2".to_string()),
        ]);
        let s = build("", "test.toml", env).unwrap();
        assert_eq!(s.limits.max_body_bytes, 1024);
        assert_eq!(s.tls.listen, vec!["127.0.0.1:1", "127.0.0.1:2"]);
    }

    #[test]
    fn a_named_board_applies_its_defaults_beneath_the_file() {
        let s = parse("[daemon]\nboard = \"raspberrypi-5\"\n").unwrap();
        assert_eq!(s.limits.max_connections, 256);
        let s =
            parse("[daemon]\nboard = \"raspberrypi-5\"\n[limits]\nmax_connections = 9\n").unwrap();
        assert_eq!(s.limits.max_connections, 9, "the file wins over the board");
        let err = parse("[daemon]\nboard = \"toaster\"\n").unwrap_err().to_string();
        assert!(
            err.starts_with("config key daemon.board: no board profile named \"toaster\""),
            "{err}"
        );
    }

    #[test]
    fn declarations_are_read() {
        let s = parse(
            r#"
            [[model]]
            name = "mlp"
            version = "1"
            path = "/models/mlp"
            [[endpoint]]
            name = "e"
            traffic = { blue = 100 }
            [[deployment]]
            name = "blue"
            endpoint = "e"
            model = "mlp:1"
            target = "cpu"
            "#,
        )
        .unwrap();
        assert_eq!(s.models[0].name, "mlp");
        assert_eq!(s.endpoints[0].traffic.get("blue"), Some(&100));
        assert_eq!(s.deployments[0].max_queue, 256);
    }
}
