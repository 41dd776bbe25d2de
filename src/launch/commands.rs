//! The one-shot commands: `runbooks`, `incidents`, `report`, `verify`, `inventory` (with its
//! table) and `iam-policy`. They print for the command line and start no engine.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use tokio::sync::mpsc;

use super::{DAMAGED, aws_options, build_runtime, fold, load_runbook};
use crate::cli::{IamPolicyArgs, InventoryArgs, ReportFormat};
use crate::incident::journal::{self, Journal};
use crate::incident::model::Credential;
use crate::incident::report;
use crate::printable::printable;

/// `breachbook runbooks`: the built-in runbooks and their titles.
pub(super) fn runbooks() -> anyhow::Result<ExitCode> {
    for (name, src) in crate::runbook::shipped::all() {
        let title = crate::runbook::load::load_str(name, src)
            .map(|rb| rb.title)
            .unwrap_or_default();
        println!("{name:<40} {title}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `breachbook runbooks show NAME`: a built-in runbook's YAML, to start a copy from.
pub(super) fn show_runbook(name: &str) -> anyhow::Result<ExitCode> {
    let Some((_, src)) = crate::runbook::shipped::get(name) else {
        let names: Vec<&str> = crate::runbook::shipped::all()
            .iter()
            .map(|(f, _)| f.trim_end_matches(".yaml"))
            .collect();
        return Err(anyhow!(
            "no built-in runbook `{name}`: the built-in ones are {}",
            names.join(", ")
        ));
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error.
    let _ = out.write_all(src.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `breachbook completions SHELL`: completions generated from the clap definitions.
pub(super) fn completions(shell: clap_complete::aot::Shell) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    clap_complete::aot::generate(shell, &mut cmd, "breachbook", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// `breachbook man`: the man page generated from the clap definitions.
pub(super) fn man() -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::cli::Cli::command())
        .render(&mut out)
        .map_err(|e| anyhow!("could not write the man page: {e}"))?;
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(&out);
    Ok(ExitCode::SUCCESS)
}

/// `breachbook incidents`: the incidents and drills of the state folder.
pub(super) fn incidents(dir: &Path) -> anyhow::Result<ExitCode> {
    let rows = journal::list(dir)?;
    if rows.is_empty() {
        println!(
            "no incidents in {} yet: start one with `breachbook drill`",
            journal::incidents_dir(dir).display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", journal::render_list(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `breachbook report`: the post-incident report, from the journal alone. A damaged journal
/// is said so in the report itself, with one warning on stderr, and exits [`DAMAGED`].
pub(super) fn report(dir: &Path, id: &str, format: ReportFormat) -> anyhow::Result<ExitCode> {
    let (records, recovery) = Journal::read(dir, id)?;
    if let Some(warning) = recovery.summary(id) {
        eprintln!("warning: {}", printable(&warning));
    }
    let state = fold(&records).ok_or_else(|| anyhow!("incident {id} has an empty journal"))?;
    let integrity = report::Integrity::of(&records, &recovery);
    match format {
        ReportFormat::Md => print!("{}", report::markdown(&state, &integrity)),
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::json(&state, &integrity)).unwrap_or_default()
        ),
        ReportFormat::Html => print!("{}", report::html(&state, &integrity)),
    }
    Ok(if integrity.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DAMAGED)
    })
}

/// `breachbook verify`: the journal's own check, and, with `--head`, the check against a
/// chain head kept elsewhere. Exit 0 when both hold, [`DAMAGED`] when not.
pub(super) fn verify(dir: &Path, id: &str, head: Option<&str>) -> anyhow::Result<ExitCode> {
    let kept = match head {
        None => None,
        Some(h) => Some(journal::parse_head(h).ok_or_else(|| {
            anyhow!(
                "--head {h} is not a chain head: give the 64 hex characters of the hash as the report or the end of a run printed it (`record N, sha256 HASH` or `N:HASH` work too)"
            )
        })?),
    };
    let (records, recovery) = Journal::read(dir, id)?;
    let verdict = journal::verify(
        &records,
        &recovery,
        kept.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
    );
    match &verdict {
        journal::Verdict::Intact { head, kept } => {
            println!(
                "ok: the journal of {id} is intact: {} record(s), every hash and link verified; chain head {head}",
                head.seq
            );
            match kept {
                Some((k, after)) => println!(
                    "ok: the head you kept ({k}) is in the chain{}: nothing up to it was changed since",
                    if *after == 0 {
                        " and is its last record".to_string()
                    } else {
                        format!(", {after} record(s) were written after it")
                    }
                ),
                None => println!(
                    "note: anyone who can write the file could have rewritten the whole history; pass --head HASH with a head kept outside this laptop to rule that out"
                ),
            }
        }
        journal::Verdict::Damaged { head, problems } => {
            println!(
                "DAMAGED: the journal of {id} failed its integrity check: {problems} problem(s); last record read {head}"
            );
            for p in &recovery.problems {
                println!("  {}", printable(p));
            }
            if recovery.unlisted > 0 {
                println!("  … and {} more", recovery.unlisted);
            }
            println!(
                "keep the file as evidence; read what it holds with `breachbook report {id}` and continue in a new incident"
            );
        }
        journal::Verdict::HeadNotFound { head, kept } => {
            println!(
                "MISMATCH: the journal of {id} verifies on its own (chain head {head}), but the head you kept ({kept}) is not in it: its history was rewritten after that head was written down, or the head is another incident's"
            );
        }
    }
    Ok(if verdict.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DAMAGED)
    })
}

/// `breachbook inventory`: every key in scope, streamed as found; changes nothing.
pub(super) fn inventory(args: InventoryArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let (rb, _) = load_runbook(Some(&args.runbook))?;
    let runtime = build_runtime(false)?;
    runtime.block_on(async move {
        // Fingerprints correlate copies within this listing only: a key of its own, kept
        // nowhere.
        let key = journal::FingerprintKey::random()?;
        let live =
            crate::providers::live::connect(&rb, &aws_options(&args.aws), key.bytes(), Vec::new())
                .await?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let inv = live.providers.inventory.clone();
        let scope = rb.scope.clone();
        let window = rb.exposure_window.clone();
        let task = tokio::spawn(async move { inv.discover(&scope, &window, tx).await });
        let mut out = std::io::stdout().lock();
        if let Some(who) = &live.providers.identity {
            eprintln!("as {who}");
        }
        if !args.json {
            let _ = writeln!(out, "{}", table_header());
        }
        // One record per key with every place it lives: a key found again elsewhere (its
        // copies merged) replaces what was known of it. The table shows each key as it is
        // found, and again when more of its copies turn up; the JSON lines come at the end,
        // one per key.
        let mut found: Vec<Credential> = Vec::new();
        // Where each key id sits in `found`: a lookup per key, not a scan of all found so far.
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        while let Some(page) = rx.recv().await {
            for c in page {
                // Names and locations come from the provider: no escape sequence from them
                // reaches the terminal (the JSON form escapes them).
                let line = (!args.json).then(|| printable(&table_row(&c)));
                match at.get(&c.id) {
                    Some(&i) => found[i] = c,
                    None => {
                        at.insert(c.id.clone(), found.len());
                        found.push(c);
                    }
                }
                // A closed pipe (`| head`) ends the listing quietly.
                if let Some(line) = line
                    && writeln!(out, "{line}").is_err()
                {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let _ = out.flush();
        }
        if args.json {
            for c in &found {
                let line = serde_json::to_string(c).unwrap_or_default();
                if writeln!(out, "{line}").is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        let result = task
            .await
            .map_err(|e| anyhow!("the inventory stopped: {e}"))?;
        let exposed = found.iter().filter(|c| c.exposed).count();
        eprintln!("{} key(s) found, {exposed} exposed", found.len());
        match result {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!(
                    "error: part of the scope could not be listed: {}",
                    printable(&e.to_string())
                );
                Ok(ExitCode::from(super::FAILED))
            }
        }
    })
}

/// The header of `breachbook inventory`'s table.
fn table_header() -> String {
    format!(
        "{:<8} {:<10} {:<28} {:<12} {:<22} {:<17} LOCATIONS",
        "STATUS", "ISSUER", "NAME", "HINT", "KEY ID", "LAST USED"
    )
}

/// One row of `breachbook inventory`'s table (no secret: ids, hints, places).
fn table_row(c: &Credential) -> String {
    let cut = |s: &str, n: usize| -> String {
        if s.chars().count() <= n {
            s.to_string()
        } else {
            let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
            t.push('…');
            t
        }
    };
    let locations: Vec<String> = c.locations.iter().map(|l| l.label()).collect();
    let status = if c.meta.get("status").map(String::as_str) == Some("scheduled_for_deletion") {
        "DELETING"
    } else if c.exposed {
        "EXPOSED"
    } else {
        "ok"
    };
    format!(
        "{:<8} {:<10} {:<28} {:<12} {:<22} {:<17} {}",
        status,
        c.issuer.label(),
        cut(&c.name, 28),
        cut(&c.hint, 12),
        cut(&c.key_id, 22),
        c.last_used
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "never/unknown".into()),
        if locations.is_empty() {
            "(issuer only)".to_string()
        } else {
            locations.join(", ")
        }
    )
}

/// `breachbook iam-policy`: the least-privilege policy this runbook needs.
pub(super) fn iam_policy(args: IamPolicyArgs) -> anyhow::Result<ExitCode> {
    let (rb, _) = load_runbook(Some(&args.runbook))?;
    let json = crate::providers::aws::policy::iam_policy_json(&rb, args.account.as_deref());
    print_or_quiet(&json);
    Ok(ExitCode::SUCCESS)
}

/// `breachbook vault-policy`: the Vault policy (HCL) this runbook's `vault` scope needs.
/// Exit 2 when the runbook has no `vault` scope.
pub(super) fn vault_policy(args: crate::cli::VaultPolicyArgs) -> anyhow::Result<ExitCode> {
    let (rb, _) = load_runbook(Some(&args.runbook))?;
    match crate::providers::vault::policy::vault_policy_hcl(&rb) {
        Some(hcl) => {
            print_or_quiet(hcl.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "error: runbook `{}` has no `vault` scope, so it needs no Vault policy (add scope.vault, or use `breachbook iam-policy` for AWS)",
                rb.name
            );
            Ok(ExitCode::from(2))
        }
    }
}

/// Prints a line; a closed pipe (`| head`) is not an error.
pub(super) fn print_or_quiet(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}
