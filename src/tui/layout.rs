//! The whole screen: header, the six panels (or one panel under a tab bar on a small
//! terminal), the footer with key hints or the latest message, and the windows on top.
//! Drawing only reads `App`.
//!
//! Depends on `app` (read only), `panels`, `modal` (each window draws itself), `keymap`,
//! `panel`, `strings`, `text`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};

use super::app::App;
use super::panel::Panel;
use super::panels::PanelView;
use super::{keymap, strings, text};

/// Below this many columns or rows the panels collapse to tabs.
pub const MIN_FULL_WIDTH: u16 = 100;
pub const MIN_FULL_HEIGHT: u16 = 30;
/// Below this many columns or rows nothing fits: one message says so.
pub const MIN_WIDTH: u16 = 50;
pub const MIN_HEIGHT: u16 = 14;

/// Whether the screen is too small for all panels at once.
pub fn compact(area: Rect) -> bool {
    area.width < MIN_FULL_WIDTH || area.height < MIN_FULL_HEIGHT
}

/// Draws the whole screen from the app state.
pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        // One clear message rather than a screen cut to pieces.
        let msg = strings::too_small(MIN_WIDTH, MIN_HEIGHT, area.width, area.height);
        let lines = text::wrapped(
            "",
            app.theme.warn(),
            &msg,
            app.theme.bold(),
            area.width as usize,
        );
        let h = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .min(area.height);
        let y = area.y + area.height.saturating_sub(h) / 2;
        f.render_widget(Paragraph::new(lines), Rect::new(area.x, y, area.width, h));
        return;
    }
    let footer = footer_lines(app, area.width as usize);
    let footer_h = u16::try_from(footer.len()).unwrap_or(1);
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(footer_h),
    ])
    .areas(area);
    header(app, f, head);
    if compact(area) {
        let [tabs, panel] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(body);
        let titles: Vec<Line> = Panel::ALL
            .iter()
            .map(|p| {
                if *p == app.focus {
                    Line::from(format!("▸{}", p.title()))
                } else {
                    Line::from(p.title())
                }
            })
            .collect();
        f.render_widget(
            Tabs::new(titles)
                .select(app.focus.index())
                .highlight_style(app.theme.selected())
                .divider("│"),
            tabs,
        );
        f.render_widget(
            PanelView {
                app,
                panel: app.focus,
            },
            panel,
        );
    } else {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(37), Constraint::Percentage(63)])
                .areas(body);
        // The checklist takes what its steps need, up to half the height.
        let steps = u16::try_from(app.state.steps.len()).unwrap_or(u16::MAX);
        let checklist_h = steps.saturating_add(2).clamp(5, (left.height / 2).max(5));
        let [checklist, step] =
            Layout::vertical([Constraint::Length(checklist_h), Constraint::Min(6)]).areas(left);
        let [inventory, rotation, bottom] = Layout::vertical([
            Constraint::Percentage(30),
            Constraint::Percentage(25),
            Constraint::Percentage(45),
        ])
        .areas(right);
        let [usage, timeline] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bottom);
        for (panel, r) in [
            (Panel::Checklist, checklist),
            (Panel::Step, step),
            (Panel::Inventory, inventory),
            (Panel::Rotation, rotation),
            (Panel::Usage, usage),
            (Panel::Timeline, timeline),
        ] {
            f.render_widget(PanelView { app, panel }, r);
        }
    }
    f.render_widget(Paragraph::new(footer), foot);
    let ctx = app.ctx();
    for m in &app.modals {
        m.draw(f, &ctx);
    }
}

fn header(app: &App, f: &mut Frame, area: Rect) {
    let t = app.theme;
    let st = &app.state;
    let elapsed = (app.now() - st.opened_at).num_seconds();
    let steps = st.step_counts();
    let gaps = st.gaps().len();
    let (contained, exposed) = st.containment();
    let mut first = vec![
        Span::raw(" "),
        Span::styled(format!(" {} ", st.mode.badge()), t.mode_badge(st.mode)),
    ];
    if app.read_only {
        first.push(Span::raw(" "));
        first.push(Span::styled(
            format!(" {} ", strings::READ_ONLY_BADGE),
            t.read_only_badge(),
        ));
    }
    first.push(Span::raw("  "));
    first.push(Span::styled(st.runbook.title.clone(), t.bold()));
    first.push(Span::raw(format!("   ⏱ {}", text::duration(elapsed))));
    if app.drill_paused {
        first.push(Span::styled(format!(" {}", strings::CLOCK_PAUSED), t.dim()));
    }
    if app.busy.in_flight > 0 && app.stopped.is_none() {
        first.push(Span::styled(
            format!(
                "   {} {}",
                app.spinner_frame(),
                strings::working(app.busy.in_flight)
            ),
            t.accent(),
        ));
    }
    // Progress first: the identity is long and may be cut at the right edge.
    let mut second = vec![Span::raw(format!(
        " {}",
        strings::steps_done(steps.done, steps.total)
    ))];
    if steps.skipped > 0 {
        second.push(Span::styled(
            format!(" · {}", strings::steps_skipped(steps.skipped)),
            t.warn(),
        ));
    }
    if gaps > 0 {
        second.push(Span::styled(format!(" · {}", strings::gaps(gaps)), t.bad()));
    }
    second.extend([
        Span::styled(
            format!("   {}", strings::keys_contained(contained, exposed)),
            if exposed > 0 && contained == exposed {
                t.good()
            } else {
                t.warn()
            },
        ),
        Span::styled(format!("   {}", strings::operator(&st.operator)), t.dim()),
        Span::styled(
            format!("  {}", strings::identity(st.cloud_identity.as_deref())),
            t.dim(),
        ),
    ]);
    f.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

/// The footer: why the engine stopped (if it did), then the latest message, the top
/// window's keys (the filter prompt is one) or the screen's key hints. A long message wraps
/// (up to three rows) rather than being cut.
fn footer_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    if let Some(why) = &app.stopped {
        lines.extend(text::wrapped(
            " ",
            t.bad(),
            &strings::engine_stopped(why),
            t.bad(),
            width,
        ));
    }
    if let Some(msg) = &app.toast {
        lines.extend(text::wrapped(
            " ",
            t.warn(),
            msg,
            t.warn().add_modifier(ratatui::style::Modifier::BOLD),
            width,
        ));
    } else if let Some(top) = app.modals.last() {
        lines.push(top.footer(&app.ctx()));
    } else {
        let mut hints = keymap::hints(app.read_only, app.focus);
        // A failed key is worth its retry key wherever the operator looks at the steps.
        let failed = app.rotation_rows().iter().any(|c| {
            matches!(
                c.rotation,
                crate::incident::rotation::RotationState::Failed { .. }
            )
        });
        let steps_in_view = matches!(
            app.focus,
            super::panel::Panel::Checklist | super::panel::Panel::Step
        );
        if failed
            && steps_in_view
            && let Some(b) =
                keymap::active(app.read_only).find(|b| b.action == super::action::Action::Retry)
            && let Some(h) = b.hint
            && !hints.contains(&(b.label, h))
        {
            hints.insert(2.min(hints.len()), (b.label, h));
        }
        // Two spaces between hints when they fit, one when the terminal is narrow.
        let wide: usize = hints
            .iter()
            .map(|(l, h)| text::width(l) + text::width(h) + 3)
            .sum();
        let gap = if wide < width { " " } else { "" };
        let mut spans = Vec::new();
        for (label, hint) in hints {
            spans.push(Span::styled(format!(" {label} "), t.accent()));
            spans.push(Span::raw(format!("{hint}{gap}")));
        }
        lines.push(Line::from(spans));
    }
    lines.truncate(3);
    lines
}
