//! The one-writer lock of an incident: an OS file lock (`flock`) on `lock` in the incident
//! folder, whose content says who holds it. The OS drops the lock when its holder dies, so
//! holder text left behind by a crash never blocks anyone. The lock file is opened without
//! following a link and checked before anything is written to it: a `lock` planted as a
//! link to another file is refused, never emptied.

use std::fs::{File, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{JournalError, LOCK_FILE};
use crate::incident::event::Operator;

/// A held lock; released when dropped (or when the process dies).
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").field("path", &self.path).finish()
    }
}

impl Lock {
    /// Takes the incident's lock, or fails with `Locked` naming the holder.
    pub fn acquire(dir: &Path, operator: &Operator) -> Result<Lock, JournalError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut file =
            crate::fsutil::open_state_file(&path, crate::fsutil::Access::ReadWriteCreate)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    holder: read_holder(&path),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(JournalError::LockFailed { path, source });
            }
        }
        let info = format!(
            "pid {}, user {}, host {}, since {}",
            std::process::id(),
            operator.user,
            hostname(),
            Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(info.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Lock { file, path })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Leave no holder text behind a clean exit. Unlock explicitly: a child process
        // forked elsewhere in this process (between its fork and exec) holds a copy of the
        // descriptor, and with it the lock, past this file's close.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// What the lock file says about its holder.
fn read_holder(path: &Path) -> String {
    crate::fsutil::read_state_file(path, 4096)
        .ok()
        .map(|b| {
            crate::incident::redact::printable(&String::from_utf8_lossy(&b))
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "another breachbook process, just starting".to_string())
}

/// Who holds an incident's lock right now, if anyone. Takes a shared lock for a moment to
/// find out, so it never blocks a writer for longer than that.
pub fn holder(dir: &Path) -> Option<String> {
    let path = dir.join(LOCK_FILE);
    let file: File = crate::fsutil::open_state_read(&path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => Some(read_holder(&path)),
        Err(TryLockError::Error(_)) => None,
    }
}

/// This machine's name: /etc/hostname, else `HOSTNAME`.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".into())
}
