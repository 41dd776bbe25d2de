//! Validation after parsing: the rules the types cannot express (unique ids, the `needs`
//! graph, revoke safety, durations, the drill's references), every problem located at the
//! offending node and all of them reported at once.
//!
//! Locations come from a second, lenient parse of the same text (`shadow`). Here: the
//! problems found so far and the rules of the runbook's top level; `steps` checks the
//! steps and their `needs` graph, `drill` the drill section. Depends on `schema`,
//! `duration`, `diagnostic` and the parser options of `load`.

mod drill;
mod regions;
mod shadow;
mod steps;

pub use regions::{KNOWN_REGIONS, region_warnings};

use std::collections::BTreeSet;

use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostic, Lines};
use super::duration;
use super::schema::{Action, MAX_ATTEMPTS, MAX_CONCURRENCY, Runbook};
use shadow::{SRunbook, SSettings, off, opt_off};

const DURATION_HINT: &str =
    "durations are whole numbers with a unit: `90s`, `15m`, `2h`, `3d`, or sums like `1h30m`";

/// Every validation problem, located.
pub fn validate(src: &str, rb: &Runbook) -> Vec<Diagnostic> {
    // Most runbooks are valid: check without locations first, and parse the text a second
    // time for locations only when there is something to point at.
    if check(src, rb, &SRunbook::default()).is_empty() {
        return Vec::new();
    }
    let shadow: SRunbook =
        serde_saphyr::from_str_with_options(src, super::load::options()).unwrap_or_default();
    check(src, rb, &shadow)
}

/// Every problem, located through `shadow` (at the top of the file where it has no location).
fn check(src: &str, rb: &Runbook, shadow: &SRunbook) -> Vec<Diagnostic> {
    let mut p = Problems {
        lines: Lines::new(src),
        out: Vec::new(),
        more: 0,
    };
    top_level(&mut p, rb, shadow);
    steps::steps(&mut p, rb, shadow);
    if let Some(d) = &rb.drill {
        drill::drill(&mut p, rb, d, shadow);
    }
    let mut out = p.out;
    out.sort_by_key(|d| (d.line, d.column));
    if p.more > 0 {
        let at = out.last().map(|d| d.offset).unwrap_or(0);
        out.push(p.lines.diagnostic(
            at,
            format!("and {} more problems, not shown", p.more),
            Some("fix the ones above and run `breachbook check` again".into()),
        ));
    }
    out
}

/// Most problems reported for one file; a file with more is not worth reading further.
pub const MAX_PROBLEMS: usize = 100;

/// The problems found so far, in the text they point into. Past [`MAX_PROBLEMS`] they are
/// only counted, so a hostile file cannot make the report huge.
struct Problems<'a> {
    lines: Lines<'a>,
    out: Vec<Diagnostic>,
    more: usize,
}

impl Problems<'_> {
    fn push(&mut self, offset: usize, message: String, hint: Option<String>) {
        if self.full() {
            self.more += 1;
        } else {
            self.out.push(self.lines.diagnostic(offset, message, hint));
        }
    }

    /// True once no more problems are kept: skip costly hints.
    fn full(&self) -> bool {
        self.out.len() >= MAX_PROBLEMS
    }
}

/// Where step `i`'s id is written (the start of the file if unknown).
fn step_offset(shadow: &SRunbook, i: usize) -> usize {
    shadow
        .steps
        .get(i)
        .and_then(|s| s.id.as_ref())
        .map(off)
        .unwrap_or(0)
}

/// Version, exposure window, scope and settings.
fn top_level(p: &mut Problems, rb: &Runbook, shadow: &SRunbook) {
    if rb.version != 1 {
        p.push(
            opt_off(&shadow.version, 0),
            format!("unsupported version {}", rb.version),
            Some("this breachbook reads `version: 1`".into()),
        );
    }
    if let Some(end) = rb.exposure_window.end
        && end < rb.exposure_window.start
    {
        p.push(
            shadow
                .exposure_window
                .as_ref()
                .and_then(|w| w.end.as_ref())
                .map(off)
                .unwrap_or(0),
            "exposure_window.end lies before its start".into(),
            Some("swap them, or remove `end` while the breach is still open".into()),
        );
    }
    scope(p, rb, shadow);
    stores(p, rb, shadow);
    settings(p, rb, shadow);
    if rb.steps.is_empty() {
        p.push(
            0,
            "the runbook has no steps".into(),
            Some("add a `steps:` list".into()),
        );
    }
}

/// The scope names at least one source, Secrets Manager at least one region.
fn scope(p: &mut Problems, rb: &Runbook, shadow: &SRunbook) {
    let s = &rb.scope;
    if s.secrets_manager.is_none()
        && s.iam.is_none()
        && s.openai.is_none()
        && s.anthropic.is_none()
        && s.gemini.is_none()
        && s.braintrust.is_none()
        && s.vault.is_none()
        && s.ssm.is_none()
    {
        p.push(
            opt_off(&shadow.scope, 0),
            "the scope names no inventory source".into(),
            Some(
                "add at least one of secrets_manager, iam, openai, anthropic, gemini, braintrust, vault, ssm"
                    .into(),
            ),
        );
    }
    if let Some(sm) = &s.secrets_manager
        && sm.regions.is_empty()
    {
        p.push(
            opt_off(&shadow.scope, 0),
            "secrets_manager lists no regions".into(),
            Some("add `regions: [us-east-1]` (every region that holds secrets)".into()),
        );
    }
}

/// SSM paths are parameter hierarchies; a Vault mount is named.
fn stores(p: &mut Problems, rb: &Runbook, shadow: &SRunbook) {
    let s = &rb.scope;
    if let Some(ssm) = &s.ssm {
        if ssm.paths.is_empty() {
            p.push(
                opt_off(&shadow.scope, 0),
                "ssm lists no paths".into(),
                Some("add `paths: [/prod/ai/]` (the hierarchies that hold keys)".into()),
            );
        }
        for path in ssm.paths.iter().filter(|x| !x.starts_with('/')) {
            p.push(
                opt_off(&shadow.scope, 0),
                format!("ssm path `{path}` does not start with `/`"),
                Some("Parameter Store lists hierarchies only: write `/` and the path, e.g. `/prod/ai/`".into()),
            );
        }
    }
    if let Some(gh) = &s.github_actions {
        github_copies(p, gh, shadow);
    }
    if let Some(d) = &s.disk
        && d.paths.iter().all(|x| x.trim().is_empty())
    {
        p.push(
            opt_off(&shadow.scope, 0),
            "disk lists no paths".into(),
            Some("add `paths: [.]` (the folders to search for copies), or remove disk".into()),
        );
    }
    if let Some(v) = &s.vault
        && v.mount.trim_matches('/').is_empty()
    {
        p.push(
            opt_off(&shadow.scope, 0),
            "vault.mount is empty".into(),
            Some("name the KV version 2 mount, e.g. `mount: secret`".into()),
        );
    }
}

/// Each GitHub Actions copy names a repository `owner/name`, a secret GitHub would accept
/// (letters, digits and `_`, not starting with a digit or `GITHUB_`), and what it mirrors.
fn github_copies(
    p: &mut Problems,
    gh: &crate::runbook::schema::GithubActionsScope,
    shadow: &SRunbook,
) {
    let at = opt_off(&shadow.scope, 0);
    if gh.copies.is_empty() {
        p.push(
            at,
            "github_actions lists no copies".into(),
            Some("add `copies: [{repo: owner/name, secret: OPENAI_API_KEY, mirrors: sm:prod/ai/openai#OPENAI_API_KEY}]`, or remove github_actions".into()),
        );
    }
    for c in &gh.copies {
        let parts: Vec<&str> = c.repo.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|x| x.trim().is_empty()) {
            p.push(
                at,
                format!("github_actions repo `{}` is not `owner/name`", c.repo),
                Some("write the repository as GitHub shows it, e.g. `acme/api`".into()),
            );
        }
        let name = c.secret.as_str();
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && !name.to_ascii_uppercase().starts_with("GITHUB_");
        if !valid {
            p.push(
                at,
                format!("github_actions secret `{name}` is not a name GitHub accepts"),
                Some("secret names hold letters, digits and `_` only, and start with neither a digit nor `GITHUB_`".into()),
            );
        }
        if c.environment
            .as_deref()
            .is_some_and(|e| e.trim().is_empty())
        {
            p.push(
                at,
                format!("github_actions secret `{name}` has an empty environment"),
                Some(
                    "name the environment, or leave `environment` out for a repository secret"
                        .into(),
                ),
            );
        }
        if c.mirrors.trim().is_empty() {
            p.push(
                at,
                format!("github_actions secret `{name}` mirrors nothing"),
                Some("name the copy it holds as the Inventory labels it, e.g. `mirrors: sm:prod/ai/openai#OPENAI_API_KEY`".into()),
            );
        }
    }
}

/// The quiet period is a duration; concurrency and attempts are at least 1 and bounded.
fn settings(p: &mut Problems, rb: &Runbook, shadow: &SRunbook) {
    let settings_off = |f: &Option<Spanned<String>>| opt_off(f, 0);
    let no_settings = SSettings::default();
    let sset = shadow.settings.as_ref().unwrap_or(&no_settings);
    if let Err(e) = duration::parse(&rb.settings.quiet_period) {
        p.push(
            settings_off(&sset.quiet_period),
            format!("settings.quiet_period: {e}"),
            Some(DURATION_HINT.into()),
        );
    }
    if rb.settings.concurrency == 0 {
        p.push(
            sset.concurrency.as_ref().map(off).unwrap_or(0),
            "settings.concurrency must be at least 1".into(),
            Some("8 is a good default".into()),
        );
    } else if rb.settings.concurrency > MAX_CONCURRENCY {
        p.push(
            sset.concurrency.as_ref().map(off).unwrap_or(0),
            format!("settings.concurrency must be at most {MAX_CONCURRENCY}"),
            Some("providers throttle long before that; 8 is a good default".into()),
        );
    }
    if rb.settings.max_attempts == 0 {
        p.push(
            sset.max_attempts.as_ref().map(off).unwrap_or(0),
            "settings.max_attempts must be at least 1".into(),
            Some("it counts the first try too; 5 is a good default".into()),
        );
    } else if rb.settings.max_attempts > MAX_ATTEMPTS {
        p.push(
            sset.max_attempts.as_ref().map(off).unwrap_or(0),
            format!("settings.max_attempts must be at most {MAX_ATTEMPTS}"),
            Some("it counts the first try too; 5 is a good default".into()),
        );
    }
}

/// How to name a consumer, with the ones there are.
fn consumer_hint(consumers: &BTreeSet<&str>) -> String {
    if consumers.is_empty() {
        "name an actor with `kind: consumer`; this drill has none".into()
    } else {
        let list: Vec<&str> = consumers.iter().copied().collect();
        format!("name an actor with `kind: consumer`: {}", list.join(", "))
    }
}

/// An action as the YAML spells it.
fn action_name(a: Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{a:?}").to_lowercase())
}

/// One bit per action, for sets of actions.
fn bit(a: Action) -> u16 {
    1 << (a as u16)
}

/// `items` joined with `sep`, at most `max` of them (then `…`).
fn shorten(items: &[&str], sep: &str, max: usize) -> String {
    if items.len() <= max {
        items.join(sep)
    } else {
        format!("{}{sep}… ({} in all)", items[..max].join(sep), items.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_shadow_parse_reads_every_shipped_runbook() {
        // Without it every diagnostic would point at 1:1.
        for (name, src) in crate::runbook::shipped::all() {
            let shadow: Result<SRunbook, _> =
                serde_saphyr::from_str_with_options(src, crate::runbook::load::options());
            let shadow = shadow.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!shadow.steps.is_empty(), "{name}");
            let drill = shadow.drill.expect("every shipped runbook has a drill");
            assert!(drill.value.duration.is_some(), "{name}");
        }
    }

    #[test]
    fn github_copies_must_name_a_repo_a_valid_secret_and_what_they_mirror() {
        let (_, src) = crate::runbook::shipped::all()
            .iter()
            .find(|(n, _)| n.contains("vendor"))
            .expect("the vendor-breach runbook ships");
        let copies = "  github_actions:\n    copies:\n      - {repo: acme, secret: 1KEY, mirrors: ''}\n      - {repo: acme/api, secret: GITHUB_TOKEN, environment: '', mirrors: 'sm:x#Y'}\n      - {repo: acme/api, secret: OPENAI_API_KEY, mirrors: 'sm:x#Y'}\n";
        let src = src.replacen("scope:\n", &format!("scope:\n{copies}"), 1);
        let err = crate::runbook::load::load_str("t.yaml", &src).unwrap_err();
        let found: Vec<String> = err
            .diagnostics
            .into_iter()
            .map(|d| d.message)
            .filter(|m| m.starts_with("github_actions"))
            .collect();
        assert_eq!(
            found,
            vec![
                "github_actions repo `acme` is not `owner/name`",
                "github_actions secret `1KEY` is not a name GitHub accepts",
                "github_actions secret `1KEY` mirrors nothing",
                "github_actions secret `GITHUB_TOKEN` is not a name GitHub accepts",
                "github_actions secret `GITHUB_TOKEN` has an empty environment",
            ],
        );
    }

    #[test]
    fn long_lists_are_shortened() {
        let ids: Vec<String> = (0..30).map(|i| format!("s{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(shorten(&refs[..3], ", ", 12), "s0, s1, s2");
        let long = shorten(&refs, ", ", 12);
        assert!(long.ends_with("s11, … (30 in all)"), "{long}");
    }

    #[test]
    fn hints_name_the_closest_consumer_deterministically() {
        let set: BTreeSet<&str> = ["billing", "chat"].into_iter().collect();
        assert_eq!(
            consumer_hint(&set),
            "name an actor with `kind: consumer`: billing, chat"
        );
        assert_eq!(action_name(Action::Propagate), "propagate");
    }
}
