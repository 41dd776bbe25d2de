//! The drill section: durations, names, and the references between credentials, actors,
//! faults and the steps' drill effects.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::shadow::{SDrill, SDrillEffect, SFaultBody, SRunbook, off, opt_off};
use super::{DURATION_HINT, Problems, consumer_hint, step_offset};
use crate::runbook::diagnostic::did_you_mean;
use crate::runbook::duration;
use crate::runbook::schema::{
    ActorKind, Drill, DrillEffect, Fault, MAX_SPEED, MIN_SPEED, Runbook, SimLocation, speed_ok,
};

/// The drill: durations, names, references between credentials, actors, faults and steps.
pub(super) fn drill(p: &mut Problems, rb: &Runbook, d: &Drill, shadow: &SRunbook) {
    let sd = shadow.drill.as_ref().map(|s| &s.value);
    let doff = shadow.drill.as_ref().map(off).unwrap_or(0);
    let length = clock(p, d, sd, doff);
    let (names, locations) = credentials(p, d, sd, doff);
    let consumers = actors(p, d, sd, doff, &names, &locations);
    injects(p, d, sd, doff, length);
    faults(p, d, sd, doff, length, &consumers);
    drill_effects(p, rb, shadow, &consumers);
}

/// The drill's length (when it parses), its start and speed; it has credentials.
fn clock(p: &mut Problems, d: &Drill, sd: Option<&SDrill>, doff: usize) -> Option<Duration> {
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
    } else if !speed_ok(d.speed) {
        p.push(
            sd.and_then(|s| s.speed.as_ref()).map(off).unwrap_or(doff),
            format!("drill.speed must be between {MIN_SPEED} and {MAX_SPEED}"),
            Some(format!(
                "{MAX_SPEED} already plays an hour of drill per real second; 10 means ten simulated seconds per real second"
            )),
        );
    }
    if d.credentials.is_empty() {
        p.push(
            doff,
            "the drill has no credentials".into(),
            Some("add `credentials:` for the simulated world".into()),
        );
    }
    length
}

/// Credential names are unique, ages parse, every credential lives somewhere and no two
/// share a place. Returns the names and the locations' names.
fn credentials<'a>(
    p: &mut Problems,
    d: &'a Drill,
    sd: Option<&SDrill>,
    doff: usize,
) -> (BTreeSet<&'a str>, BTreeSet<String>) {
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
            let (name, place) = place_of(l);
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
    (names, locations)
}

/// A location's name and the place it names, in words.
fn place_of(l: &SimLocation) -> (&String, String) {
    match l {
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
        SimLocation::Braintrust { secret } => (secret, format!("Braintrust AI secret `{secret}`")),
        SimLocation::IamUser { user } => (user, format!("IAM user `{user}`")),
    }
}

/// Actor names are unique; actors use drill credentials and read their locations;
/// attackers say how often they burst. Returns the consumers' names.
fn actors<'a>(
    p: &mut Problems,
    d: &'a Drill,
    sd: Option<&SDrill>,
    doff: usize,
    names: &BTreeSet<&str>,
    locations: &BTreeSet<String>,
) -> BTreeSet<&'a str> {
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
    consumers
}

/// Injects arrive at a valid time within the drill.
fn injects(
    p: &mut Problems,
    d: &Drill,
    sd: Option<&SDrill>,
    doff: usize,
    length: Option<Duration>,
) {
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
}

/// Fault rates lie between 0 and 1, throttling windows within the drill, stale consumers
/// are consumers.
fn faults(
    p: &mut Problems,
    d: &Drill,
    sd: Option<&SDrill>,
    doff: usize,
    length: Option<Duration>,
    consumers: &BTreeSet<&str>,
) {
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
                throttle_window(p, from, until, body, fo, length, &d.duration);
            }
            Fault::ServerError { rate, .. } => check_rate(*rate, p),
            Fault::StaleConsumer { consumer } => {
                if !consumers.contains(consumer.as_str()) {
                    let hint = did_you_mean(consumer, consumers.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| consumer_hint(consumers));
                    p.push(
                        at(body.and_then(|b| b.consumer.as_ref())),
                        format!("stale_consumer names `{consumer}`, which is not a consumer actor"),
                        Some(hint),
                    );
                }
            }
        }
    }
}

/// A throttling window: `from` and `until` parse, `until` comes after `from`, `from`
/// before the drill ends.
fn throttle_window(
    p: &mut Problems,
    from: &Option<String>,
    until: &Option<String>,
    body: Option<&SFaultBody>,
    fo: usize,
    length: Option<Duration>,
    drill_duration: &str,
) {
    let at = |field: Option<&Spanned<String>>| field.map(off).unwrap_or(fo);
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
                drill_duration
            ),
            Some("move it earlier or make `drill.duration` longer".into()),
        );
    }
}

/// The consumers a command step's drill effect restarts are consumer actors.
fn drill_effects(p: &mut Problems, rb: &Runbook, shadow: &SRunbook, consumers: &BTreeSet<&str>) {
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
                        .unwrap_or_else(|| consumer_hint(consumers));
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
