//! Step: the selected step's title, what can be done now and with which key, the
//! instructions, the `why` in onboarding mode, the items of a manual step and a command's text
//! and output.
//!
//! Depends on `app` (read only), `panel`, `strings`, `text` and the incident state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::frame::{block, status};
use crate::incident::provenance::Provenance;
use crate::incident::rules;
use crate::incident::state::{StepState, StepStatus};
use crate::runbook::schema::{Action, Step};
use crate::tui::app::App;
use crate::tui::panel::Panel;
use crate::tui::{strings, text};

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let st = &app.state;
    let b = block(app, Panel::Step, Some(position(app)));
    let (Some(s), Some(def)) = (
        st.steps.get(app.selected_step),
        st.steps
            .get(app.selected_step)
            .and_then(|s| st.step_def(&s.id)),
    ) else {
        Paragraph::new("").block(b).render(area, buf);
        return;
    };
    let mut lines = heading(app, s, def);
    lines.push(Line::from(""));
    for l in def.instructions.lines() {
        lines.push(Line::from(l.to_string()));
    }
    lines.extend(body(app, s, def, area.width.saturating_sub(2) as usize));
    Paragraph::new(lines)
        .block(b)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}

/// The panel's status: which step of how many, with a spinner while it runs.
fn position(app: &App) -> Line<'static> {
    let st = &app.state;
    let running = st
        .steps
        .get(app.selected_step)
        .is_some_and(|s| s.status == StepStatus::Running);
    if running {
        Line::from(Span::styled(
            format!(
                " {} {} · {}/{} ",
                app.spinner_frame(),
                strings::STEP_RUNNING,
                app.selected_step + 1,
                st.steps.len()
            ),
            app.theme.accent(),
        ))
    } else {
        status(app, format!("{}/{}", app.selected_step + 1, st.steps.len()))
    }
}

/// The title, how the step ended, and what can be done now — first, so it never scrolls
/// out of sight.
fn heading(app: &App, s: &StepState, def: &Step) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = vec![Line::from(Span::styled(def.title.clone(), t.bold()))];
    match &s.status {
        StepStatus::Done => {
            lines.push(Line::from(Span::styled(strings::STEP_DONE, t.good())));
        }
        StepStatus::Failed { why } => {
            lines.push(Line::from(Span::styled(strings::step_failed(why), t.bad())));
        }
        StepStatus::Skipped { why } => {
            let critical = def.is_critical;
            lines.push(Line::from(Span::styled(
                strings::step_skipped(why, critical),
                if critical { t.bad() } else { t.warn() },
            )));
        }
        StepStatus::Pending if s.skip.is_some() => {
            let why = s.skip.as_deref().unwrap_or_default();
            lines.push(Line::from(Span::styled(
                strings::step_reopened(why),
                t.warn(),
            )));
        }
        _ => {}
    }
    if let Some(b) = app.would_block(&s.id) {
        // Nothing would move: say what it waits for, and the keys that move it on.
        let mark = if s.status == StepStatus::Running {
            strings::BLOCKED_MARK
        } else {
            strings::WOULD_BLOCK_MARK
        };
        // The panel's paragraph wraps it.
        lines.push(Line::from(vec![
            Span::styled(mark, t.warn().add_modifier(ratatui::style::Modifier::BOLD)),
            Span::styled(app.blocked_words(&b), t.warn()),
        ]));
        return lines;
    }
    lines.push(Line::from(next_action(app, s, def)));
    if matches!(s.status, StepStatus::Failed { .. }) && !app.read_only {
        lines.push(Line::from(Span::styled(strings::FAILED_STEP_KEYS, t.dim())));
    }
    if matches!(def.action, Action::Revoke | Action::Delete) && !s.is_finished() {
        let delete = def.action == Action::Delete;
        let names: Vec<String> = app
            .state
            .awaiting_confirmation(delete)
            .iter()
            .filter(|c| c.in_rotation())
            .map(|c| c.credential.name.clone())
            .collect();
        if !names.is_empty() {
            let verb = if delete {
                strings::VERB_DELETE
            } else {
                strings::VERB_REVOKE
            };
            lines.push(Line::from(Span::styled(
                strings::keys_left(verb, &names),
                t.warn(),
            )));
        }
        if rules::rule(def.action).decides_suspects
            && let Some(line) = suspects_waiting(app, !names.is_empty())
        {
            lines.push(Line::from(Span::styled(line, t.bad())));
        }
    }
    lines
}

/// What a revoke step waits on besides its exposed keys: the open suspects, each with who
/// made it (or that nobody could tell), and how to decide.
fn suspects_waiting(app: &App, exposed_left: bool) -> Option<String> {
    let st = &app.state;
    let open = st.open_suspects();
    if open.is_empty() {
        return None;
    }
    let mut unknown = 0;
    let names: Vec<String> = open
        .iter()
        .map(|c| {
            let by = match &c.provenance {
                Some(Provenance::Creator { creator }) => Some(creator.identity.as_str()),
                _ => None,
            };
            unknown += usize::from(by.is_none());
            strings::suspect_named(&c.credential.name, by)
        })
        .collect();
    Some(strings::suspects_waiting(&names, unknown, exposed_left))
}

/// What can be done now, and with which key.
fn next_action(app: &App, s: &StepState, def: &Step) -> Span<'static> {
    let st = &app.state;
    let t = app.theme;
    let unmet = st.unmet_needs(&s.id);
    let next_title = app
        .current_step_index()
        .and_then(|i| st.runbook.steps.get(i))
        .map(|d| d.title.as_str());
    if matches!(s.status, StepStatus::Skipped { .. }) {
        return Span::styled(strings::STEP_SKIPPED_KEYS, t.accent());
    }
    if s.is_finished() {
        return Span::styled(strings::step_finished_next(next_title), t.dim());
    }
    if !unmet.is_empty() {
        let titles: Vec<String> = unmet
            .iter()
            .map(|n| strings::quoted(st.step_def(n).map(|d| d.title.as_str()).unwrap_or(n)))
            .collect();
        return Span::styled(strings::waits_for(&titles), t.dim());
    }
    if app.read_only && def.action.is_mutating() {
        return Span::styled(strings::READ_ONLY_STEP, t.warn());
    }
    let text = match def.action {
        Action::Manual => {
            strings::manual_keys(s.checked.iter().filter(|c| **c).count(), s.checked.len())
        }
        Action::Inventory => strings::DO_INVENTORY.to_string(),
        Action::Rotate => strings::DO_ROTATE.to_string(),
        Action::Verify => strings::DO_VERIFY.to_string(),
        Action::Propagate => strings::DO_PROPAGATE.to_string(),
        Action::Revoke => strings::DO_REVOKE.to_string(),
        Action::Delete => strings::DO_DELETE.to_string(),
        Action::Monitor => strings::DO_MONITOR.to_string(),
        Action::Command => strings::DO_COMMAND.to_string(),
        Action::Report => strings::DO_REPORT.to_string(),
    };
    Span::styled(text, t.accent())
}

/// After the instructions: the why (onboarding), the items to tick, a command and its
/// output.
fn body(app: &App, s: &StepState, def: &Step, width: usize) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    if app.onboarding && !def.why.trim().is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled(strings::WHY, t.accent()),
            Span::raw(def.why.split_whitespace().collect::<Vec<_>>().join(" ")),
        ]));
    }
    if !def.checklist.is_empty() {
        lines.push(Line::from(""));
        for (i, item) in def.checklist.iter().enumerate() {
            let on = s.checked.get(i).copied().unwrap_or(false);
            // Wrapped here so continuation lines hang under the text, not the box.
            let item_lines = text::hanging(
                if on { " [x] " } else { " [ ] " },
                if on { t.good() } else { t.text() },
                item,
                t.text(),
                width,
                5,
            );
            let selected = i == app.selected_item && !s.is_finished();
            lines.extend(
                item_lines
                    .into_iter()
                    .map(|l| if selected { l.style(t.selected()) } else { l }),
            );
        }
    }
    if let Some(c) = &def.command {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(format!("$ {}", c.run), t.bold())));
    }
    if let Some(out) = app.state.command_output.get(&s.id) {
        for l in out.iter().rev().take(6).rev() {
            lines.push(Line::from(Span::styled(l.clone(), t.dim())));
        }
    }
    lines
}
