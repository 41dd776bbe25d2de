//! The append-only, hash-chained JSON Lines journal of an incident: the resume state, the
//! audit trail and the timeline at once.
//!
//! Layout: `STATE_DIR/incidents/ID/journal.jsonl` next to a `lock` file. One writer per
//! incident (an OS file lock, released by the OS when its holder dies); any number of
//! readers. A record is fsynced when its event changes state. Files are 0600, folders 0700.
//! Each record carries the SHA-256 of its own canonical JSON and the hash of the record
//! before it, so an edited, removed or reordered line is found on the next read.
//!
//! Depends on `event` (the records' payload) and, for the incident list only, on `state`
//! (to fold a journal into its progress). No secret value ever reaches this module: events
//! carry ids, hints and fingerprints only.

mod listing;
mod lock;
mod scan;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, Operator};

pub use listing::{IncidentSummary, list, render_list};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The journal's file name inside the incident folder.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// The lock's file name inside the incident folder.
pub const LOCK_FILE: &str = "lock";

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1 for the first record, then +1 per record.
    pub seq: u64,
    /// Wall-clock time (UTC) the record was written.
    pub time: DateTime<Utc>,
    pub operator: Operator,
    /// `hash` of the record before ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 (hex) of this record's canonical JSON without the `hash` field.
    pub hash: String,
    pub event: Event,
}

impl Record {
    /// The hash this record should carry: SHA-256 over its canonical JSON without `hash`.
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("hash");
        }
        Ok(scan::canonical_hash(&value))
    }
}

/// What reading a journal found besides its records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// The last line was incomplete (a crash mid-write) and was left out; `Journal::open`
    /// also cut it from the file.
    pub dropped_torn_line: bool,
    /// Integrity problems (broken chain, edited record, bad sequence number, unreadable
    /// line): each names the line and says what to do.
    pub problems: Vec<String>,
}

impl Recovery {
    /// True when every record read is intact and chained.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Why a journal could not be created, opened or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "this incident is open in another breachbook ({holder}); close it there, or read it meanwhile with `breachbook report ID`"
    )]
    Locked { holder: String },
    #[error("no incident `{id}` in {}: list them with `breachbook incidents`", dir.display())]
    NotFound { id: String, dir: PathBuf },
    #[error(
        "incident `{id}` already exists in {}: resume it with `breachbook resume {id}`",
        dir.display()
    )]
    Exists { id: String, dir: PathBuf },
    #[error(
        "`{id}` is not an incident id: an id is one folder name (no `/`, not starting with `.`); list them with `breachbook incidents`"
    )]
    InvalidId { id: String },
    #[error(
        "could not read or write {}: {source}; check that the folder is yours and the disk is not full, or pass another --state-dir",
        path.display()
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "could not lock {}: {source}; keep the state folder on a local disk (pass --state-dir)",
        path.display()
    )]
    LockFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} line {line} is not a breachbook journal record ({why}) and no record could be read: check that this is the right state folder, or restore the file from a backup",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(
        "an earlier write to {} failed, so nothing more is written to it: stop and `breachbook resume` the incident",
        path.display()
    )]
    Broken { path: PathBuf },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `STATE_DIR/incidents`.
pub fn incidents_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("incidents")
}

/// `STATE_DIR/incidents/ID`.
pub fn incident_dir(state_dir: &Path, id: &str) -> PathBuf {
    incidents_dir(state_dir).join(id)
}

/// `STATE_DIR/incidents/ID/journal.jsonl`.
pub fn journal_path(state_dir: &Path, id: &str) -> PathBuf {
    incident_dir(state_dir, id).join(JOURNAL_FILE)
}

/// An id must name exactly one folder inside `incidents/`, whatever the user typed.
pub fn validate_id(id: &str) -> Result<(), JournalError> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && !id.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidId { id: id.to_string() })
    }
}

/// Creates a folder and any missing parents, each 0700.
fn private_dir_all(path: &Path) -> Result<(), JournalError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io(path))
}

/// Narrows an existing file or folder of ours to `mode` if it is wider. Best effort: a
/// folder someone else owns is left as it is.
fn narrow(path: &Path, mode: u32) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o777 & !mode != 0
    {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
}

/// Makes a new directory entry durable. Best effort: some filesystems refuse to fsync a
/// folder, and the journal's own fsyncs still hold.
fn sync_dir(path: &Path) {
    if let Ok(d) = File::open(path) {
        let _ = d.sync_all();
    }
}

/// Reads a journal file whole and checks it.
fn read_checked(path: &Path) -> Result<scan::Scan, JournalError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let scan = scan::scan(&bytes);
    if scan.records.is_empty()
        && let Some((line, why)) = &scan.first_unreadable
    {
        return Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            line: *line,
            why: why.clone(),
        });
    }
    Ok(scan)
}

/// Fails with `NotFound` when the incident has no journal.
fn existing_journal(state_dir: &Path, id: &str) -> Result<PathBuf, JournalError> {
    validate_id(id)?;
    let path = journal_path(state_dir, id);
    match std::fs::metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(JournalError::NotFound {
            id: id.to_string(),
            dir: incidents_dir(state_dir),
        }),
        Err(e) => Err(io(&path)(e)),
    }
}

/// The single writer of one incident's journal. Holds the incident's lock while it lives.
pub struct Journal {
    id: String,
    dir: PathBuf,
    path: PathBuf,
    file: File,
    operator: Operator,
    last_seq: u64,
    last_hash: String,
    /// Bytes of complete records in the file: where a failed write is cut back to.
    len: u64,
    /// A write failed: the file's end is unknown, so no more records go in.
    broken: bool,
    // Declared last: dropped after the file is closed.
    _lock: lock::Lock,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Creates `state_dir/incidents/ID/` (0700, parents created 0700), takes its lock and
    /// creates an empty `journal.jsonl` (0600). Appends nothing.
    pub fn create(state_dir: &Path, id: &str, operator: Operator) -> Result<Journal, JournalError> {
        validate_id(id)?;
        let incidents = incidents_dir(state_dir);
        private_dir_all(&incidents)?;
        narrow(&incidents, 0o700);
        let dir = incidents.join(id);
        let exists = || JournalError::Exists {
            id: id.to_string(),
            dir: incidents.clone(),
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            // A folder left by a crash before its journal was created can be reused.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if dir.join(JOURNAL_FILE).exists() {
                    return Err(exists());
                }
                narrow(&dir, 0o700);
            }
            Err(e) => return Err(io(&dir)(e)),
        }
        let lock = lock::Lock::acquire(&dir, &operator)?;
        let path = dir.join(JOURNAL_FILE);
        let file = match OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(e) => return Err(io(&path)(e)),
        };
        file.sync_all().map_err(io(&path))?;
        sync_dir(&dir);
        sync_dir(&incidents);
        Ok(Journal {
            id: id.to_string(),
            dir,
            path,
            file,
            operator,
            last_seq: 0,
            last_hash: GENESIS.to_string(),
            len: 0,
            broken: false,
            _lock: lock,
        })
    }

    /// Opens an existing incident for writing: takes the lock (`Locked` names the holder),
    /// reads every record, cuts a torn last line from the file, and checks the chain.
    ///
    /// Integrity problems do not fail the call: they are in the returned [`Recovery`], and
    /// the caller decides whether to go on writing.
    pub fn open(
        state_dir: &Path,
        id: &str,
        operator: Operator,
    ) -> Result<(Journal, Vec<Record>, Recovery), JournalError> {
        let path = existing_journal(state_dir, id)?;
        let dir = incident_dir(state_dir, id);
        let lock = lock::Lock::acquire(&dir, &operator)?;
        let scan = read_checked(&path)?;
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut len = scan.keep_len;
        if scan.recovery.dropped_torn_line {
            file.set_len(len).map_err(io(&path))?;
        }
        if scan.missing_newline {
            // The last record is whole but its newline never reached the disk.
            file.write_all(b"\n").map_err(io(&path))?;
            len += 1;
        }
        if scan.recovery.dropped_torn_line || scan.missing_newline {
            file.sync_all().map_err(io(&path))?;
        }
        narrow(&dir, 0o700);
        narrow(&path, 0o600);
        let (last_seq, last_hash) = scan
            .records
            .last()
            .map(|r| (r.seq, r.hash.clone()))
            .unwrap_or((0, GENESIS.to_string()));
        // The cloud identity carries over only to the same local user; the engine sets it
        // anew as soon as the providers say who the caller is.
        let mut operator = operator;
        if operator.cloud.is_none() {
            operator.cloud = scan
                .records
                .iter()
                .rev()
                .find(|r| r.operator.user == operator.user && r.operator.cloud.is_some())
                .and_then(|r| r.operator.cloud.clone());
        }
        let journal = Journal {
            id: id.to_string(),
            dir,
            path,
            file,
            operator,
            last_seq,
            last_hash,
            len,
            broken: false,
            _lock: lock,
        };
        Ok((journal, scan.records, scan.recovery))
    }

    /// Reads an incident without the lock (for `report`, `incidents`, a second viewer).
    /// Never changes anything on disk; a torn last line is only left out.
    pub fn read(state_dir: &Path, id: &str) -> Result<(Vec<Record>, Recovery), JournalError> {
        let path = existing_journal(state_dir, id)?;
        let scan = read_checked(&path)?;
        Ok((scan.records, scan.recovery))
    }

    /// Appends one record (next seq, UTC now, the operator, the previous hash, its own
    /// hash); fsyncs it when the event changes state.
    ///
    /// After a failed write the journal refuses further records (`Broken`): resuming the
    /// incident reads back exactly what reached the disk.
    pub fn append(&mut self, event: &Event) -> Result<Record, JournalError> {
        if self.broken {
            return Err(JournalError::Broken {
                path: self.path.clone(),
            });
        }
        let encode = |e: serde_json::Error| JournalError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        };
        let mut rec = Record {
            seq: self.last_seq + 1,
            time: Utc::now(),
            operator: self.operator.clone(),
            prev: self.last_hash.clone(),
            hash: String::new(),
            event: event.clone(),
        };
        rec.hash = rec.compute_hash().map_err(encode)?;
        let mut line = serde_json::to_vec(&rec).map_err(encode)?;
        line.push(b'\n');
        if let Err(e) = self.file.write_all(&line) {
            // Cut a partial line back off so the file ends on a whole record.
            if self.file.set_len(self.len).is_err() {
                self.broken = true;
            }
            return Err(io(&self.path)(e));
        }
        self.len += line.len() as u64;
        self.last_seq = rec.seq;
        self.last_hash = rec.hash.clone();
        if event.is_state_changing()
            && let Err(e) = self.file.sync_data()
        {
            // Whether the record survives is unknown now: write nothing more after it.
            self.broken = true;
            return Err(io(&self.path)(e));
        }
        Ok(rec)
    }

    /// Sets the cloud caller identity put on every later record.
    pub fn set_cloud_identity(&mut self, identity: Option<String>) {
        self.operator.cloud = identity;
    }

    /// The incident folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operator put on every record.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// Sequence number of the last record (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
}
