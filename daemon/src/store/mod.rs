//! The embedded sled store: models, endpoints, deployments and sealed endpoint keys.
//!
//! Every write is one sled transaction, made durable before it returns (see `Store::durable`
//! and the `durable` module: sled's own flush is not a power-loss barrier).

mod durable;
mod records;
mod repository;
mod roles;
mod seal;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

pub use durable::sync_dir;
pub use records::{
    now_rfc3339, AuthMode, DeploymentRecord, EndpointKeys, EndpointRecord, ModelRecord,
    NetworkAccess, Origin, Transport,
};
pub use repository::ModelRepository;
pub use seal::{master_key_path, Sealer};

/// Errors of the store; none carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}")]
    /// sled cannot open the store (locked by another daemon, unreadable, corrupt).
    Open {
        /// The store's folder (`state_dir/store`).
        path: PathBuf,
        /// sled's error.
        reason: String,
    },
    #[error("store write failed: {0}")]
    /// A transaction or its sync to disk failed.
    Write(String),
    #[error("store holds a corrupt {what} record: {reason}")]
    /// A record does not decode.
    Corrupt {
        /// The record's kind (`endpoint`, `deployment`, ...).
        what: &'static str,
        /// The decoder's error.
        reason: String,
    },
    #[error("master key {path}: {reason}")]
    /// The master key file cannot be read or created, or holds no usable key.
    MasterKey {
        /// The master key file.
        path: PathBuf,
        /// What is wrong (unreadable, wrong length, cannot be created).
        reason: String,
    },
    #[error("{0}")]
    /// Sealing or unsealing an endpoint key failed (a wrong master key opens nothing).
    Crypto(String),
    #[error("model repository: {0}")]
    /// The model repository folder (`models/`) cannot be written or read.
    Repository(String),
}

/// The daemon's persistent state.
pub struct Store {
    db: sled::Db,
    models: sled::Tree,
    endpoints: sled::Tree,
    deployments: sled::Tree,
    keys: sled::Tree,
    role_definitions: sled::Tree,
    role_assignments: sled::Tree,
    sealer: Sealer,
    durable: durable::Durable,
}

fn write_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Write(e.to_string())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(write_err)
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}

fn deployment_key(endpoint: &str, name: &str) -> Vec<u8> {
    format!("{endpoint}/{name}").into_bytes()
}

fn keys_context(endpoint: &str) -> Vec<u8> {
    format!("keys/{endpoint}").into_bytes()
}

impl Store {
    /// Opens (or creates) the store under `state_dir/store`, sealing with the master key.
    pub fn open(state_dir: &Path, master_key: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join("store");
        let open_err =
            |e: sled::Error| StoreError::Open { path: path.clone(), reason: e.to_string() };
        let db = sled::Config::new().path(&path).open().map_err(open_err)?;
        let tree = |name: &str| db.open_tree(name).map_err(open_err);
        let durable = durable::Durable::open(&path)
            .map_err(|e| StoreError::Open { path: path.clone(), reason: e.to_string() })?;
        Ok(Store {
            models: tree("models")?,
            endpoints: tree("endpoints")?,
            deployments: tree("deployments")?,
            keys: tree("keys")?,
            role_definitions: tree(roles::ROLE_DEFINITIONS)?,
            role_assignments: tree(roles::ROLE_ASSIGNMENTS)?,
            sealer: Sealer::open_or_create(master_key)?,
            durable,
            db,
        })
    }

    /// The step between a write and its acknowledgement: sled's flush (its log buffers written
    /// out), then [`durable::Durable::sync`] (`fdatasync` of the log file and `fsync` of the
    /// store folder), so the write survives a power cut, not only a process kill. Every write
    /// method calls it last; none returns `Ok` before it has.
    fn durable(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(write_err)?;
        self.durable.sync().map_err(|e| write_err(format!("cannot sync the store: {e}")))
    }

    fn list<T: DeserializeOwned>(
        tree: &sled::Tree,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        tree.iter().values().map(|v| v.map_err(write_err).and_then(|v| decode(what, &v))).collect()
    }

    /// A registered model version.
    pub fn model(&self, name: &str, version: &str) -> Result<Option<ModelRecord>, StoreError> {
        let key = format!("{name}:{version}");
        self.models.get(key).map_err(write_err)?.map(|v| decode("model", &v)).transpose()
    }

    /// Every registered model version.
    pub fn models(&self) -> Result<Vec<ModelRecord>, StoreError> {
        Self::list(&self.models, "model")
    }

    /// Records a model version.
    pub fn put_model(&self, record: &ModelRecord) -> Result<(), StoreError> {
        let key = format!("{}:{}", record.name, record.version);
        self.models.insert(key, encode(record)?).map_err(write_err)?;
        self.durable()
    }

    /// An endpoint.
    pub fn endpoint(&self, name: &str) -> Result<Option<EndpointRecord>, StoreError> {
        self.endpoints.get(name).map_err(write_err)?.map(|v| decode("endpoint", &v)).transpose()
    }

    /// Every endpoint.
    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        Self::list(&self.endpoints, "endpoint")
    }

    /// Writes an endpoint and, when given, its keys, in one transaction.
    pub fn put_endpoint(
        &self,
        record: &EndpointRecord,
        keys: Option<&EndpointKeys>,
    ) -> Result<(), StoreError> {
        let value = encode(record)?;
        let sealed = match keys {
            Some(k) => Some(self.sealer.seal(&keys_context(&record.name), &encode(k)?)?),
            None => None,
        };
        (&self.endpoints, &self.keys)
            .transaction(|(endpoints, keys)| {
                endpoints.insert(record.name.as_bytes(), value.as_slice())?;
                if let Some(sealed) = &sealed {
                    keys.insert(record.name.as_bytes(), sealed.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| write_err(format!("{e:?}")))?;
        self.durable()
    }

    /// An endpoint's keys, unsealed.
    pub fn keys(&self, endpoint: &str) -> Result<Option<EndpointKeys>, StoreError> {
        let Some(sealed) = self.keys.get(endpoint).map_err(write_err)? else {
            return Ok(None);
        };
        let plain = self.sealer.open(&keys_context(endpoint), &sealed)?;
        decode("keys", &plain).map(Some)
    }

    /// A deployment of an endpoint.
    pub fn deployment(
        &self,
        endpoint: &str,
        name: &str,
    ) -> Result<Option<DeploymentRecord>, StoreError> {
        self.deployments
            .get(deployment_key(endpoint, name))
            .map_err(write_err)?
            .map(|v| decode("deployment", &v))
            .transpose()
    }

    /// Every deployment, of every endpoint.
    pub fn deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        Self::list(&self.deployments, "deployment")
    }

    /// Writes a deployment.
    pub fn put_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        let key = deployment_key(&record.endpoint, &record.name);
        self.deployments.insert(key, encode(record)?).map_err(write_err)?;
        self.durable()
    }

    /// Writes a deployment and its endpoint (whose traffic may have changed) in one transaction.
    pub fn put_deployment_and_endpoint(
        &self,
        deployment: &DeploymentRecord,
        endpoint: &EndpointRecord,
    ) -> Result<(), StoreError> {
        let dkey = deployment_key(&deployment.endpoint, &deployment.name);
        let dval = encode(deployment)?;
        let eval = encode(endpoint)?;
        (&self.deployments, &self.endpoints)
            .transaction(|(deployments, endpoints)| {
                deployments.insert(dkey.as_slice(), dval.as_slice())?;
                endpoints.insert(endpoint.name.as_bytes(), eval.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| write_err(format!("{e:?}")))?;
        self.durable()
    }

    /// Removes a deployment and writes its endpoint (without it in the traffic), atomically.
    pub fn delete_deployment(
        &self,
        endpoint: &EndpointRecord,
        name: &str,
    ) -> Result<(), StoreError> {
        let dkey = deployment_key(&endpoint.name, name);
        let eval = encode(endpoint)?;
        (&self.deployments, &self.endpoints)
            .transaction(|(deployments, endpoints)| {
                deployments.remove(dkey.as_slice())?;
                endpoints.insert(endpoint.name.as_bytes(), eval.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| write_err(format!("{e:?}")))?;
        self.durable()
    }

    /// Removes an endpoint, its keys, every deployment of it and every role assignment scoped
    /// to it (`/endpoints/NAME`), in one transaction: a crash leaves all of them or none.
    /// Returns how many role assignments went with it.
    pub fn delete_endpoint(&self, name: &str) -> Result<usize, StoreError> {
        let prefix = format!("{name}/");
        let owned: Vec<sled::IVec> = self
            .deployments
            .scan_prefix(prefix.as_bytes())
            .keys()
            .collect::<Result<_, _>>()
            .map_err(write_err)?;
        let scope = format!("/endpoints/{name}");
        let assignments: Vec<String> = self
            .role_assignments()?
            .into_iter()
            .filter(|a| a.scope == scope)
            .map(|a| a.id)
            .collect();
        (&self.endpoints, &self.keys, &self.deployments, &self.role_assignments)
            .transaction(|(endpoints, keys, deployments, role_assignments)| {
                endpoints.remove(name.as_bytes())?;
                keys.remove(name.as_bytes())?;
                for k in &owned {
                    deployments.remove(k)?;
                }
                for id in &assignments {
                    role_assignments.remove(id.as_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| write_err(format!("{e:?}")))?;
        self.durable()?;
        Ok(assignments.len())
    }

    /// Replaces an endpoint's keys.
    pub fn put_keys(&self, endpoint: &str, keys: &EndpointKeys) -> Result<(), StoreError> {
        let sealed = self.sealer.seal(&keys_context(endpoint), &encode(keys)?)?;
        self.keys.insert(endpoint.as_bytes(), sealed).map_err(write_err)?;
        self.durable()
    }

    /// Removes a model version's record.
    pub fn delete_model(&self, name: &str, version: &str) -> Result<(), StoreError> {
        self.models.remove(format!("{name}:{version}")).map_err(write_err)?;
        self.durable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn endpoint(name: &str) -> EndpointRecord {
        EndpointRecord {
            name: name.into(),
            auth_mode: AuthMode::Key,
            public_network_access: NetworkAccess::Enabled,
            transport: Transport::Tls,
            traffic: BTreeMap::from([("blue".to_string(), 100)]),
            mirror_traffic: BTreeMap::new(),
            allow_unauthenticated: false,
            description: String::new(),
            created_at: now_rfc3339(),
            updated_at: now_rfc3339(),
            origin: None,
            shared_credentials: false,
        }
    }

    #[test]
    fn endpoint_and_sealed_keys_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("master.key");
        let keys = EndpointKeys {
            primary: "esk_primary".into(),
            secondary: "esk_second".into(),
            token_secret: "tsk_sealed_secret".into(),
        };
        {
            let store = Store::open(dir.path(), &key_path).unwrap();
            store.put_endpoint(&endpoint("e1"), Some(&keys)).unwrap();
        }
        let store = Store::open(dir.path(), &key_path).unwrap();
        let stored = store.endpoint("e1").unwrap().unwrap();
        assert_eq!(stored.traffic, endpoint("e1").traffic);
        assert_eq!(store.keys("e1").unwrap(), Some(keys));
        assert_eq!(store.keys("nope").unwrap(), None);
    }

    #[test]
    fn keys_are_not_stored_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("master.key");
        let store = Store::open(dir.path(), &key_path).unwrap();
        let keys = EndpointKeys {
            primary: "esk_findme1".into(),
            secondary: "esk_findme2".into(),
            token_secret: "tsk_findme3".into(),
        };
        store.put_endpoint(&endpoint("e1"), Some(&keys)).unwrap();
        drop(store);
        for entry in walk(&dir.path().join("store")) {
            let bytes = std::fs::read(&entry).unwrap();
            for secret in [&b"esk_findme1"[..], b"esk_findme2", b"tsk_findme3"] {
                assert!(!bytes.windows(secret.len()).any(|w| w == secret), "{}", entry.display());
            }
        }
    }

    /// The cost of [`Store::durable`] against sled's flush alone, per write:
    /// `cargo test -p edgeserve-daemon --lib durable_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn durable_cost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &dir.path().join("master.key")).unwrap();
        let n = 300;
        let counter = std::cell::Cell::new(0u32);
        let time = |sync: &dyn Fn()| {
            let start = std::time::Instant::now();
            for i in 0..n {
                // A value differing from the stored one: sled skips a no-op insert.
                counter.set(counter.get() + 1);
                let value = format!("{:0200}", counter.get());
                store.keys.insert(format!("k{}", i % 20), value.as_bytes()).unwrap();
                sync();
            }
            start.elapsed() / n
        };
        let flush = time(&|| {
            store.db.flush().unwrap();
        });
        let durable = time(&|| store.durable().unwrap());
        let flush_again = time(&|| {
            store.db.flush().unwrap();
        });
        println!(
            "per write: sled flush {flush:?} / {flush_again:?}, durable {durable:?}, ratio {:.1}",
            durable.as_secs_f64() / ((flush + flush_again) / 2).as_secs_f64()
        );
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
