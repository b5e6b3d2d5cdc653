//! Sealing of secrets at rest with the box's master key (ChaCha20-Poly1305, from ring).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::StoreError;

/// Name of the master key file and of its systemd credential.
pub const MASTER_KEY_NAME: &str = "master.key";
/// Where the master key lives when systemd passes no credential.
pub const DEFAULT_MASTER_KEY_PATH: &str = "/etc/edgeserve/master.key";
const KEY_LEN: usize = 32;

/// Where the master key is read from: `$CREDENTIALS_DIRECTORY/master.key` when systemd passes
/// credentials, else `/etc/edgeserve/master.key`.
pub fn master_key_path() -> PathBuf {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join(MASTER_KEY_NAME),
        _ => PathBuf::from(DEFAULT_MASTER_KEY_PATH),
    }
}

/// Encrypts and decrypts store values with the master key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Sealer {
    /// Reads the master key at `path`, creating it (mode 0400) on first start.
    pub fn open_or_create(path: &Path) -> Result<Sealer, StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path)?,
            Err(source) => {
                return Err(StoreError::MasterKey { path: path.into(), reason: source.to_string() })
            }
        };
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "master key is readable by group or others; chmod 0400 it");
            }
        }
        let raw = decode_key(&bytes).ok_or_else(|| StoreError::MasterKey {
            path: path.into(),
            reason: format!("must hold {KEY_LEN} raw bytes or {} hex digits", KEY_LEN * 2),
        })?;
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &raw).map_err(|_| {
            StoreError::MasterKey { path: path.into(), reason: "unusable key".into() }
        })?;
        Ok(Sealer { key: LessSafeKey::new(unbound), rng: SystemRandom::new() })
    }

    /// Encrypts `plain`, bound to `context` (the record's key): nonce || ciphertext || tag.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| StoreError::Crypto("no randomness".into()))?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut buf,
            )
            .map_err(|_| StoreError::Crypto("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`Sealer::seal`] made for the same context.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let wrong = || {
            StoreError::Crypto(
                "a sealed value does not open with this master key (was the key replaced?)".into(),
            )
        };
        if sealed.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buf = body.to_vec();
        let plain =
            self.key.open_in_place(nonce, Aad::from(context), &mut buf).map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

fn decode_key(bytes: &[u8]) -> Option<[u8; KEY_LEN]> {
    if bytes.len() == KEY_LEN {
        return bytes.try_into().ok();
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.len() != KEY_LEN * 2 {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

fn create_key(path: &Path) -> Result<Vec<u8>, StoreError> {
    let fail = |reason: String| StoreError::MasterKey { path: path.into(), reason };
    let mut key = [0u8; KEY_LEN];
    SystemRandom::new().fill(&mut key).map_err(|_| fail("no randomness".into()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create its folder: {e}")))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)
        .map_err(|e| fail(format!("cannot create it: {e}")))?;
    file.write_all(&key).and_then(|_| file.sync_all()).map_err(|e| fail(e.to_string()))?;
    // Its name too: a store sealed with a key that a power cut then took away opens no more.
    if let Some(dir) = path.parent() {
        super::sync_dir(dir).map_err(|e| fail(format!("cannot sync its folder: {e}")))?;
    }
    tracing::info!(path = %path.display(), "created a new master key");
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let sealer = Sealer::open_or_create(&path).unwrap();
        let sealed = sealer.seal(b"endpoint-a", b"secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(sealer.open(b"endpoint-a", &sealed).unwrap(), b"secret");
        assert!(sealer.open(b"endpoint-b", &sealed).is_err());
        // The same key file opens the same values after a restart.
        let again = Sealer::open_or_create(&path).unwrap();
        assert_eq!(again.open(b"endpoint-a", &sealed).unwrap(), b"secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
    }

    #[test]
    fn another_key_cannot_open() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::open_or_create(&dir.path().join("a.key")).unwrap();
        let b = Sealer::open_or_create(&dir.path().join("b.key")).unwrap();
        let sealed = a.seal(b"x", b"secret").unwrap();
        assert!(b.open(b"x", &sealed).is_err());
    }

    #[test]
    fn malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, b"short").unwrap();
        let err = Sealer::open_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("must hold 32 raw bytes"), "{err}");
    }
}
