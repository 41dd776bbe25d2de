//! Checklist: the runbook's steps with status icons; the step to do now marked ▶, blocked
//! steps dimmed with what they wait for.
//!
//! Depends on `app` (read only), `panel`, `strings` and the incident state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::frame::{block, status};
use crate::incident::state::StepStatus;
use crate::tui::app::App;
use crate::tui::panel::Panel;
use crate::tui::strings;

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let st = &app.state;
    let t = app.theme;
    let current = app.current_step_index();
    let focused = app.focus == Panel::Checklist;
    let lines: Vec<Line> = st
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let title = st
                .step_def(&s.id)
                .map(|d| d.title.clone())
                .unwrap_or_else(|| s.id.clone());
            let unmet = st.unmet_needs(&s.id);
            let blocked = s.status == StepStatus::Pending && !unmet.is_empty();
            let stuck = s.status == StepStatus::Running && s.blocked.is_some();
            let critical = st.step_def(&s.id).is_some_and(|d| d.is_critical);
            let (icon, style) = match &s.status {
                StepStatus::Done => ("✓", t.good()),
                StepStatus::Running if stuck => ("⏸", t.warn()),
                StepStatus::Running => (app.spinner_frame(), t.accent()),
                StepStatus::Failed { .. } => ("✗", t.bad()),
                StepStatus::Skipped { .. } => ("↷", t.warn()),
                StepStatus::Pending if blocked => ("·", t.dim()),
                StepStatus::Pending if s.skip.is_some() => ("↷", t.warn()),
                StepStatus::Pending => ("○", t.text()),
            };
            let is_current = Some(i) == current;
            let title_style = if is_current {
                style.add_modifier(Modifier::BOLD)
            } else {
                style
            };
            let mut spans = vec![
                Span::styled(if is_current { "▶ " } else { "  " }, t.accent()),
                Span::styled(format!("{icon} "), style),
                Span::styled(title, title_style),
            ];
            if blocked {
                spans.push(Span::styled(strings::needs(&unmet), t.dim()));
            }
            if matches!(s.status, StepStatus::Skipped { .. }) {
                spans.push(if critical {
                    Span::styled(strings::SKIPPED_GAP, t.bad())
                } else {
                    Span::styled(strings::SKIPPED, t.warn())
                });
            } else if s.status == StepStatus::Pending && s.skip.is_some() {
                spans.push(Span::styled(strings::REOPENED, t.warn()));
            } else if stuck {
                spans.push(Span::styled(strings::BLOCKED, t.warn()));
            }
            let line = Line::from(spans);
            if focused && i == app.selected_step {
                line.style(t.selected())
            } else {
                line
            }
        })
        .collect();
    let n = st.step_counts();
    let b = block(
        app,
        Panel::Checklist,
        Some(status(app, strings::done_of(n.done, n.skipped, n.total))),
    );
    // Keep the selected step in view.
    let inner_h = area.height.saturating_sub(2) as usize;
    let scroll = app.selected_step.saturating_sub(inner_h.saturating_sub(1));
    Paragraph::new(lines)
        .block(b)
        .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
        .render(area, buf);
}
