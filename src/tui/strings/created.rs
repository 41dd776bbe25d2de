//! Words about keys and persistence created during the exposure window.

/// The exposed column of a suspect key nobody decided on yet.
pub const SUSPECT: &str = "SUSPECT";
/// The exposed column of a suspect key that was revoked.
pub const SUSPECT_REVOKED: &str = "revoked";
/// The exposed column of a key created in the window whose creator is vouched for.
pub const CREATED_KNOWN: &str = "known";
/// The details line of a key created during the window: the verdict's why.
pub fn verdict(suspect: bool, why: &str) -> String {
    if suspect {
        format!("SUSPECT — {why}")
    } else {
        format!("created in the window — {why}")
    }
}
/// The details line of a suspect: what to decide.
pub const SUSPECT_DECIDE: &str =
    "decide: revoke it (the revoke step, its typed word), or mark it known with why (:known <why>)";
/// The decision on a key created during the window.
pub fn decided(what: &str) -> String {
    format!("decision: {what}")
}
/// The status line when persistence made in the window waits for review.
pub fn persistence_waiting(n: usize) -> String {
    format!("{n} persistence finding(s) made in the window by unknown identities — see the report")
}
/// The Inventory's heading over persistence made in the window to review.
pub fn persistence_heading(n: usize) -> String {
    format!(
        "TO REVIEW — {n} persistence finding(s) made in the window by unknown identities (breachbook changes none):"
    )
}
/// One persistence finding in the Inventory.
pub fn persistence_line(issuer: &str, action: &str, target: &str, by: &str) -> String {
    format!("  {issuer} {action}: {target} — by {by}")
}
/// More findings than the Inventory shows.
pub fn persistence_more(n: usize) -> String {
    format!("  and {n} more — the report lists every one")
}
/// `:known` without a reason.
pub const KNOWN_EMPTY: &str = "say why the selected key is known: :known <who made it, for what>";

// ── The revoke step and its window, for suspects ─────────────────────────────────────────

/// The revoke step's line while suspects wait for a decision (`names`: each suspect, with
/// its creator in brackets; `unknown`: how many of them have a creator nobody could tell;
/// `exposed_left`: exposed keys are still to revoke first). The step is not done until
/// each is revoked or marked known.
pub fn suspects_waiting(names: &[String], unknown: usize, exposed_left: bool) -> String {
    let n = names.len();
    let keys = if n == 1 {
        "1 suspect key".to_string()
    } else {
        format!("{n} suspect keys")
    };
    let (it, each) = if n == 1 {
        ("it", "it")
    } else {
        ("the next", "each")
    };
    let after = if exposed_left {
        " after the exposed keys"
    } else {
        ""
    };
    let mut s = format!(
        "{} {keys} created in the exposure window: {} — this step is done only once {each} is decided. Enter revokes {it}{after} (its typed word), or select {it} in the Inventory and :known <why>.",
        if exposed_left {
            "Also waiting on"
        } else {
            "Waiting on"
        },
        names.join(", "),
    );
    if unknown > 0 {
        s.push_str(&if unknown == n && n == 1 {
            " Its creator could not be determined (the audit log was not readable or has no record), so breachbook cannot tell it from the attacker's: it waits for your decision.".to_string()
        } else if unknown == n {
            " None of their creators could be determined (the audit log was not readable or has no record), so breachbook cannot tell any from the attacker's: each waits for your decision.".to_string()
        } else {
            format!(
                " {unknown} of them have a creator that could not be determined (the audit log was not readable or has no record): breachbook cannot tell those from the attacker's, so each waits for your decision."
            )
        });
    }
    s
}
/// A suspect's name with who made it, for the revoke step's waiting line.
pub fn suspect_named(name: &str, by: Option<&str>) -> String {
    match by {
        Some(by) => format!("{name} (by {by})"),
        None => format!("{name} (creator unknown)"),
    }
}
/// The revocation window's heading for a suspect.
pub fn suspect_revoke_heading(name: &str) -> String {
    format!(
        "REVOKE {name}: a SUSPECT key, created during the exposure window — maybe the attacker's own"
    )
}
/// Who made the suspect, as its issuer's audit log recorded it.
pub fn suspect_created_by(who: &str, event: &str) -> String {
    format!("created by {who} ({event})")
}
/// The suspect's creator is not known, and why.
pub fn suspect_creator_unknown(why: &str) -> String {
    format!("creator unknown: {why}")
}
/// Its creator was never looked up.
pub const SUSPECT_CREATOR_UNLOOKED: &str =
    "creator unknown: no audit log of this issuer is read, so breachbook cannot tell who made it";
/// What revoking a suspect does and does not do.
pub const SUSPECT_NO_REPLACEMENT: &str = "Revoking it mints no replacement: it is not breachbook's key and was never rotated. Whatever uses it stops working now — if that is a service of yours, Esc and mark it known instead (:known <why>).";
/// Its locations, without the new-key column (there is no new key).
pub const SUSPECT_NO_PREFLIGHT: &str =
    "no pre-flight checks: there is no replacement to roll out first";
/// The revocation window's title for a suspect.
pub fn suspect_revoke_title(name: &str) -> String {
    format!("Revoke SUSPECT {name}")
}
/// A suspect was revoked.
pub fn suspect_revoked(name: &str, more: bool) -> String {
    if more {
        format!("{name} (suspect): revoked. Press Enter for the next key.")
    } else {
        format!("{name} (suspect): revoked. No key is left to confirm in this step.")
    }
}
/// A suspect with no accepted call seen.
pub const SUSPECT_LAST_USE_NONE: &str = "last accepted call: none seen";
