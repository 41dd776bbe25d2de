//! Validation after parsing: the rules the types cannot express (unique ids, the `needs`
//! graph, revoke safety, durations, the drill's references), every problem located at the
//! offending node and all of them reported at once.
//!
//! Locations come from a second, lenient "shadow" parse of the same text into structs of
//! `Spanned` values that mirror the parts of the schema the rules talk about.
//!
//! Depends on `schema`, `duration`, `diagnostic` and the parser options of `load`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostic, Lines, did_you_mean};
use super::duration;
use super::schema::{Action, ActorKind, Confirm, Drill, DrillEffect, Fault, Runbook, SimLocation};

const DURATION_HINT: &str =
    "durations are whole numbers with a unit: `90s`, `15m`, `2h`, `3d`, or sums like `1h30m`";

// A second, lenient parse that keeps locations of the values validation talks about.

#[derive(Deserialize, Default)]
#[serde(default)]
struct SRunbook {
    version: Option<Spanned<u32>>,
    exposure_window: Option<SExposure>,
    scope: Option<Spanned<IgnoredAny>>,
    settings: Option<SSettings>,
    steps: Vec<SStep>,
    drill: Option<Spanned<SDrill>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SExposure {
    end: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SSettings {
    quiet_period: Option<Spanned<String>>,
    concurrency: Option<Spanned<u64>>,
    max_attempts: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SStep {
    id: Option<Spanned<String>>,
    needs: Vec<Spanned<String>>,
    action: Option<Spanned<String>>,
    confirm: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    command: Option<Spanned<SCommand>>,
    checklist: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SCommand {
    drill_effect: Option<Spanned<SDrillEffect>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SDrillEffect {
    RestartConsumers(Vec<Spanned<String>>),
    Nothing,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SDrill {
    duration: Option<Spanned<String>>,
    starts_after_exposure: Option<Spanned<String>>,
    speed: Option<Spanned<f64>>,
    credentials: Vec<SCred>,
    actors: Vec<SActor>,
    injects: Vec<SInject>,
    faults: Vec<Spanned<SFault>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SCred {
    name: Option<Spanned<String>>,
    age: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SActor {
    name: Option<Spanned<String>>,
    uses: Vec<Spanned<String>>,
    every: Option<Spanned<String>>,
    reads: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SInject {
    at: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SFault {
    Throttle(SFaultBody),
    ServerError(SFaultBody),
    StaleConsumer(SFaultBody),
}

impl SFault {
    fn body(&self) -> &SFaultBody {
        match self {
            SFault::Throttle(b) | SFault::ServerError(b) | SFault::StaleConsumer(b) => b,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SFaultBody {
    rate: Option<Spanned<f64>>,
    from: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    consumer: Option<Spanned<String>>,
}

fn off<T>(s: &Spanned<T>) -> usize {
    s.referenced
        .span()
        .byte_offset()
        .map(|o| o as usize)
        .unwrap_or(0)
}

fn opt_off<T>(s: &Option<Spanned<T>>, fallback: usize) -> usize {
    s.as_ref().map(off).unwrap_or(fallback)
}

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
    steps(&mut p, rb, shadow);
    if let Some(d) = &rb.drill {
        drill(&mut p, rb, d, shadow);
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
    let s = &rb.scope;
    if s.secrets_manager.is_none()
        && s.iam.is_none()
        && s.openai.is_none()
        && s.anthropic.is_none()
        && s.gemini.is_none()
        && s.braintrust.is_none()
    {
        p.push(
            opt_off(&shadow.scope, 0),
            "the scope names no inventory source".into(),
            Some(
                "add at least one of secrets_manager, iam, openai, anthropic, gemini, braintrust"
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
    }
    if rb.settings.max_attempts == 0 {
        p.push(
            sset.max_attempts.as_ref().map(off).unwrap_or(0),
            "settings.max_attempts must be at least 1".into(),
            Some("it counts the first try too; 5 is a good default".into()),
        );
    }
    if rb.steps.is_empty() {
        p.push(
            0,
            "the runbook has no steps".into(),
            Some("add a `steps:` list".into()),
        );
    }
}

/// Step ids, `needs`, what each action may carry, the `needs` graph, revoke and delete safety.
fn steps(p: &mut Problems, rb: &Runbook, shadow: &SRunbook) {
    let step_off = |i: usize| step_offset(shadow, i);
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, st) in rb.steps.iter().enumerate() {
        if st.id.trim().is_empty() {
            p.push(
                step_off(i),
                "step id is empty".into(),
                Some("give every step a short id, e.g. `rotate`".into()),
            );
        }
        if let Some(first) = ids.get(st.id.as_str()) {
            p.push(
                step_off(i),
                format!("duplicate step id `{}`", st.id),
                Some(format!(
                    "step {} already uses this id; ids must be unique",
                    first + 1
                )),
            );
        } else {
            ids.insert(&st.id, i);
        }
    }
    let all_ids: Vec<&str> = rb.steps.iter().map(|s| s.id.as_str()).collect();
    for (i, st) in rb.steps.iter().enumerate() {
        let sh = shadow.steps.get(i);
        for (j, n) in st.needs.iter().enumerate() {
            let o = sh
                .and_then(|s| s.needs.get(j))
                .map(off)
                .unwrap_or(step_off(i));
            if !ids.contains_key(n.as_str()) {
                let hint = if p.full() {
                    String::new()
                } else {
                    match did_you_mean(n, all_ids.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("known steps: {}", shorten(&all_ids, ", ", 12)),
                    }
                };
                p.push(
                    o,
                    format!("step `{}` needs `{n}`, which is not a step", st.id),
                    Some(hint),
                );
            } else if n == &st.id {
                p.push(
                    o,
                    format!("step `{}` needs itself", st.id),
                    Some("remove it from its own `needs`".into()),
                );
            }
        }
        let action_off = sh
            .and_then(|s| s.action.as_ref())
            .map(off)
            .unwrap_or(step_off(i));
        if matches!(st.action, Action::Revoke | Action::Delete)
            && let Some(c) = st.confirm
            && c != Confirm::Typed
        {
            p.push(
                sh.and_then(|s| s.confirm.as_ref()).map(off).unwrap_or(action_off),
                format!(
                    "a {} step's typed confirmation cannot be switched off",
                    if st.action == Action::Revoke { "revoke" } else { "delete" }
                ),
                Some("remove `confirm:` or write `confirm: typed`: every key is confirmed by typing its word".into()),
            );
        }
        if st.action == Action::Manual && st.checklist.is_empty() {
            p.push(
                action_off,
                format!("manual step `{}` has no checklist", st.id),
                Some("add `checklist:` with the items the responder ticks".into()),
            );
        }
        if st.action != Action::Manual && !st.checklist.is_empty() {
            p.push(
                sh.and_then(|s| s.checklist.as_ref())
                    .map(off)
                    .unwrap_or(action_off),
                format!(
                    "only manual steps have a checklist; step `{}` has `action: {}`",
                    st.id,
                    action_name(st.action)
                ),
                Some("remove the checklist or make the step `action: manual`".into()),
            );
        }
        match (&st.command, st.action) {
            (None, Action::Command) => p.push(
                action_off,
                format!("command step `{}` has no `command`", st.id),
                Some("add `command: {run: \"…\"}`".into()),
            ),
            (Some(_), a) if a != Action::Command => p.push(
                sh.and_then(|s| s.command.as_ref())
                    .map(off)
                    .unwrap_or(action_off),
                format!(
                    "step `{}` has a command but its action is not `command`",
                    st.id
                ),
                Some("write `action: command`, or remove the command".into()),
            ),
            _ => {}
        }
        if let Some(t) = &st.timeout
            && let Err(e) = duration::parse(t)
        {
            p.push(
                sh.and_then(|s| s.timeout.as_ref())
                    .map(off)
                    .unwrap_or(step_off(i)),
                format!("timeout: {e}"),
                Some(DURATION_HINT.into()),
            );
        }
    }

    // The needs graph: one cycle named; revoke and delete safety for every step in order.
    let needs = needs_graph(rb);
    let order = in_order(&needs);
    let mut ordered = vec![false; rb.steps.len()];
    for &i in &order {
        ordered[i] = true;
    }
    if let Some(cycle) = find_cycle(&needs, &ordered) {
        let first = cycle.first().copied().unwrap_or(0);
        let mut names: Vec<&str> = cycle.iter().map(|i| rb.steps[*i].id.as_str()).collect();
        names.push(names.first().copied().unwrap_or(""));
        p.push(
            step_off(first),
            format!(
                "steps need each other in a cycle: {}",
                shorten(&names, " → ", 12)
            ),
            Some("remove one of these `needs` so the steps can run in order".into()),
        );
    }
    // What each step needs, directly or through others, as a set of actions. Steps in or
    // after a cycle stay unknown: the cycle is the problem to fix first.
    let mut before = vec![0u16; rb.steps.len()];
    for &i in &order {
        before[i] = needs[i]
            .iter()
            .fold(0, |acc, &j| acc | before[j] | bit(rb.steps[j].action));
    }
    for &i in &order {
        let st = &rb.steps[i];
        let has = |a: Action| before[i] & bit(a) != 0;
        if st.action == Action::Revoke {
            // Revoking before the new key is verified and everywhere is an outage.
            for (need, what) in [
                (Action::Verify, "verifies the new keys"),
                (Action::Propagate, "propagates them"),
            ] {
                if !has(need) {
                    p.push(
                        step_off(i),
                        format!("revoke step `{}` does not need a step that {what}", st.id),
                        Some(format!(
                            "add the id of a `{}` step to `needs:` (directly or through another step): revoking before that causes an outage",
                            action_name(need)
                        )),
                    );
                }
            }
        }
        if st.action == Action::Delete && !has(Action::Revoke) {
            // Deleting a key that is still live cannot be undone.
            p.push(
                step_off(i),
                format!("delete step `{}` does not need a revoke step", st.id),
                Some("add the id of the `revoke` step (or of a step after it) to `needs:`: deleting a key that is still in use is an outage with no way back".into()),
            );
        }
    }
}

/// The drill: durations, names, references between credentials, actors, faults and steps.
fn drill(p: &mut Problems, rb: &Runbook, d: &Drill, shadow: &SRunbook) {
    let sd = shadow.drill.as_ref().map(|s| &s.value);
    let doff = shadow.drill.as_ref().map(off).unwrap_or(0);
    let length = match duration::parse(&d.duration) {
        Ok(l) => Some(l),
        Err(e) => {
            p.push(
                sd.map(|s| opt_off(&s.duration, doff)).unwrap_or(doff),
                format!("drill.duration: {e}"),
                Some(DURATION_HINT.into()),
            );
            None
        }
    };
    if let Err(e) = duration::parse(&d.starts_after_exposure) {
        p.push(
            sd.map(|s| opt_off(&s.starts_after_exposure, doff))
                .unwrap_or(doff),
            format!("drill.starts_after_exposure: {e}"),
            Some(DURATION_HINT.into()),
        );
    }
    if !(d.speed.is_finite() && d.speed > 0.0) {
        p.push(
            sd.and_then(|s| s.speed.as_ref()).map(off).unwrap_or(doff),
            "drill.speed must be a positive number".into(),
            Some("10 means ten simulated seconds per real second".into()),
        );
    }
    if d.credentials.is_empty() {
        p.push(
            doff,
            "the drill has no credentials".into(),
            Some("add `credentials:` for the simulated world".into()),
        );
    }
    let mut names: BTreeSet<&str> = BTreeSet::new();
    let mut locations: BTreeSet<String> = BTreeSet::new();
    let mut places: BTreeMap<String, String> = BTreeMap::new();
    for (i, c) in d.credentials.iter().enumerate() {
        let co = sd
            .and_then(|s| s.credentials.get(i))
            .map(|c| opt_off(&c.name, doff))
            .unwrap_or(doff);
        if !names.insert(&c.name) {
            p.push(
                co,
                format!("duplicate drill credential `{}`", c.name),
                Some("names must be unique".into()),
            );
        }
        if let Err(e) = duration::parse(&c.age) {
            p.push(
                sd.and_then(|s| s.credentials.get(i))
                    .map(|c| opt_off(&c.age, co))
                    .unwrap_or(co),
                format!("age: {e}"),
                Some(DURATION_HINT.into()),
            );
        }
        if c.locations.is_empty() {
            p.push(
                co,
                format!("drill credential `{}` has no locations", c.name),
                Some("add where its copies live".into()),
            );
        }
        for l in &c.locations {
            let (name, place) = match l {
                SimLocation::SecretsManager {
                    secret,
                    field,
                    region,
                } => (
                    secret,
                    format!(
                        "secret `{secret}`{} in {region}",
                        field
                            .as_ref()
                            .map(|f| format!(" field `{f}`"))
                            .unwrap_or_default()
                    ),
                ),
                SimLocation::Braintrust { secret } => {
                    (secret, format!("Braintrust AI secret `{secret}`"))
                }
                SimLocation::IamUser { user } => (user, format!("IAM user `{user}`")),
            };
            locations.insert(name.clone());
            // One place holds one key: two credentials there would overwrite each other.
            if let Some(other) = places.get(&place)
                && *other != c.name
            {
                p.push(
                    co,
                    format!(
                        "drill credentials `{other}` and `{}` both live in {place}",
                        c.name
                    ),
                    Some("give each credential its own secret or JSON field".into()),
                );
            }
            places.insert(place, c.name.clone());
        }
    }
    let mut consumers: BTreeSet<&str> = BTreeSet::new();
    let mut actor_names: BTreeSet<&str> = BTreeSet::new();
    for (i, a) in d.actors.iter().enumerate() {
        let sa = sd.and_then(|s| s.actors.get(i));
        let ao = sa.map(|a| opt_off(&a.name, doff)).unwrap_or(doff);
        if !actor_names.insert(&a.name) {
            p.push(
                ao,
                format!("duplicate drill actor `{}`", a.name),
                Some("actor names must be unique: the timeline and the score name them".into()),
            );
        }
        if a.kind == ActorKind::Consumer {
            consumers.insert(&a.name);
        }
        if a.uses.is_empty() {
            p.push(
                ao,
                format!("actor `{}` uses no credential", a.name),
                Some("add `uses: [name]`".into()),
            );
        }
        for (j, u) in a.uses.iter().enumerate() {
            if !names.contains(u.as_str()) {
                let hint = did_you_mean(u, names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "name a credential of `drill.credentials`".into());
                p.push(
                    sa.and_then(|a| a.uses.get(j)).map(off).unwrap_or(ao),
                    format!(
                        "actor `{}` uses `{u}`, which is not a drill credential",
                        a.name
                    ),
                    Some(hint),
                );
            }
        }
        if let Some(r) = &a.reads
            && !locations.contains(r)
        {
            p.push(
                sa.and_then(|a| a.reads.as_ref()).map(off).unwrap_or(ao),
                format!(
                    "actor `{}` reads `{r}`, which is no location of a drill credential",
                    a.name
                ),
                Some("name a secret listed under a credential's locations".into()),
            );
        }
        match (&a.every, a.kind) {
            (None, ActorKind::Attacker) => p.push(
                ao,
                format!("attacker `{}` has no `every`", a.name),
                Some("say how often it bursts, e.g. `every: 4m`".into()),
            ),
            (Some(e), _) => {
                if let Err(err) = duration::parse(e) {
                    p.push(
                        sa.and_then(|a| a.every.as_ref()).map(off).unwrap_or(ao),
                        format!("every: {err}"),
                        Some(DURATION_HINT.into()),
                    );
                }
            }
            _ => {}
        }
    }
    for (i, inj) in d.injects.iter().enumerate() {
        let io = sd
            .and_then(|s| s.injects.get(i))
            .map(|x| opt_off(&x.at, doff))
            .unwrap_or(doff);
        match duration::parse(&inj.at) {
            Err(e) => p.push(io, format!("inject at: {e}"), Some(DURATION_HINT.into())),
            Ok(at) => {
                if let Some(len) = length
                    && at > len
                {
                    p.push(
                        io,
                        format!(
                            "inject at {} lies after the drill ends ({})",
                            inj.at, d.duration
                        ),
                        Some("move it earlier or make `drill.duration` longer".into()),
                    );
                }
            }
        }
    }
    for (i, f) in d.faults.iter().enumerate() {
        let sf = sd.and_then(|s| s.faults.get(i));
        let fo = sf.map(off).unwrap_or(doff);
        let body = sf.map(|f| f.value.body());
        let at = |field: Option<&Spanned<String>>| field.map(off).unwrap_or(fo);
        let rate_off = body.and_then(|b| b.rate.as_ref()).map(off).unwrap_or(fo);
        let check_rate = |rate: f64, p: &mut Problems| {
            if !(0.0..=1.0).contains(&rate) {
                p.push(
                    rate_off,
                    format!("fault rate {rate} is not between 0 and 1"),
                    Some("0.3 means 30% of calls".into()),
                );
            }
        };
        match f {
            Fault::Throttle {
                rate, from, until, ..
            } => {
                check_rate(*rate, p);
                let mut parsed = [None, None];
                for (k, (text, field, name)) in [
                    (from, body.and_then(|b| b.from.as_ref()), "from"),
                    (until, body.and_then(|b| b.until.as_ref()), "until"),
                ]
                .into_iter()
                .enumerate()
                {
                    let Some(t) = text else { continue };
                    match duration::parse(t) {
                        Ok(v) => parsed[k] = Some((v, at(field))),
                        Err(e) => p.push(
                            at(field),
                            format!("fault {name}: {e}"),
                            Some(DURATION_HINT.into()),
                        ),
                    }
                }
                if let [Some((from_t, _)), Some((until_t, until_off))] = parsed
                    && until_t <= from_t
                {
                    p.push(
                        until_off,
                        format!(
                            "fault until ({}) is not after its from ({})",
                            until.as_deref().unwrap_or(""),
                            from.as_deref().unwrap_or("")
                        ),
                        Some("`until` must be later than `from`".into()),
                    );
                }
                if let ([Some((from_t, from_off)), _], Some(len)) = (parsed, length)
                    && from_t >= len
                {
                    p.push(
                        from_off,
                        format!(
                            "fault from {} lies after the drill ends ({})",
                            from.as_deref().unwrap_or(""),
                            d.duration
                        ),
                        Some("move it earlier or make `drill.duration` longer".into()),
                    );
                }
            }
            Fault::ServerError { rate, .. } => check_rate(*rate, p),
            Fault::StaleConsumer { consumer } => {
                if !consumers.contains(consumer.as_str()) {
                    let hint = did_you_mean(consumer, consumers.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| consumer_hint(&consumers));
                    p.push(
                        at(body.and_then(|b| b.consumer.as_ref())),
                        format!("stale_consumer names `{consumer}`, which is not a consumer actor"),
                        Some(hint),
                    );
                }
            }
        }
    }
    for (i, st) in rb.steps.iter().enumerate() {
        if let Some(c) = &st.command
            && let Some(DrillEffect::RestartConsumers(list)) = &c.drill_effect
        {
            let effect = shadow
                .steps
                .get(i)
                .and_then(|s| s.command.as_ref())
                .and_then(|c| c.value.drill_effect.as_ref());
            for (j, n) in list.iter().enumerate() {
                if !consumers.contains(n.as_str()) {
                    let o = match effect.map(|e| &e.value) {
                        Some(SDrillEffect::RestartConsumers(names)) => names.get(j).map(off),
                        _ => None,
                    }
                    .or(effect.map(off))
                    .unwrap_or(step_offset(shadow, i));
                    let hint = did_you_mean(n, consumers.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| consumer_hint(&consumers));
                    p.push(
                        o,
                        format!("drill_effect restarts `{n}`, which is not a consumer actor"),
                        Some(hint),
                    );
                }
            }
        }
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

/// The `needs` graph by step index: what each step needs. Unknown ids and a step's need of
/// itself are left out (both are reported on their own); a duplicate id means its first step.
fn needs_graph(rb: &Runbook) -> Vec<Vec<usize>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in rb.steps.iter().enumerate() {
        index.entry(s.id.as_str()).or_insert(i);
    }
    rb.steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.needs
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .filter(|j| *j != i)
                .collect()
        })
        .collect()
}

/// Step indices in an order where each step comes after everything it needs. Steps in a
/// cycle, or needing one, are left out. Linear in steps and needs, without recursion.
fn in_order(needs: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); needs.len()];
    for (i, ns) in needs.iter().enumerate() {
        for &j in ns {
            needed_by[j].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..needs.len()).filter(|i| waiting[*i] == 0).collect();
    let mut order = Vec::with_capacity(needs.len());
    while let Some(j) = ready.pop_front() {
        order.push(j);
        for &i in &needed_by[j] {
            waiting[i] -= 1;
            if waiting[i] == 0 {
                ready.push_back(i);
            }
        }
    }
    order
}

/// One cycle of step indices, if the order left steps out: from the first such step, follow
/// needs that were left out too until a step comes round again.
fn find_cycle(needs: &[Vec<usize>], ordered: &[bool]) -> Option<Vec<usize>> {
    let mut cur = (0..needs.len()).find(|i| !ordered[*i])?;
    let mut path: Vec<usize> = Vec::new();
    let mut seen_at: HashMap<usize, usize> = HashMap::new();
    loop {
        if let Some(&at) = seen_at.get(&cur) {
            return Some(path.split_off(at));
        }
        seen_at.insert(cur, path.len());
        path.push(cur);
        cur = *needs[cur].iter().find(|j| !ordered[**j])?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_shadow_parse_reads_every_shipped_runbook() {
        // Without it every diagnostic would point at 1:1.
        for (name, src) in super::super::shipped::all() {
            let shadow: Result<SRunbook, _> =
                serde_saphyr::from_str_with_options(src, super::super::load::options());
            let shadow = shadow.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!shadow.steps.is_empty(), "{name}");
            let drill = shadow.drill.expect("every shipped runbook has a drill");
            assert!(drill.value.duration.is_some(), "{name}");
        }
    }

    #[test]
    fn long_chains_and_cycles_need_no_recursion() {
        let n = 100_000;
        let mut needs: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let order = in_order(&needs);
        assert_eq!(order.len(), n);
        assert!(find_cycle(&needs, &vec![true; n]).is_none());
        needs[0] = vec![n - 1];
        let order = in_order(&needs);
        assert!(order.is_empty());
        let cycle = find_cycle(&needs, &vec![false; n]).unwrap();
        assert_eq!(cycle.len(), n);
    }

    #[test]
    fn a_cycle_is_named_from_its_first_step_even_when_reached_from_outside() {
        // 0 needs 1; 1 and 2 need each other; 3 is fine.
        let needs = vec![vec![1], vec![2], vec![1], vec![]];
        let order = in_order(&needs);
        assert_eq!(order, vec![3]);
        let mut ordered = vec![false; 4];
        ordered[3] = true;
        assert_eq!(find_cycle(&needs, &ordered), Some(vec![1, 2]));
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
