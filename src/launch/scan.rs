//! `breachbook scan`: copies of an incident's exposed keys in files and git history, found
//! by keyed fingerprint (`providers::disk`). Prints where each copy is and which key it is
//! (name and hint), never a value or the line that holds it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};

use super::{COMPLETE, FOUND, fold};
use crate::cli::{CheckFormat, ScanArgs};
use crate::incident::event::Mode;
use crate::incident::journal::{self, FingerprintKey, Journal};
use crate::printable::printable;
use crate::providers::disk::{self, Finding, Fingerprinter, Needle, Needles, WalkOptions, git};

pub(super) fn scan(dir: &Path, args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let id = match &args.incident {
        Some(id) => id.clone(),
        None => newest_incident(dir)?,
    };
    let (records, recovery) = Journal::read(dir, &id)?;
    if let Some(warning) = recovery.summary(&id) {
        eprintln!("warning: {}", printable(&warning));
    }
    let state = fold(&records).ok_or_else(|| {
        anyhow!("incident {id} has an empty journal: it stopped before its inventory, so there is nothing to look for")
    })?;
    let fp = match state.mode {
        Mode::Drill => {
            let seed = state.seed.unwrap_or_default().to_le_bytes();
            Fingerprinter::new(crate::providers::sim::DRILL_FINGERPRINT_KEY, &seed)
        }
        Mode::Live => {
            let key = FingerprintKey::load(&journal::incident_dir(dir, &id), &id)?;
            Fingerprinter::new(key.bytes(), b"")
        }
    }
    .ok_or_else(|| anyhow!("the fingerprint key of {id} cannot be used"))?;

    let mut keys = Vec::new();
    let mut unread = Vec::new();
    for c in state.credentials.iter().map(|c| &c.credential) {
        if !c.exposed {
            continue;
        }
        let needle = Needle {
            credential: c.id.clone(),
            name: c.name.clone(),
            hint: c.hint.clone(),
        };
        match &c.fingerprint {
            Some(f) => keys.push((needle, f.clone())),
            None => unread.push(needle),
        }
    }
    let (needles, unusable) = Needles::new(fp, keys);
    unread.extend(unusable);
    if needles.is_empty() {
        return Err(anyhow!(
            "incident {id} knows no exposed key's fingerprint{}: breachbook fingerprints a key only where it read its value (a Secrets Manager field the runbook maps, or `fingerprint: true`); run its inventory step first",
            if unread.is_empty() {
                String::new()
            } else {
                format!(" ({} exposed key(s) were never read)", unread.len())
            }
        ));
    }

    let paths: Vec<PathBuf> = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for p in &paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(anyhow!(
                "{} does not exist: give files or folders to read",
                p.display()
            ));
        }
    }
    let (mut found, walk) = disk::scan_paths(
        &paths,
        &WalkOptions {
            no_ignore: args.no_ignore,
            threads: 0,
        },
        &needles,
    );
    let mut histories = Vec::new();
    if args.git_history {
        let mut repos: Vec<PathBuf> = Vec::new();
        for p in &paths {
            let repo = git::repository_of(p)?;
            if !repos.contains(&repo) {
                repos.push(repo);
            }
        }
        for repo in repos {
            let (hits, stats) = git::scan_history(&repo, &needles)
                .with_context(|| format!("reading the history of {}", repo.display()))?;
            found.extend(hits);
            histories.push(stats);
        }
    }

    if args.format == CheckFormat::Json {
        let doc = serde_json::json!({
            "incident": id,
            "keys_looked_for": needles.len(),
            "keys_not_looked_for": unread,
            "files_read": walk.files_read,
            "bytes_read": walk.bytes_read,
            "binary_files_skipped": walk.binary_skipped,
            "unreadable": walk.unreadable,
            "histories": histories,
            "found": found,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print_text(&id, &needles, &unread, &walk, &histories, &found);
    }
    Ok(ExitCode::from(if found.is_empty() {
        COMPLETE
    } else {
        FOUND
    }))
}

fn print_text(
    id: &str,
    needles: &Needles,
    unread: &[Needle],
    walk: &disk::WalkStats,
    histories: &[git::HistoryStats],
    found: &[Finding],
) {
    let mb = walk.bytes_read as f64 / 1_000_000.0;
    println!(
        "looked for {} exposed key(s) of {id}: read {} file(s), {mb:.1} MB in {:.2} s ({} binary skipped)",
        needles.len(),
        walk.files_read,
        walk.took.as_secs_f64(),
        walk.binary_skipped,
    );
    for h in histories {
        println!(
            "  and the history of {}: {} commit(s), {} added line(s) in {:.2} s",
            printable(&h.repository.display().to_string()),
            h.commits,
            h.added_lines,
            h.took.as_secs_f64()
        );
    }
    if !unread.is_empty() {
        let names: Vec<String> = unread
            .iter()
            .map(|n| format!("{} ({})", printable(&n.name), n.hint))
            .collect();
        println!(
            "not looked for (breachbook never read their values, so has no fingerprint): {}",
            names.join(", ")
        );
    }
    for u in &walk.unreadable {
        println!("  could not read {}", printable(u));
    }
    if found.is_empty() {
        println!("no copy found");
        return;
    }
    println!("{} copy(ies) found:", found.len());
    let width = found
        .iter()
        .map(|f| f.place.label().chars().count())
        .max()
        .unwrap_or(0)
        .min(80);
    for f in found {
        println!(
            "  {:<width$}  {} ({})",
            printable(&f.place.label()),
            printable(&f.name),
            f.hint
        );
    }
    println!(
        "Fix each by hand: take the key out (a copy in history stays in every clone: the key must be revoked, which the incident does), or put the new key there once it is issued."
    );
}

/// The newest incident in the state folder.
fn newest_incident(dir: &Path) -> anyhow::Result<String> {
    let rows = journal::list(dir)?;
    let newest = rows
        .iter()
        .filter(|r| r.runbook.is_some())
        .max_by_key(|r| r.started)
        .ok_or_else(|| {
            anyhow!(
                "no incident in {} to take the exposed keys from: give --incident ID (see `breachbook incidents`)",
                journal::incidents_dir(dir).display()
            )
        })?;
    eprintln!(
        "looking for the exposed keys of {} (the newest incident; --incident ID picks another)",
        newest.id
    );
    Ok(newest.id.clone())
}
