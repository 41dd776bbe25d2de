//! The steps: ids, `needs`, what each action may carry, and the `needs` graph with the
//! safety of revoke and delete steps.

use std::collections::{HashMap, VecDeque};

use super::shadow::{SRunbook, SStep, off};
use super::{DURATION_HINT, Problems, action_name, bit, shorten, step_offset};
use crate::runbook::diagnostic::did_you_mean;
use crate::runbook::duration;
use crate::runbook::schema::{Action, Confirm, Runbook, Step};

/// Step ids, `needs`, what each action may carry, the `needs` graph, revoke and delete safety.
pub(super) fn steps(p: &mut Problems, rb: &Runbook, shadow: &SRunbook) {
    let ids = step_ids(p, rb, shadow);
    let all_ids: Vec<&str> = rb.steps.iter().map(|s| s.id.as_str()).collect();
    for (i, st) in rb.steps.iter().enumerate() {
        let sh = shadow.steps.get(i);
        needs_known(p, i, st, sh, shadow, &ids, &all_ids);
        action_fields(p, i, st, sh, shadow);
    }
    step_order(p, rb, shadow);
}

/// Every step's id, unique and not empty; the first step of each id.
fn step_ids<'a>(p: &mut Problems, rb: &'a Runbook, shadow: &SRunbook) -> HashMap<&'a str, usize> {
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
    ids
}

/// Step `i`'s `needs` name other steps.
fn needs_known(
    p: &mut Problems,
    i: usize,
    st: &Step,
    sh: Option<&SStep>,
    shadow: &SRunbook,
    ids: &HashMap<&str, usize>,
    all_ids: &[&str],
) {
    let step_off = |i: usize| step_offset(shadow, i);
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
                    None => format!("known steps: {}", shorten(all_ids, ", ", 12)),
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
}

/// What step `i`'s action may carry: a typed confirmation for revoke and delete, a
/// checklist for manual steps only, a command for command steps only, a valid timeout.
fn action_fields(p: &mut Problems, i: usize, st: &Step, sh: Option<&SStep>, shadow: &SRunbook) {
    let step_off = |i: usize| step_offset(shadow, i);
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
    if let Some(cmd) = &st.command {
        let shadow_cmd = sh.and_then(|s| s.command.as_ref()).map(|c| &c.value);
        for (j, name) in cmd.pass_env.iter().enumerate() {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                p.push(
                    shadow_cmd
                        .and_then(|c| c.pass_env.get(j))
                        .map(off)
                        .unwrap_or(action_off),
                    format!("pass_env: `{name}` is not an environment variable name"),
                    Some(
                        "write names like `AWS_PROFILE`: letters, digits and `_`, not starting with a digit"
                            .into(),
                    ),
                );
            }
        }
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

/// The needs graph: one cycle named; revoke and delete safety for every step in order.
fn step_order(p: &mut Problems, rb: &Runbook, shadow: &SRunbook) {
    let step_off = |i: usize| step_offset(shadow, i);
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
}
