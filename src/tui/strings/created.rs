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
