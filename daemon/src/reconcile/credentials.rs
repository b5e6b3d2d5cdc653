//! Shared credentials named by a declared endpoint: `keys_file` (the JSON `endpoint
//! get-credentials` prints) and `token_signing_key_file`, so every box of a fleet accepts the
//! same keys and the same tokens (issue 21). No message here ever contains a key.

use std::path::Path;

use serde::Deserialize;

use crate::auth::keys::KEY_PREFIX;
use crate::config::EndpointDecl;
use crate::store::EndpointKeys;

/// Largest credentials file read (a keys file is under 200 bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Shortest accepted token-signing secret, in bytes of text (RFC 7518 §3.2: HS256 keys of at
/// least 256 bits).
const MIN_SECRET_BYTES: usize = 32;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeysFile {
    primary_key: String,
    secondary_key: String,
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{what} {} is not a file", path.display()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{what} {} is over {MAX_FILE_BYTES} bytes", path.display()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// Checks one key's shape: `esk_` + base64url of 32 bytes, no padding (SPEC §4).
fn check_key(slot: &str, key: &str, path: &Path) -> Result<(), String> {
    use base64::Engine;
    let raw = key
        .strip_prefix(KEY_PREFIX)
        .and_then(|b64| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).ok());
    if raw.is_none_or(|r| r.len() != 32) {
        return Err(format!(
            "keys_file {}: {slot} is not an edgeserve key (the key prefix and 43 base64url \
             characters, as `edgeserve endpoint get-credentials` prints)",
            path.display()
        ));
    }
    Ok(())
}

/// The credentials `decl` names, read from their files (relative paths from `base_dir`):
/// `None` when it names none. Only the fields it names are filled; the others are empty.
///
/// Errors name the file and what is wrong with it, never its content.
pub fn read_declared(decl: &EndpointDecl, base_dir: &Path) -> Result<Option<EndpointKeys>, String> {
    if decl.keys_file.is_empty() && decl.token_signing_key_file.is_empty() {
        return Ok(None);
    }
    let mut keys = EndpointKeys {
        primary: String::new(),
        secondary: String::new(),
        token_secret: String::new(),
    };
    if !decl.keys_file.is_empty() {
        let path = base_dir.join(&decl.keys_file);
        let text = read(&path, "keys_file")?;
        // serde_json's messages quote no values of string fields, only positions and names.
        let file: KeysFile = serde_json::from_str(&text).map_err(|e| {
            format!(
                "keys_file {}: {e} (expected {{\"primaryKey\": \"esk_…\", \"secondaryKey\": \
                 \"esk_…\"}}, as `edgeserve endpoint get-credentials` prints)",
                path.display()
            )
        })?;
        check_key("primaryKey", &file.primary_key, &path)?;
        check_key("secondaryKey", &file.secondary_key, &path)?;
        if file.primary_key == file.secondary_key {
            return Err(format!(
                "keys_file {}: primaryKey and secondaryKey are the same key; two keys let \
                 clients rotate",
                path.display()
            ));
        }
        keys.primary = file.primary_key;
        keys.secondary = file.secondary_key;
    }
    if !decl.token_signing_key_file.is_empty() {
        let path = base_dir.join(&decl.token_signing_key_file);
        let secret = read(&path, "token_signing_key_file")?.trim().to_string();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "token_signing_key_file {} holds {} bytes; write at least {MIN_SECRET_BYTES} \
                 (e.g. `openssl rand -base64 32 > {}`)",
                path.display(),
                secret.len(),
                path.display()
            ));
        }
        keys.token_secret = secret;
    }
    Ok(Some(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(keys_file: &str, token: &str) -> EndpointDecl {
        let mut d: EndpointDecl = toml::from_str("name = \"ep\"").unwrap();
        d.keys_file = keys_file.into();
        d.token_signing_key_file = token.into();
        d
    }

    const K1: &str = "esk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const K2: &str = "esk_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";

    #[test]
    fn keys_files_are_read_and_checked_without_echoing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ok.json", &format!(r#"{{"primaryKey":"{K1}","secondaryKey":"{K2}"}}"#));
        let keys = read_declared(&decl("ok.json", ""), dir.path()).unwrap().unwrap();
        assert_eq!((keys.primary.as_str(), keys.secondary.as_str()), (K1, K2));
        assert!(keys.token_secret.is_empty());
        assert!(read_declared(&decl("", ""), dir.path()).unwrap().is_none());

        write("short.json", r#"{"primaryKey":"esk_secretish","secondaryKey":"esk_x"}"#);
        let err = read_declared(&decl("short.json", ""), dir.path()).unwrap_err();
        assert!(err.contains("primaryKey is not an edgeserve key"), "{err}");
        assert!(!err.contains("secretish"), "{err}");
        write("same.json", &format!(r#"{{"primaryKey":"{K1}","secondaryKey":"{K1}"}}"#));
        let err = read_declared(&decl("same.json", ""), dir.path()).unwrap_err();
        assert!(err.contains("the same key"), "{err}");
        write("bad.json", r#"{"primaryKey": 3}"#);
        let err = read_declared(&decl("bad.json", ""), dir.path()).unwrap_err();
        assert!(err.contains("keys_file") && err.contains("expected {\"primaryKey\""), "{err}");
        let err = read_declared(&decl("missing.json", ""), dir.path()).unwrap_err();
        assert!(err.contains("missing.json"), "{err}");
    }

    #[test]
    fn token_secrets_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("short"), "tiny-secret\n").unwrap();
        let err = read_declared(&decl("", "short"), dir.path()).unwrap_err();
        assert!(err.contains("at least 32") && !err.contains("tiny-secret"), "{err}");
        std::fs::write(dir.path().join("long"), format!("{}\n", "s".repeat(44))).unwrap();
        let keys = read_declared(&decl("", "long"), dir.path()).unwrap().unwrap();
        assert_eq!(keys.token_secret, "s".repeat(44));
        assert!(keys.primary.is_empty());
    }
}
