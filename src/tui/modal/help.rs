//! The `?` window, generated from the keymap table grouped by purpose (as k9s does), and the
//! onboarding tip: what a panel is for.
//!
//! Depends on `keymap`, `overlay`, `panel`, `strings`, `text`.

use ratatui::Frame;
use ratatui::text::{Line, Span};

use super::window::Ctx;
use crate::tui::keymap::{self, Group};
use crate::tui::panel::Panel;
use crate::tui::{overlay, strings, text};

/// The help lines: every registered binding, by group; `notes` adds the revocation keys.
pub fn lines(ctx: &Ctx, width: usize, notes: bool) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let mut lines = vec![Line::from(Span::styled(strings::HELP_HEADING, t.bold()))];
    for g in Group::ALL {
        let bindings: Vec<_> = keymap::active(ctx.read_only)
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
    if ctx.read_only {
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

/// Draws the `?` window.
pub fn draw(f: &mut Frame, ctx: &Ctx) {
    let area = f.area();
    let w = overlay::width(area, 84);
    let iw = w.saturating_sub(2) as usize;
    let mut lines = lines(ctx, iw, true);
    if usize::from(overlay::height(lines.len())) > area.height as usize {
        // A small terminal: the keys matter more than the notes.
        lines = self::lines(ctx, iw, false);
    }
    overlay::boxed(f, w, strings::HELP_TITLE, ctx.theme.accent(), lines);
}

/// Onboarding: what a panel is for.
pub fn explain(f: &mut Frame, p: Panel, ctx: &Ctx) {
    let t = ctx.theme;
    let w = overlay::width(f.area(), 66);
    let mut lines = text::wrapped(
        "",
        t.text(),
        p.explanation(),
        t.text(),
        w.saturating_sub(2) as usize,
    );
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(strings::ANY_KEY, t.dim())));
    overlay::boxed(f, w, p.title(), t.accent(), lines);
}
