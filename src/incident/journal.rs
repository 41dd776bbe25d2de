//! The append-only, hash-chained JSON Lines journal of an incident: the resume state, the
//! audit trail and the timeline at once.
//!
//! Layout: `STATE_DIR/incidents/ID/journal.jsonl` next to a `lock` file. One writer per
//! incident (an OS file lock, released by the OS when its holder dies); any number of
//! readers. A record is fsynced when its event changes state. Every file and folder goes
//! through [`crate::fsutil`]: files 0600, folders 0700, no link followed, a state folder
//! another user owns or may write refused, reads bounded ([`MAX_JOURNAL_BYTES`]).
//! Each record carries the SHA-256 of its own canonical JSON and the hash of the record
//! before it, so an edited, removed or reordered line is found on the next read; the last
//! record's hash is the chain head ([`ChainHead`]) that reports print and `breachbook verify`
//! checks against a copy kept elsewhere.
//!
//! Evidence is never cut: a torn last line (a crash mid-write) is cut from the file only
//! when every record before it verifies, and its bytes are kept beside the journal; a
//! journal that fails its check is never written to again.
//!
//! Depends on `event` (the records' payload) and, for the incident list only, on `state`
//! (to fold a journal into its progress). No secret value ever reaches this module: events
//! carry ids, hints and fingerprints only.

mod key;
mod listing;
mod lock;
mod scan;
mod verify;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, Operator};
use crate::fsutil::{self, FsError};

pub use key::{FingerprintKey, KEY_FILE};
pub use listing::{IncidentSummary, list, render_list};
pub use verify::{Verdict, parse_head, verify};

/// The largest journal breachbook reads (256 MiB: months of a busy live incident). A bigger
/// file is refused rather than read into memory.
pub const MAX_JOURNAL_BYTES: u64 = 256 * 1024 * 1024;

/// Integrity problems listed one by one; beyond this many they are only counted.
pub const MAX_LISTED_PROBLEMS: usize = 20;

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

    /// Seals this record: sets its hash and returns the line breachbook writes for it, the
    /// record's canonical JSON (keys sorted, no whitespace) with `hash` in its sorted place.
    /// Written that way, a reader checks the line's hash over its own bytes without
    /// re-encoding it (see `scan`), while any other encoding of the same value still
    /// verifies the slow way.
    pub fn seal(&mut self) -> Result<Vec<u8>, serde_json::Error> {
        let mut value = serde_json::to_value(&*self)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("hash");
            let unsealed = scan::canonical_bytes(&value);
            self.hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&unsealed));
            if let serde_json::Value::Object(map) = &mut value {
                map.insert("hash".into(), serde_json::Value::String(self.hash.clone()));
            }
        }
        let mut line = scan::canonical_bytes(&value);
        line.push(b'\n');
        Ok(line)
    }
}

/// The end of a journal's hash chain: the last record's sequence number and hash. A copy
/// kept outside the laptop (the incident channel) lets `breachbook verify` tell whether the
/// history up to it was rewritten since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number of the last record (0 for an empty journal).
    pub seq: u64,
    /// Its hash ([`GENESIS`] for an empty journal).
    pub hash: String,
}

impl ChainHead {
    /// The head of these records (the last one's).
    pub fn of(records: &[Record]) -> ChainHead {
        records
            .last()
            .map(|r| ChainHead {
                seq: r.seq,
                hash: r.hash.clone(),
            })
            .unwrap_or_else(|| ChainHead {
                seq: 0,
                hash: GENESIS.to_string(),
            })
    }
}

impl std::fmt::Display for ChainHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {}, sha256 {}", self.seq, self.hash)
    }
}

/// What reading a journal found besides its records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// The last line was incomplete (a crash mid-write) and was left out of the records.
    pub dropped_torn_line: bool,
    /// Where `Journal::open` kept the torn line's bytes when it cut them from the file
    /// (only ever when every record before them verified).
    pub torn_kept: Option<PathBuf>,
    /// Integrity problems (broken chain, edited record, bad sequence number, unreadable
    /// line): each names the line and says what to do. At most [`MAX_LISTED_PROBLEMS`].
    pub problems: Vec<String>,
    /// Problems found beyond those listed.
    pub unlisted: u64,
}

impl Recovery {
    /// True when every record read is intact and chained.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Every problem found, listed or not.
    pub fn problem_count(&self) -> u64 {
        self.problems.len() as u64 + self.unlisted
    }

    /// One warning for the whole journal: the count, the first problem, and where the rest
    /// are. `None` when it is clean.
    pub fn summary(&self, id: &str) -> Option<String> {
        let first = self.problems.first()?;
        Some(match self.problem_count() {
            1 => format!("the journal of {id} failed its integrity check: {first}"),
            n => format!(
                "the journal of {id} failed its integrity check: {n} problems, the first {first}; `breachbook verify {id}` lists the first {}",
                self.problems.len()
            ),
        })
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
    /// A record could not be appended (a full disk): the file still ends on the last whole
    /// record (or, when even that is unknown, nothing more is written to it).
    #[error(
        "could not write the journal {}: {source}. The run stopped there; every record before this one is kept. Free space on the disk of the state folder (or fix the folder), then `breachbook resume {id}` goes on",
        path.display()
    )]
    AppendFailed {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the journal {} failed its integrity check, so nothing more is written to it: keep it as evidence, read it with `breachbook report ID` and `breachbook verify ID`, and continue in a new incident",
        path.display()
    )]
    Damaged { path: PathBuf },
    /// A file or folder of the state folder was refused (a link, not a regular file, another
    /// user's, writable by others, too big).
    #[error(transparent)]
    Refused(FsError),
}

impl From<FsError> for JournalError {
    fn from(e: FsError) -> Self {
        match e {
            FsError::Io { path, source } => JournalError::Io { path, source },
            other => JournalError::Refused(other),
        }
    }
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

/// The hash a record's stored JSON (without its `hash` field) must carry: SHA-256 of its
/// canonical form (keys sorted). Over what is stored, not over this version's types, so a
/// record written before a field was added still verifies.
pub use scan::canonical_hash;

/// A journal's bytes as records, and what checking them found: what [`Journal::read`] does
/// once it has the file's bytes. Pure (for fuzzing and tools); a journal with no readable
/// record at all comes back empty with its problems.
pub fn read_bytes(bytes: &[u8]) -> (Vec<Record>, Recovery) {
    let scan = scan::scan(bytes);
    (scan.records, scan.recovery)
}

/// Checks the state folder and its `incidents/` folder (creating them when `create`):
/// folders of ours nobody else may write. Returns `incidents/`.
fn checked_incidents(state_dir: &Path, create: bool) -> Result<PathBuf, JournalError> {
    fsutil::state_dir(state_dir, create)?;
    let incidents = incidents_dir(state_dir);
    fsutil::private_dir(&incidents, create)?;
    Ok(incidents)
}

/// Reads an opened journal file (bounded) and checks it.
fn read_checked(path: &Path, file: &File) -> Result<scan::Scan, JournalError> {
    let bytes = fsutil::read_opened(path, file, MAX_JOURNAL_BYTES)?;
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

/// The incident folder of an existing incident, checked; `NotFound` when it has no journal.
fn existing_incident(state_dir: &Path, id: &str) -> Result<(PathBuf, PathBuf), JournalError> {
    validate_id(id)?;
    let not_found = || JournalError::NotFound {
        id: id.to_string(),
        dir: incidents_dir(state_dir),
    };
    if !state_dir.exists() {
        return Err(not_found());
    }
    let incidents = checked_incidents(state_dir, false).map_err(|e| match e {
        JournalError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            not_found()
        }
        e => e,
    })?;
    let dir = incidents.join(id);
    match fsutil::private_dir(&dir, false) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Err(not_found()),
        Err(e) => return Err(e.into()),
    }
    let path = dir.join(JOURNAL_FILE);
    if fsutil::what_is(&path).is_none() {
        return Err(not_found());
    }
    Ok((dir, path))
}

/// Keeps the bytes of a torn last line beside the journal before they are cut from it:
/// `journal.jsonl.torn-<UTC time>` (0600, never over an existing file).
fn keep_torn_tail(dir: &Path, bytes: &[u8]) -> Result<PathBuf, JournalError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut last = None;
    for n in 0..100u32 {
        let name = if n == 0 {
            format!("{JOURNAL_FILE}.torn-{stamp}")
        } else {
            format!("{JOURNAL_FILE}.torn-{stamp}-{n}")
        };
        let path = dir.join(name);
        match fsutil::create_new(&path) {
            Ok(mut f) => {
                f.write_all(bytes)
                    .and_then(|()| f.sync_all())
                    .map_err(io(&path))?;
                fsutil::sync_dir(dir);
                return Ok(path);
            }
            Err(e) if e.is_already_exists() => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(JournalError::from)
        .unwrap_or_else(|| JournalError::Broken {
            path: dir.join(JOURNAL_FILE),
        }))
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
    /// The journal failed its integrity check when opened: it is evidence, never written to.
    damaged: bool,
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
    /// Creates `state_dir/incidents/ID/` (0700, the state folder and its missing parents
    /// created 0700 too), takes its lock and creates an empty `journal.jsonl` (0600). Appends
    /// nothing.
    pub fn create(state_dir: &Path, id: &str, operator: Operator) -> Result<Journal, JournalError> {
        validate_id(id)?;
        let incidents = checked_incidents(state_dir, true)?;
        let dir = incidents.join(id);
        let exists = || JournalError::Exists {
            id: id.to_string(),
            dir: incidents.clone(),
        };
        // A folder left by a crash before its journal was created can be reused.
        fsutil::private_dir(&dir, true)?;
        let path = dir.join(JOURNAL_FILE);
        if fsutil::what_is(&path).is_some() {
            return Err(exists());
        }
        let lock = lock::Lock::acquire(&dir, &operator)?;
        let file = match fsutil::create_new(&path) {
            Ok(f) => f,
            Err(e) if e.is_already_exists() => return Err(exists()),
            Err(e) => return Err(e.into()),
        };
        file.sync_all().map_err(io(&path))?;
        fsutil::sync_dir(&dir);
        fsutil::sync_dir(&incidents);
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
            damaged: false,
            _lock: lock,
        })
    }

    /// Opens an existing incident for writing: checks the folders, takes the lock (`Locked`
    /// names the holder), reads every record from the opened file and checks the chain.
    ///
    /// A torn last line is cut from the file only when every record before it verifies; its
    /// bytes are kept beside the journal first ([`Recovery::torn_kept`]). Integrity problems
    /// do not fail the call: they are in the returned [`Recovery`], the file is left exactly
    /// as it was, and [`Journal::append`] refuses (`Damaged`): a damaged journal is evidence.
    pub fn open(
        state_dir: &Path,
        id: &str,
        operator: Operator,
    ) -> Result<(Journal, Vec<Record>, Recovery), JournalError> {
        let (dir, path) = existing_incident(state_dir, id)?;
        let lock = lock::Lock::acquire(&dir, &operator)?;
        let mut file = fsutil::open_state_file(&path, fsutil::Access::Append)?;
        let scan = read_checked(&path, &file)?;
        let mut recovery = scan.recovery;
        let damaged = !recovery.is_clean();
        let mut len = scan.keep_len;
        if !damaged {
            if recovery.dropped_torn_line {
                let bytes = fsutil::read_opened(&path, &file, MAX_JOURNAL_BYTES)?;
                let from = usize::try_from(len).unwrap_or(bytes.len()).min(bytes.len());
                recovery.torn_kept = Some(keep_torn_tail(&dir, &bytes[from..])?);
                file.set_len(len).map_err(io(&path))?;
            }
            if scan.missing_newline {
                // The last record is whole but its newline never reached the disk.
                file.write_all(b"\n").map_err(io(&path))?;
                len += 1;
            }
            if recovery.dropped_torn_line || scan.missing_newline {
                file.sync_all().map_err(io(&path))?;
            }
        }
        let head = ChainHead::of(&scan.records);
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
            last_seq: head.seq,
            last_hash: head.hash,
            len,
            broken: false,
            damaged,
            _lock: lock,
        };
        Ok((journal, scan.records, recovery))
    }

    /// Reads an incident without the lock (for `report`, `incidents`, `verify`, a second
    /// viewer). Never changes anything on disk; a torn last line is only left out.
    pub fn read(state_dir: &Path, id: &str) -> Result<(Vec<Record>, Recovery), JournalError> {
        let (_, path) = existing_incident(state_dir, id)?;
        let file = fsutil::open_state_read(&path)?;
        let scan = read_checked(&path, &file)?;
        Ok((scan.records, scan.recovery))
    }

    /// Appends one record (next seq, UTC now, the operator, the previous hash, its own
    /// hash); fsyncs it when the event changes state.
    ///
    /// After a failed write the journal refuses further records (`Broken`): resuming the
    /// incident reads back exactly what reached the disk.
    pub fn append(&mut self, event: &Event) -> Result<Record, JournalError> {
        if self.damaged {
            return Err(JournalError::Damaged {
                path: self.path.clone(),
            });
        }
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
        let line = rec.seal().map_err(encode)?;
        let failed = |source| JournalError::AppendFailed {
            id: self.id.clone(),
            path: self.path.clone(),
            source,
        };
        if let Err(e) = self.file.write_all(&line) {
            // Cut a partial line back off so the file ends on a whole record.
            if self.file.set_len(self.len).is_err() {
                self.broken = true;
            }
            return Err(failed(e));
        }
        self.len += line.len() as u64;
        self.last_seq = rec.seq;
        self.last_hash = rec.hash.clone();
        if event.is_state_changing()
            && let Err(e) = self.file.sync_data()
        {
            // Whether the record survives is unknown now: write nothing more after it.
            self.broken = true;
            return Err(failed(e));
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

    /// The chain head: the last record written (or read back on open).
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.last_seq,
            hash: self.last_hash.clone(),
        }
    }
}
