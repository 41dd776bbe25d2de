//! The `?` window, generated from `keymap::BINDINGS` grouped by purpose (as k9s does): the
//! screen's keys a row each when there is room, then one row per window; packed tighter on a
//! small terminal. And the onboarding tip: what a panel is for.
//!
//! Depends on `keymap`, `overlay`, `panel`, `strings`, `text`, `theme`.

use ratatui::Frame;
use ratatui::text::{Line, Span};

use super::window::Ctx;
use crate::tui::keymap::{self, Binding, Group};
use crate::tui::panel::Panel;
use crate::tui::theme::Theme;
use crate::tui::{overlay, strings, text};

/// The label column of a roomy row.
const LABEL_W: usize = 11;

/// The help lines at this width: a row per screen binding when `roomy`, else packed, each
/// group's bindings after its name.
pub fn lines(ctx: &Ctx, width: usize, roomy: bool) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let shown = |g: Group| -> Vec<&'static Binding> {
        keymap::active(ctx.read_only)
            .filter(|b| b.group == g)
            .collect()
    };
    let groups: Vec<(Group, Vec<&Binding>)> = Group::ALL
        .iter()
        .filter(|g| **g != Group::Help)
        .map(|g| (*g, shown(*g)))
        .filter(|(_, b)| !b.is_empty())
        .collect();
    // Packed: the group names are a column of their own.
    let name_w = groups
        .iter()
        .map(|(g, _)| text::width(g.label()))
        .max()
        .unwrap_or(0)
        + 1;
    let mut lines = Vec::new();
    if roomy {
        // Packed, the box's title says it already: the row goes to the keys.
        lines.push(Line::from(Span::styled(strings::HELP_HEADING, t.bold())));
    }
    let mut windows_heading = roomy;
    for (g, bindings) in &groups {
        let entries = bindings.iter().map(|b| (b.label, b.help));
        if !roomy {
            let name = format!("{:<name_w$}", g.label());
            lines.extend(packed(&name, t.accent(), entries, width, t));
        } else if g.on_screen() {
            lines.push(Line::from(Span::styled(g.label(), t.accent())));
            for b in bindings {
                lines.extend(text::wrapped(
                    &format!("  {:<LABEL_W$}", b.label),
                    t.bold(),
                    b.help,
                    t.text(),
                    width,
                ));
            }
        } else {
            if std::mem::take(&mut windows_heading) {
                lines.push(Line::from(Span::styled(strings::HELP_WINDOWS, t.accent())));
            }
            let name = format!("  {:<LABEL_W$}", g.label());
            lines.extend(packed(&name, t.bold(), entries, width, t));
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
    // This window's own keys close it.
    for (label, help) in keymap::window_hints(Group::Help) {
        lines.push(Line::from(Span::styled(format!("{label} {help}"), t.dim())));
    }
    lines
}

/// `label help` entries after `name`, as many to a row as fit, ` · ` between them; rows after
/// the first are indented under the entries.
fn packed(
    name: &str,
    name_style: ratatui::style::Style,
    entries: impl Iterator<Item = (&'static str, &'static str)>,
    width: usize,
    t: Theme,
) -> Vec<Line<'static>> {
    let indent = text::width(name);
    let room = width.saturating_sub(indent).max(1);
    let mut rows: Vec<Vec<Span<'static>>> = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (label, help) in entries {
        let w = text::width(label) + 1 + text::width(help);
        if used > 0 && used + 3 + w > room {
            rows.push(std::mem::take(&mut row));
            used = 0;
        }
        if used > 0 {
            row.push(Span::styled(" · ", t.dim()));
            used += 3;
        }
        row.push(Span::styled(label, t.bold()));
        row.push(Span::styled(format!(" {help}"), t.text()));
        used += w;
    }
    rows.push(row);
    rows.into_iter()
        .enumerate()
        .map(|(i, mut spans)| {
            let head = if i == 0 {
                Span::styled(name.to_string(), name_style)
            } else {
                Span::raw(" ".repeat(indent))
            };
            spans.insert(0, head);
            Line::from(spans)
        })
        .collect()
}

/// Draws the `?` window: a row per binding if it fits, else packed.
pub fn draw(f: &mut Frame, ctx: &Ctx) {
    let area = f.area();
    let w = overlay::width(area, 84);
    let iw = w.saturating_sub(2) as usize;
    let mut lines = lines(ctx, iw, true);
    if usize::from(overlay::height(lines.len())) > area.height as usize {
        // A small terminal: every key still shows, packed.
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
