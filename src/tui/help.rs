//! The `?` overlay, generated from the keymap table grouped by purpose (as k9s does), and the
//! onboarding explanation of a panel.
//!
//! Depends on `keymap`, `overlay` (box helpers), `strings`, `text`.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::App;
use super::keymap::{self, Group};
use super::overlay::{self, centered, frame_box};
use super::panel::Panel;
use super::{strings, text};

/// The help lines: every registered binding, by group; `notes` adds the revocation keys.
pub fn lines(app: &App, width: usize, notes: bool) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = vec![Line::from(Span::styled(strings::HELP_HEADING, t.bold()))];
    for g in Group::ALL {
        let bindings: Vec<_> = keymap::active(app.read_only)
            .filter(|b| b.group == g)
            .collect();
        if bindings.is_empty() {
            continue;
        }
        lines.push(Line::from(Span::styled(g.label(), t.accent())));
        for b in bindings {
            lines.extend(text::wrapped(
                &format!("  {:<11}", b.label),
                t.bold(),
                b.help,
                t.text(),
                width,
            ));
        }
    }
    if app.read_only {
        lines.extend(text::wrapped(
            "",
            t.warn(),
            strings::HELP_READ_ONLY,
            t.warn(),
            width,
        ));
    }
    if notes {
        lines.push(Line::from(""));
        lines.extend(text::wrapped(
            "",
            t.dim(),
            strings::HELP_REVOKE_KEYS,
            t.dim(),
            width,
        ));
    }
    lines.push(Line::from(Span::styled(strings::HELP_CLOSE, t.dim())));
    lines
}

pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    let w = overlay::width(area, 84);
    let iw = w.saturating_sub(2) as usize;
    let mut lines = lines(app, iw, true);
    if lines.len() + 2 > area.height as usize {
        // A small terminal: the keys matter more than the notes.
        lines = self::lines(app, iw, false);
    }
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = frame_box(
        f,
        centered(area, w, h),
        strings::HELP_TITLE,
        app.theme.accent(),
    );
    f.render_widget(Paragraph::new(lines), inner);
}

/// Onboarding: what a panel is for.
pub fn explain(app: &App, p: Panel, f: &mut Frame) {
    let t = app.theme;
    let area = f.area();
    let w = overlay::width(area, 66);
    let mut lines = text::wrapped(
        "",
        t.text(),
        p.explanation(),
        t.text(),
        w.saturating_sub(2) as usize,
    );
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(strings::ANY_KEY, t.dim())));
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = frame_box(f, centered(area, w, h), p.title(), t.accent());
    f.render_widget(Paragraph::new(lines), inner);
}
