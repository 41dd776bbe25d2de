//! Logging to a daily file under the state folder; never to the terminal (a TUI may own it).
//! `RUST_LOG` is honoured (default: `breachbook=info`).
//!
//! The files are `logs/breachbook.YYYY-MM-DD.log` (UTC days), the last 14 kept. Each is made
//! through `fsutil` like every state file (0600 in a 0700 folder, never through a link), and
//! what goes in is cleaned first: control characters and escape sequences removed (provider
//! and runbook text is logged), and every key value this process holds masked.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::fsutil;

/// Log files kept.
const KEEP: usize = 14;
const PREFIX: &str = "breachbook.";
const SUFFIX: &str = ".log";

/// Starts file logging; keep the guard alive as long as the program runs. Returns None
/// (and logs nowhere) when the folder cannot be created or is refused — logging must never
/// stop a responder (the command itself then says what is wrong with the folder).
pub fn init(state_dir: Option<&Path>) -> Option<WorkerGuard> {
    let state = match state_dir {
        Some(d) => d.to_path_buf(),
        None => directories::ProjectDirs::from("dev", "breachbook", "breachbook")?
            .data_local_dir()
            .to_path_buf(),
    };
    fsutil::state_dir(&state, true).ok()?;
    let dir = state.join("logs");
    fsutil::private_dir(&dir, true).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(DailyLog::new(dir));
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("breachbook=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// The log file of the day, opened (or created) through `fsutil`, cleaned before writing.
pub struct DailyLog {
    dir: PathBuf,
    day: Option<NaiveDate>,
    file: Option<File>,
}

impl DailyLog {
    /// Logs into `dir` (a private folder).
    pub fn new(dir: PathBuf) -> DailyLog {
        DailyLog {
            dir,
            day: None,
            file: None,
        }
    }

    fn path(&self, day: NaiveDate) -> PathBuf {
        self.dir
            .join(format!("{PREFIX}{}{SUFFIX}", day.format("%Y-%m-%d")))
    }

    /// The file for today, opened anew when the day changed; older files beyond [`KEEP`]
    /// removed.
    fn file(&mut self) -> std::io::Result<&mut File> {
        let today = Utc::now().date_naive();
        if self.day != Some(today) || self.file.is_none() {
            let path = self.path(today);
            let f = fsutil::open_state_file(&path, fsutil::Access::AppendCreate)
                .map_err(std::io::Error::other)?;
            self.file = Some(f);
            self.day = Some(today);
            self.prune();
        }
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no log file"))
    }

    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut logs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(PREFIX) && n.ends_with(SUFFIX)
            })
            .map(|e| e.path())
            .collect();
        logs.sort();
        let extra = logs.len().saturating_sub(KEEP);
        for old in &logs[..extra] {
            // remove_file removes a link itself, never what it points to.
            let _ = std::fs::remove_file(old);
        }
    }
}

/// What a log line may hold: no control character or escape sequence, no key value.
pub fn clean(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let text = crate::printable::printable_text(&text);
    crate::incident::redact::known().mask(&text).into_bytes()
}

impl Write for DailyLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let cleaned = clean(buf);
        self.file()?.write_all(&cleaned)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}
