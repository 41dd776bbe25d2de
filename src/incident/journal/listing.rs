//! `breachbook incidents`: one row per incident folder, read without the lock, and the
//! table it prints. An incident that cannot be read is listed too, with why (a journal that
//! is a FIFO or a link, a folder others can write, a damaged file).

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{JOURNAL_FILE, Journal, JournalError, incidents_dir, lock};
use crate::incident::event::Mode;
use crate::incident::state::IncidentState;

/// One row of `breachbook incidents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentSummary {
    pub id: String,
    /// Runbook name; `None` when the journal cannot be read.
    pub runbook: Option<String>,
    pub title: Option<String>,
    pub mode: Option<Mode>,
    /// Wall-clock time of the first record.
    pub started: Option<DateTime<Utc>>,
    pub steps_done: usize,
    pub steps: usize,
    /// Exposed keys revoked (or further).
    pub contained: usize,
    pub exposed: usize,
    /// Wall-clock time of the last record.
    pub last_activity: Option<DateTime<Utc>>,
    /// Every step finished.
    pub complete: bool,
    /// Drill score, once the drill ended.
    pub score: Option<u32>,
    /// Who holds the lock — the incident is being worked on right now.
    pub locked_by: Option<String>,
    /// Integrity problems of the journal, each naming its line.
    pub problems: Vec<String>,
    /// Problems found beyond those listed.
    pub unlisted: u64,
    /// The last line was torn (a crash mid-write); resuming drops it.
    pub dropped_torn_line: bool,
}

impl IncidentSummary {
    fn unreadable(id: String, locked_by: Option<String>, why: String) -> Self {
        IncidentSummary {
            id,
            runbook: None,
            title: None,
            mode: None,
            started: None,
            steps_done: 0,
            steps: 0,
            contained: 0,
            exposed: 0,
            last_activity: None,
            complete: false,
            score: None,
            locked_by,
            problems: vec![why],
            unlisted: 0,
            dropped_torn_line: false,
        }
    }

    /// The STATUS column, in words.
    pub fn status(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = &self.locked_by {
            parts.push(format!("open now ({h})"));
        }
        if self.runbook.is_none() {
            if let Some(p) = self.problems.first() {
                parts.push(format!("unreadable: {p}"));
            }
            return parts.join("; ");
        }
        if !self.problems.is_empty() {
            parts.push(format!(
                "journal damaged ({} problem(s)): `breachbook verify {}` lists them",
                self.problems.len() as u64 + self.unlisted,
                self.id
            ));
        }
        if self.locked_by.is_none() {
            if self.complete {
                parts.push(match self.score {
                    Some(s) => format!("done, score {s}/100"),
                    None => "done".to_string(),
                });
            } else if self.steps == 0 && self.started.is_none() {
                parts.push("empty (stopped before it began)".to_string());
            } else {
                parts.push(format!("stopped: `breachbook resume {}`", self.id));
            }
        }
        parts.join("; ")
    }
}

/// One row per incident in the state folder, newest first. Incidents whose journal cannot
/// be read are listed too, with the reason as their problem.
pub fn list(state_dir: &Path) -> Result<Vec<IncidentSummary>, JournalError> {
    let dir = incidents_dir(state_dir);
    if !state_dir.exists() {
        return Ok(Vec::new());
    }
    // A folder someone else could have written is refused whole, not row by row.
    match super::checked_incidents(state_dir, false) {
        Ok(_) => {}
        Err(JournalError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    }
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(JournalError::Io { path: dir, source }),
    };
    let mut rows = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let id = entry.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') {
            continue;
        }
        // What is there, links not followed: an incident is a folder holding a journal.
        let Ok(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_symlink() {
            rows.push(IncidentSummary::unreadable(
                id,
                None,
                "a symbolic link, not a folder: breachbook never follows links in its state folder (someone may have planted it); look where it points (`ls -l`) and remove it".into(),
            ));
            continue;
        }
        if !ft.is_dir() {
            continue;
        }
        if crate::fsutil::what_is(&path.join(JOURNAL_FILE)).is_none() {
            continue;
        }
        let locked_by = lock::holder(&path);
        let (records, recovery) = match Journal::read(state_dir, &id) {
            Ok(x) => x,
            Err(e) => {
                rows.push(IncidentSummary::unreadable(id, locked_by, e.to_string()));
                continue;
            }
        };
        let Some(state) = IncidentState::fold(
            records
                .iter()
                .map(|r| (&r.event, r.time, r.operator.user.as_str())),
        ) else {
            let why = if records.is_empty() {
                "the journal has no records (stopped right after it was created)"
            } else {
                "the journal does not begin with the incident-opened record"
            };
            let mut row = IncidentSummary::unreadable(id, locked_by, why.to_string());
            row.started = records.first().map(|r| r.time);
            row.last_activity = records.last().map(|r| r.time);
            rows.push(row);
            continue;
        };
        let (steps_done, steps) = state.progress();
        let (contained, exposed) = state.containment();
        rows.push(IncidentSummary {
            id,
            runbook: Some(state.runbook.name.clone()),
            title: Some(state.runbook.title.clone()),
            mode: Some(state.mode),
            started: records.first().map(|r| r.time),
            steps_done,
            steps,
            contained,
            exposed,
            last_activity: records.last().map(|r| r.time),
            complete: state.is_complete(),
            score: state.score.as_ref().map(|s| s.points),
            locked_by,
            problems: recovery.problems,
            unlisted: recovery.unlisted,
            dropped_torn_line: recovery.dropped_torn_line,
        });
    }
    rows.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id)));
    Ok(rows)
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "—".into())
}

/// The `breachbook incidents` table, columns as wide as their content.
pub fn render_list(rows: &[IncidentSummary]) -> String {
    let header = [
        "ID",
        "RUNBOOK",
        "MODE",
        "STARTED (UTC)",
        "STEPS",
        "KEYS REVOKED",
        "LAST ACTIVITY (UTC)",
        "STATUS",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.runbook.clone().unwrap_or_else(|| "?".into()),
                r.mode.map(|m| m.badge().to_string()).unwrap_or("?".into()),
                time(r.started),
                format!("{}/{}", r.steps_done, r.steps),
                format!("{}/{}", r.contained, r.exposed),
                time(r.last_activity),
                r.status(),
            ]
            // Journal text (a runbook's name, an id made by hand) never reaches the terminal raw.
            .map(|c| crate::printable::printable(&c))
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                s.push_str(c);
            } else {
                // Numbers right-aligned, text left-aligned.
                let pad = w.saturating_sub(c.chars().count());
                if (4..=5).contains(&i) {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                }
                s.push_str("  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.map(String::from));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}
