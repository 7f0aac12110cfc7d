//! The control plane's state in a data directory: one JSON file, replaced atomically on every
//! commit.
//!
//! Layout of the directory:
//! - `state.json`: the whole [`ConfigState`], versioned (see [`crate::format`]). It holds the
//!   token key, so it is created mode 0600.
//! - `state.json.tmp`: the next state while it is being written; left over only by a crash, and
//!   overwritten by the next commit.
//! - `LOCK`: held with an exclusive OS lock while a store is open. The file itself stays behind
//!   after close; only the lock matters, and the OS drops it when the process dies.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse_model::storage::{StateStore, StoreError};
use gatehouse_model::{Change, ConfigState};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::common::{fresh_state, next_revision};
use crate::format;

const STATE_FILE: &str = "state.json";
const TEMP_FILE: &str = "state.json.tmp";
const LOCK_FILE: &str = "LOCK";

/// [`StateStore`] over a data directory that this process holds exclusively.
///
/// The state is read on first use and then kept in memory; every commit writes the whole new
/// state to a temporary file, syncs it, renames it over `state.json` and syncs the directory.
/// If any step fails the commit returns an error and the in-memory state keeps the previous
/// revision. (Should only the final directory sync fail, the new file may still reach the disk;
/// as with any failed commit, the caller cannot know whether it took effect, and the next
/// successful commit overwrites it either way.)
pub struct FileStateStore {
    dir: PathBuf,
    /// `None` until first read. Held across the blocking I/O of each operation, which is what
    /// serialises commits.
    state: Arc<Mutex<Option<ConfigState>>>,
    /// Never read: holding the open file is what keeps the directory lock.
    _lock: File,
}

impl FileStateStore {
    /// Creates `dir` if needed (mode 0700) and locks it. Fails with
    /// [`StoreError::Unavailable`] if another open store, in this process or another, holds it.
    ///
    /// Nothing is read yet: a damaged state file is reported by the first `load` or `commit`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        create_private_dir(&dir).map_err(|e| io_error("cannot create data dir", &dir, &e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| io_error("cannot open", &lock_path, &e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Unavailable(format!(
                    "data dir {} is in use by another process",
                    dir.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(io_error("cannot lock", &lock_path, &e)),
        }
        Ok(Self { dir, state: Arc::new(Mutex::new(None)), _lock: lock })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `f` on the current state on a blocking thread, with the state lock held.
    ///
    /// The guard moves into the blocking task, so a caller that stops waiting cannot leave the
    /// in-memory state behind what the task has already written to disk.
    async fn with_state<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &mut ConfigState) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut guard: OwnedMutexGuard<Option<ConfigState>> = Arc::clone(&self.state).lock_owned().await;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let state = match guard.take() {
                Some(state) => state,
                None => read_or_create(&dir)?,
            };
            f(&dir, guard.insert(state))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("state store task failed: {e}")))?
    }
}

impl std::fmt::Debug for FileStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state holds the token key.
        f.debug_struct("FileStateStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl StateStore for FileStateStore {
    async fn load(&self) -> Result<ConfigState, StoreError> {
        self.with_state(|_, state| Ok(state.clone())).await
    }

    async fn commit(&self, expected: u64, change: &Change) -> Result<u64, StoreError> {
        let change = change.clone();
        self.with_state(move |dir, state| {
            if state.revision != expected {
                return Err(StoreError::Conflict { current: state.revision });
            }
            // Work on a copy so that a failed write leaves the current revision untouched.
            let mut next = state.clone();
            let revision = next_revision(next.revision)?;
            next.apply(revision, &change);
            write_state(dir, &next)?;
            *state = next;
            Ok(revision)
        })
        .await
    }
}

/// Reads `state.json`, or creates and persists a fresh state if there is none yet.
///
/// Only a missing file counts as "none": an empty or unreadable one is an error, since silently
/// starting over would throw away every API, client and the token key.
fn read_or_create(dir: &Path) -> Result<ConfigState, StoreError> {
    let path = dir.join(STATE_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            format::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let state = fresh_state()?;
            write_state(dir, &state)?;
            tracing::info!(dir = %dir.display(), store_id = %state.store_id, "created new state store");
            Ok(state)
        }
        Err(e) => Err(io_error("cannot read", &path, &e)),
    }
}

/// Replaces `state.json` with `state` so that a crash at any point leaves either the old or the
/// new file complete.
fn write_state(dir: &Path, state: &ConfigState) -> Result<(), StoreError> {
    let json =
        format::encode_pretty(state).map_err(|e| StoreError::Corrupt(format!("cannot encode state: {e}")))?;
    let temp = dir.join(TEMP_FILE);
    let result = write_synced(&temp, &json).map_err(|e| io_error("cannot write", &temp, &e));
    if result.is_err() {
        // Best effort: the leftover would be overwritten by the next commit anyway.
        let _ = fs::remove_file(&temp);
        return result;
    }
    let path = dir.join(STATE_FILE);
    fs::rename(&temp, &path).map_err(|e| io_error("cannot replace", &path, &e))?;
    // The rename lives in the directory entry: without this sync a crash could bring back the
    // previous file even though the commit was reported durable.
    sync_dir(dir).map_err(|e| io_error("cannot sync", dir, &e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The token key is in here.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing here; rename is as durable as the OS makes it.
    Ok(())
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn io_error(what: &str, path: &Path, e: &io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let store = FileStateStore::open(&dir).unwrap();
        store.load().await.unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(STATE_FILE)), 0o600);
        assert!(!dir.join(TEMP_FILE).exists());
    }

    #[tokio::test]
    async fn empty_state_file_is_corrupt_not_fresh() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(STATE_FILE), b"").unwrap();
        let store = FileStateStore::open(tmp.path()).unwrap();
        assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));
        // Still corrupt on retry: nothing was overwritten.
        assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));
        assert_eq!(fs::read(tmp.path().join(STATE_FILE)).unwrap(), b"");
    }

    #[tokio::test]
    async fn lock_is_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        drop(FileStateStore::open(tmp.path()).unwrap());
        FileStateStore::open(tmp.path()).unwrap();
    }
}
