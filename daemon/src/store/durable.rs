//! Making acknowledged writes survive a power cut (SPEC §6, §8).
//!
//! `sled::Db::flush` (sled 0.34) writes its log buffers with `pwrite` and then calls
//! `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` on them. That puts the bytes into the
//! disk's queue, but it is not a durability barrier: it commits no file metadata (the log file
//! grows as sled claims new segments, and the new size and extents sit in the file system's
//! uncommitted journal for up to its commit interval), and it sends no cache flush to the disk.
//! A power cut a moment after an acknowledgement could therefore lose the write. So after sled's
//! flush the store calls [`Durable::sync`]: `fdatasync` of sled's log file `db` (its size,
//! extents and a disk cache flush), then `fsync` of the store folder (sled's snapshot renames,
//! its `conf` and `blobs/` entries). A process kill (`SIGKILL`) needs none of this — the page
//! cache survives it — but a power cut does.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `fsync`s a directory, making the entries created, renamed or removed in it durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The files of a sled store that must reach the disk before a write is acknowledged.
pub(super) struct Durable {
    dir: PathBuf,
    log: File,
    /// The names last made durable in the store folder and in `blobs/`: a folder is synced
    /// again only when its listing changed (each sync is a disk cache flush, ~3 ms on a
    /// virtual disk). sled never rewrites a blob in place, so a listed blob is synced.
    synced: Mutex<Listings>,
}

#[derive(Default)]
struct Listings {
    store: HashSet<OsString>,
    blobs: HashSet<OsString>,
}

fn listing(dir: &Path) -> std::io::Result<HashSet<OsString>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.file_name())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

impl Durable {
    /// Opens `store_dir/db` (sled's log, which sled has already created) for syncing, and makes
    /// what opening created durable: `conf`, `db`, `blobs/` and their entries in `store_dir` and
    /// in its parent.
    pub(super) fn open(store_dir: &Path) -> std::io::Result<Durable> {
        let log = File::open(store_dir.join("db"))?;
        if let Ok(conf) = File::open(store_dir.join("conf")) {
            conf.sync_all()?;
        }
        let durable = Durable { dir: store_dir.to_path_buf(), log, synced: Mutex::default() };
        durable.sync()?;
        if let Some(parent) = store_dir.parent() {
            sync_dir(parent)?;
        }
        Ok(durable)
    }

    /// Called after `sled::Db::flush` and before a write is acknowledged: `fdatasync` of the
    /// log file; then, if `blobs/` lists new files (sled keeps values over its blob threshold
    /// there as files of their own and never syncs them), `fsync` of each new one and of the
    /// folder; then, if the store folder's listing changed (a snapshot renamed into place, a
    /// new file), `fsync` of that folder.
    pub(super) fn sync(&self) -> std::io::Result<()> {
        self.log.sync_data()?;
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        let blobs_dir = self.dir.join("blobs");
        let blobs = listing(&blobs_dir)?;
        if blobs != synced.blobs {
            for name in blobs.difference(&synced.blobs) {
                match File::open(blobs_dir.join(name)) {
                    Ok(f) => f.sync_all()?,
                    // Collected by sled between the listing and the open.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            sync_dir(&blobs_dir)?;
            synced.blobs = blobs;
        }
        let store = listing(&self.dir)?;
        if store != synced.store {
            sync_dir(&self.dir)?;
            synced.store = store;
        }
        Ok(())
    }
}
