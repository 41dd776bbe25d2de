//! The report as Markdown, section by section.

use std::fmt::Write;
use std::time::Duration;

use super::{
    Integrity, action_items, after_revoke_verdict, attacker_activity, between, cell, counts, dur,
    exposure_duration, mistakes, name_of, ots, retried_groups, severity, status, steps_words,
    time_to_contain, timeline_in_order, ts, waits_words, window_words,
};
use crate::incident::event::Mode;
use crate::incident::redact::{printable, printable_text, scrub};
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{CredentialState, IncidentState, StepStatus, Tone};
use crate::runbook::duration;

/// The report as Markdown, built from `state` and the journal's `integrity`. Free of control
/// characters and escape sequences, whatever the runbook and the providers wrote.
pub fn markdown(state: &IncidentState, integrity: &Integrity) -> String {
    let mut o = String::new();
    header(&mut o, state, integrity);
    summary(&mut o, state);
    action_items_section(&mut o, state);
    credentials(&mut o, state);
    super::created::markdown(&mut o, state);
    issuer_notes(&mut o, state);
    attacker(&mut o, state);
    confirmations(&mut o, state);
    failures(&mut o, state);
    old_keys(&mut o, state);
    left_behind(&mut o, state);
    outages(&mut o, state);
    notes(&mut o, state);
    mistakes_section(&mut o, state);
    score(&mut o, state);
    timeline(&mut o, state);
    printable_text(&o)
}

/// The `| Journal |` row of the header: the chain head, and whether the journal verified.
pub fn journal_row(state: &IncidentState, integrity: &Integrity) -> String {
    let head = &integrity.head;
    if integrity.is_intact() {
        format!(
            "| Journal | intact: {} record(s); chain head `{}` (keep it elsewhere: `breachbook verify {} --head HASH` checks the journal against it) |",
            head.seq, head.hash, state.id
        )
    } else {
        format!(
            "| Journal | **DAMAGED** ({} problem(s)); last record read {}, hash `{}` |",
            integrity.problem_count(),
            head.seq,
            head.hash
        )
    }
}

/// The warning a report of a damaged journal opens with.
fn damaged(o: &mut String, state: &IncidentState, integrity: &Integrity) {
    if integrity.is_intact() {
        return;
    }
    let _ = writeln!(
        o,
        "> **The journal of this incident is damaged**: it failed its integrity check with {} problem(s), so this report may not say what happened. Keep the journal as evidence and check it with `breachbook verify {}`. The problems found:",
        integrity.problem_count(),
        state.id
    );
    for p in &integrity.problems {
        let _ = writeln!(o, "> - {}", printable(&scrub(p)));
    }
    if integrity.unlisted > 0 {
        let _ = writeln!(o, "> - … and {} more", integrity.unlisted);
    }
    let _ = writeln!(o);
}

fn header(o: &mut String, state: &IncidentState, integrity: &Integrity) {
    let rb = &state.runbook;
    let _ = writeln!(o, "# Post-incident report: {}", rb.title);
    let _ = writeln!(o);
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Incident | `{}` |", state.id);
    let _ = writeln!(
        o,
        "| Mode | {}{} |",
        state.mode.badge(),
        if state.read_only { " (read-only)" } else { "" }
    );
    let _ = writeln!(
        o,
        "| Runbook | `{}` (sha256 `{}`) |",
        rb.name,
        state
            .runbook_digest
            .get(..12)
            .unwrap_or(&state.runbook_digest)
    );
    let _ = writeln!(o, "| Severity | {} |", severity(rb.severity));
    let _ = writeln!(o, "| Exposure window | {} |", cell(&window_words(state)));
    let _ = writeln!(
        o,
        "| Opened | {} by {} |",
        ts(&state.opened_at),
        state.operator
    );
    if let Some(id) = &state.cloud_identity {
        let _ = writeln!(o, "| Cloud identity | `{id}` |");
    }
    let _ = writeln!(o, "| Steps | {} |", steps_words(state));
    let _ = writeln!(o, "| As of | {} |", ts(&state.clock));
    let _ = writeln!(o, "{}", journal_row(state, integrity));
    if state.mode == Mode::Drill {
        let mut clock = "times are the drill's simulated clock".to_string();
        if let Some(s) = state.speed {
            let _ = write!(clock, ", running ×{s}");
        }
        if let Some(seed) = state.seed {
            let _ = write!(clock, ", seed {seed}");
        }
        let _ = writeln!(o, "| Clock | {clock} |");
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "All times are UTC. Keys appear only as hints (`sk-…a1b2`)."
    );
    let _ = writeln!(o);
    damaged(o, state, integrity);
}

fn summary(o: &mut String, state: &IncidentState) {
    let rb = &state.runbook;
    let n = counts(state);
    let _ = writeln!(o, "## Summary");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "- Exposure window began: {}",
        ts(&rb.exposure_window.start)
    );
    let _ = writeln!(
        o,
        "- Incident opened: {} ({} after the window began)",
        ts(&state.opened_at),
        dur(between(rb.exposure_window.start, state.opened_at))
    );
    containment(o, state, n.exposed);
    if !state.inventory_gaps.is_empty() {
        let _ = writeln!(
            o,
            "- Inventory: **INCOMPLETE**: {}",
            scrub(&state.inventory_gaps.join("; "))
        );
    }
    let _ = writeln!(
        o,
        "- Keys found: {}; exposed: {}; rotated (new key everywhere): {}; revoked: {} (confirmed dead: {}); skipped: {}; failed: {}",
        n.found, n.exposed, n.rotated, n.revoked, n.confirmed_dead, n.skipped, n.failed
    );
    let _ = writeln!(
        o,
        "- Confirmations: {} typed, {} override(s), {} refused (empty or wrong word)",
        n.typed, n.overrides, state.refusals
    );
    let _ = writeln!(
        o,
        "- Failed provider calls: {} ({} retried)",
        n.attempts_failed, n.attempts_retried
    );
    let rows = attacker_activity(state);
    if !rows.is_empty() {
        let ok: u32 = rows.iter().map(|r| r.ok).sum();
        let denied: u32 = rows.iter().map(|r| r.denied).sum();
        let known: u32 = rows.iter().map(|r| r.while_known).sum();
        let _ = writeln!(
            o,
            "- Calls with exposed keys from unknown sources: {ok} accepted ({known} after the key was known to be exposed), {denied} refused (see Attacker activity)"
        );
    }
    let _ = writeln!(
        o,
        "- Consumer errors (calls that failed because their key died): {}",
        state.consumer_errors
    );
    let m = mistakes(state).len();
    let _ = writeln!(
        o,
        "- Mistakes: {}",
        if m == 0 {
            "none recorded".to_string()
        } else {
            format!("{m} (see Mistakes)")
        }
    );
    let a = action_items(state).len();
    let _ = writeln!(
        o,
        "- Action items: {}",
        if a == 0 {
            "none".to_string()
        } else {
            format!("{a} (see Action items)")
        }
    );
    if let Some(s) = &state.score {
        let _ = writeln!(o, "- Drill score: {}/100", s.points);
    }
    let _ = writeln!(o);
}

/// How long containment took, or which exposed keys still are not revoked.
fn containment(o: &mut String, state: &IncidentState, exposed: usize) {
    match time_to_contain(state) {
        Some(d) => {
            let _ = writeln!(
                o,
                "- Time to contain (incident opened → last exposed key revoked): **{}**",
                duration::format(d)
            );
            let _ = writeln!(
                o,
                "- Exposure (window start → last exposed key revoked): {}",
                dur(exposure_duration(state))
            );
        }
        None if exposed == 0 => {
            let _ = writeln!(o, "- Time to contain: — (no exposed key found)");
        }
        None => {
            let open: Vec<&str> = state
                .credentials
                .iter()
                .filter(|c| c.credential.exposed && !c.rotation.is_contained())
                .map(|c| c.credential.name.as_str())
                .collect();
            let _ = writeln!(
                o,
                "- Time to contain: **not contained**: {} exposed key(s) not revoked: {}",
                open.len(),
                open.join(", ")
            );
        }
    }
}

fn credentials(o: &mut String, state: &IncidentState) {
    let start = state.runbook.exposure_window.start;
    let _ = writeln!(o, "## Credentials");
    let _ = writeln!(o);
    if state.credentials.is_empty() {
        let _ = writeln!(o, "No credential was found (the inventory did not run).");
        let _ = writeln!(o);
        return;
    }
    let _ = writeln!(
        o,
        "| Issuer | Name | Exposed | Locations | Old key | New key | Issued | Promoted | Revoked | Exposed → revoked | Status |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &state.credentials {
        let locs: Vec<String> = c.credential.locations.iter().map(|l| l.label()).collect();
        let revoked = c.stamps.get(&Stage::Revoked);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
            c.credential.issuer.label(),
            cell(&c.credential.name),
            if c.credential.exposed { "yes" } else { "no" },
            cell(&locs.join("<br>")),
            cell(&c.credential.hint),
            c.new_hint
                .as_deref()
                .map(|h| format!("`{}`", cell(h)))
                .unwrap_or_else(|| "—".into()),
            ots(c.stamps.get(&Stage::Issued)),
            ots(c.stamps.get(&Stage::Promoted)),
            ots(revoked),
            dur(revoked.and_then(|r| between(start, *r))),
            cell(&status(c)),
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Exposed → revoked runs from the start of the exposure window ({}) to the revocation.",
        ts(&start)
    );
    let _ = writeln!(o);
    let updated: Vec<_> = state
        .credentials
        .iter()
        .flat_map(|c| {
            c.updated_locations
                .iter()
                .map(move |(l, t)| (c.credential.name.as_str(), l.as_str(), t))
        })
        .collect();
    if !updated.is_empty() {
        let _ = writeln!(o, "### Locations updated (each store's own timestamp)");
        let _ = writeln!(o);
        let _ = writeln!(o, "| Credential | Location | Updated at |\n|---|---|---|");
        for (n, l, t) in updated {
            let _ = writeln!(o, "| {} | {} | {} |", cell(n), cell(l), ts(t));
        }
        let _ = writeln!(o);
    }
}

/// What the issuers said of the keys beyond their rotation: a key an issuer blocked as
/// leaked, what revoking took with it, until when a deleted key can be restored. Nothing
/// when no issuer said anything.
fn issuer_notes(o: &mut String, state: &IncidentState) {
    let mut lines: Vec<String> = Vec::new();
    for c in &state.credentials {
        let cr = &c.credential;
        let who = format!("{} (`{}`)", cell(&cr.name), cell(&cr.hint));
        if let Some(evidence) = cr.blocked_as_leaked() {
            lines.push(format!(
                "- {who}: blocked by the issuer as leaked — {} (unusable, still to be deleted)",
                cell(&scrub(evidence))
            ));
        }
        if c.rotation.is_contained() {
            for took in cr.revoke_takes() {
                lines.push(format!("- {who}: {}", cell(&scrub(took))));
            }
        }
        if let Some((gone, until)) = super::restorable_until(c) {
            lines.push(format!(
                "- {who}: deleted at the issuer {}; the issuer can restore it until {}",
                ts(&gone),
                ts(&until)
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(o, "### What the issuers said");
    let _ = writeln!(o);
    for l in lines {
        let _ = writeln!(o, "{l}");
    }
    let _ = writeln!(o);
}

fn confirmations(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Confirmations and overrides");
    let _ = writeln!(o);
    if state.confirmations.is_empty() {
        let _ = writeln!(o, "None given.");
    } else {
        let _ = writeln!(
            o,
            "| Time | Operator | Action | Credential | Via | Failed checks passed over |\n|---|---|---|---|---|---|"
        );
        for r in &state.confirmations {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                ts(&r.at),
                cell(&r.operator),
                if r.action.is_override() {
                    "**OVERRIDE**".to_string()
                } else {
                    cell(r.action.label())
                },
                cell(&name_of(state, &r.credential)),
                cell(r.via.word()),
                if r.override_of.is_empty() {
                    "—".to_string()
                } else {
                    cell(&r.override_of.join("; "))
                }
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Refused confirmations (empty or wrong word): {}",
        state.refusals
    );
    let _ = writeln!(o);
}

fn failures(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Failures and retries");
    let _ = writeln!(o);
    let mut any = false;
    for c in &state.credentials {
        if let RotationState::Failed { reached, why } = &c.rotation {
            any = true;
            let _ = writeln!(
                o,
                "- Rotation of {} **failed** after {}: {}",
                c.credential.name,
                reached.label(),
                scrub(why)
            );
        }
    }
    for s in &state.steps {
        if let StepStatus::Failed { why } = &s.status {
            any = true;
            let _ = writeln!(o, "- Step `{}` **failed**: {}", s.id, scrub(why));
        }
    }
    if any {
        let _ = writeln!(o);
    }
    if state.failures.is_empty() {
        if !any {
            let _ = writeln!(o, "None.");
            let _ = writeln!(o);
        }
        return;
    }
    let retried = retried_groups(state);
    if !retried.is_empty() {
        let n: usize = retried.iter().map(|g| g.3).sum();
        let _ = writeln!(
            o,
            "{n} failed call(s) were retried by themselves (backoff), as expected under load:"
        );
        let _ = writeln!(o);
        for (step, operation, what, count) in &retried {
            let _ = writeln!(
                o,
                "- {} ×{count}: `{}` {}",
                cell(what),
                cell(step),
                cell(operation)
            );
        }
        let _ = writeln!(o);
    }
    let stopped: Vec<_> = state.failures.iter().filter(|f| !f.retryable).collect();
    if stopped.is_empty() {
        return;
    }
    let _ = writeln!(o, "Calls that failed for good:");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| Time | Step | Operation | Credential | Attempt | Error | Retried |\n|---|---|---|---|---|---|---|"
    );
    for f in stopped {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            ts(&f.at),
            cell(&f.step),
            cell(&f.operation),
            f.credential
                .as_deref()
                .map(|c| cell(&name_of(state, c)))
                .unwrap_or_else(|| "—".into()),
            f.attempt,
            cell(&f.why),
            if f.retryable { "yes" } else { "no" }
        );
    }
    let _ = writeln!(o);
}

fn old_keys(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Old keys after revocation");
    let _ = writeln!(o);
    let revoked: Vec<&CredentialState> = state
        .credentials
        .iter()
        .filter(|c| c.rotation.is_contained())
        .collect();
    if revoked.is_empty() {
        let _ = writeln!(o, "No key was revoked.");
        let _ = writeln!(o);
        return;
    }
    let _ = writeln!(
        o,
        "| Credential | Revoked | Calls refused after | Calls accepted after | Last accepted call | Verdict |\n|---|---|---|---|---|---|"
    );
    let mut split = Vec::new();
    for c in revoked {
        let usage = state.usage.get(&c.credential.id);
        let (ok, denied) = usage.map(|u| u.old_after_revoke).unwrap_or((0, 0));
        if let Some(u) = usage {
            let (known, unknown) = u.after_revoke_split();
            if known.0 + known.1 > 0 {
                split.push(format!(
                    "- {}: of the calls after its revocation, {} refused and {} accepted came from known services (an outage), {} refused and {} accepted from unknown sources",
                    c.credential.name, known.1, known.0, unknown.1, unknown.0
                ));
            }
        }
        let last = usage
            .and_then(|u| u.last_old_use.as_ref())
            .map(|(t, from)| {
                if from.is_empty() {
                    ts(t)
                } else {
                    format!("{} from {}", ts(t), cell(from))
                }
            })
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            o,
            "| {} | {} | {denied} | {ok} | {last} | {} |",
            cell(&c.credential.name),
            ots(c.stamps.get(&Stage::Revoked)),
            if usage.is_none() {
                "no usage data"
            } else {
                after_revoke_verdict(ok, denied)
            }
        );
    }
    let _ = writeln!(o);
    if !split.is_empty() {
        for l in split {
            let _ = writeln!(o, "{l}");
        }
        let _ = writeln!(o);
    }
}

/// What an interrupted mint left at an issuer, breachbook's own pending versions taken off,
/// pending versions found in the way, and the sessions each revocation ended. Only when
/// there is any.
fn left_behind(o: &mut String, state: &IncidentState) {
    let sessions: Vec<_> = state
        .credentials
        .iter()
        .filter_map(|c| c.sessions_ended.as_ref().map(|s| (c, s)))
        .collect();
    if !sessions.is_empty() {
        let _ = writeln!(o, "## Sessions of revoked keys");
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Revoking a key does not end the sessions (temporary credentials) made from it; these were ended too, and checked again before the key was called dead."
        );
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "| Credential | Sessions refused if issued before | How |\n|---|---|---|"
        );
        for (c, (what, before)) in sessions {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                cell(&c.credential.name),
                ts(before),
                cell(what)
            );
        }
        let _ = writeln!(o);
    }
    let strays: Vec<_> = state
        .credentials
        .iter()
        .flat_map(|c| c.strays.iter().map(move |s| (c, s)))
        .collect();
    if !strays.is_empty() {
        let _ = writeln!(o, "## Keys minted and discarded");
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Keys an interrupted mint left at an issuer (or minted and then not stored): nobody held their secret, so each was deleted before minting again."
        );
        let _ = writeln!(o);
        let _ = writeln!(o, "| Credential | Key | Deleted |\n|---|---|---|");
        for (c, s) in strays {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                cell(&c.credential.name),
                cell(&s.what),
                s.discarded
                    .as_ref()
                    .map(ts)
                    .unwrap_or_else(|| "**NOT DELETED**".into())
            );
        }
        let _ = writeln!(o);
    }
    let pending: Vec<_> = state
        .credentials
        .iter()
        .filter(|c| c.pending_found.is_some() || c.pending_removed.is_some())
        .collect();
    if !pending.is_empty() {
        let _ = writeln!(o, "## Pending versions");
        let _ = writeln!(o);
        for c in pending {
            if let Some(p) = &c.pending_found {
                let _ = writeln!(
                    o,
                    "- {}: {} holds pending version `{}` breachbook did not put there ({}): {}",
                    c.credential.name,
                    p.location,
                    p.version,
                    scrub(&p.whose),
                    if p.confirmed {
                        "taken over (typed word)"
                    } else {
                        "left alone"
                    }
                );
            }
            if let Some(at) = &c.pending_removed {
                let _ = writeln!(
                    o,
                    "- {}: breachbook's own pending version was taken off at {} (the key was skipped)",
                    c.credential.name,
                    ts(at)
                );
            }
        }
        let _ = writeln!(o);
    }
}

fn outages(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Consumer errors");
    let _ = writeln!(o);
    if state.consumer_errors == 0 {
        let _ = writeln!(
            o,
            "None: no legitimate service lost access during the rotation."
        );
    } else {
        let _ = writeln!(
            o,
            "{} call(s) by legitimate services failed because the key they used was revoked under them. The OUTAGE lines of the timeline name each service and minute.",
            state.consumer_errors
        );
    }
    let _ = writeln!(o);
}

fn mistakes_section(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Mistakes");
    let _ = writeln!(o);
    let all = mistakes(state);
    if all.is_empty() {
        let _ = writeln!(
            o,
            "None recorded: no override, no revocation before propagation, no exposed key left out, no step skipped, no outage."
        );
    } else {
        for m in &all {
            let _ = writeln!(o, "- {m}");
        }
    }
    let _ = writeln!(o);
}

fn score(o: &mut String, state: &IncidentState) {
    let Some(s) = &state.score else {
        return;
    };
    let _ = writeln!(o, "## Drill score: {}/100", s.points);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "- Time to contain (incident opened → last exposed key revoked, as in the summary): {}",
        s.time_to_contain_secs
            .map(|x| duration::format(Duration::from_secs(x)))
            .unwrap_or_else(|| "not contained".into())
    );
    let _ = writeln!(o, "- Exposed keys revoked: {} of {}", s.revoked, s.exposed);
    let _ = writeln!(
        o,
        "- Attacker calls that succeeded after the first revocation: {}",
        s.attacker_calls_after_revoke
    );
    let _ = writeln!(o, "- Consumer errors caused: {}", s.consumer_errors);
    let _ = writeln!(
        o,
        "- Safety checks passed over (overrides, skipped critical steps or keys): {}",
        s.skipped_checks
    );
    let _ = writeln!(
        o,
        "- Attacker calls with exposed keys after the inventory had found them exposed: {}",
        s.attacker_calls_while_known
    );
    let _ = writeln!(
        o,
        "- Time each ready replacement waited for its old key's revocation: {}",
        waits_words(state)
    );
    if !s.mistakes.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "The drill's referee noted:");
        let _ = writeln!(o);
        for m in &s.mistakes {
            let _ = writeln!(o, "- {}", scrub(m));
        }
    }
    let _ = writeln!(o);
}

fn tone_mark(t: Tone) -> &'static str {
    match t {
        Tone::Alarm => "**!** ",
        Tone::Warn => "! ",
        Tone::Inject => "» ",
        Tone::Info | Tone::Good => "",
    }
}

fn timeline(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Timeline");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "In time order (entries of the same second as recorded). **!** alarm, ! warning, » scenario inject."
    );
    let _ = writeln!(o);
    for e in timeline_in_order(state) {
        let _ = writeln!(
            o,
            "- `{}` {}{}",
            ts(&e.at),
            tone_mark(e.tone),
            printable(&scrub(&e.text))
        );
    }
}

fn action_items_section(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Action items");
    let _ = writeln!(o);
    let items = action_items(state);
    if items.is_empty() {
        let _ = writeln!(
            o,
            "None: no skipped check, no override, no exposed key alive, nothing done by hand."
        );
    } else {
        for i in &items {
            let _ = writeln!(o, "- [ ] {i}");
        }
    }
    let _ = writeln!(o);
}

fn attacker(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Attacker activity");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Calls with the old (exposed) keys from sources that are not known services{}.",
        if state.known_sources.is_empty() {
            " (this runbook names no services, so every source is unknown)"
        } else {
            ""
        }
    );
    let _ = writeln!(o);
    let rows = attacker_activity(state);
    if rows.is_empty() {
        let _ = writeln!(o, "None seen.");
        let _ = writeln!(o);
        return;
    }
    let _ = writeln!(
        o,
        "| Credential | Source | Accepted | Refused | Accepted while known exposed | After revocation (accepted / refused) | First seen | Last seen |\n|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} |",
            cell(&r.credential),
            cell(&r.source),
            r.ok,
            r.denied,
            r.while_known,
            r.after_revoke.0,
            r.after_revoke.1,
            ts(&r.first),
            ts(&r.last)
        );
    }
    let _ = writeln!(o);
}

fn notes(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Operator notes");
    let _ = writeln!(o);
    if state.notes.is_empty() {
        let _ = writeln!(o, "None written.");
    } else {
        let _ = writeln!(o, "| Time | Operator | Note |\n|---|---|---|");
        for (at, who, text) in &state.notes {
            let _ = writeln!(o, "| {} | {} | {} |", ts(at), cell(who), cell(text));
        }
    }
    let _ = writeln!(o);
}
