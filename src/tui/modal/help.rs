//! The `?` window, generated from `keymap::BINDINGS` grouped by purpose (as k9s does): the
//! screen's keys a row each when there is room, then one row per window; packed tighter on a
//! small terminal, and scrolled when even that does not fit (its closing keys always show).
//! And the onboarding tips: what a panel is for, what a term means where it first appears.
//!
//! Depends on `action`, `keymap`, `overlay`, `strings`, `text`, `theme`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::window::{Ctx, ModalOutcome, Then};
use crate::tui::action::{Action, Scroll};
use crate::tui::keymap::{self, Binding, Group};
use crate::tui::theme::Theme;
use crate::tui::{overlay, strings, text};

/// A word a new engineer meets on the screen, explained once where it first appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Term {
    /// AWSPENDING and AWSCURRENT, Secrets Manager's staging labels.
    Staging,
    /// An ASN, as in "unknown ASN" next to a caller's address.
    Asn,
    /// The quiet period of watching a revoked key.
    QuietPeriod,
    /// The pre-flight checks of a dangerous action.
    Preflight,
}

impl Term {
    pub const ALL: [Term; 4] = [Term::Staging, Term::Asn, Term::QuietPeriod, Term::Preflight];

    pub fn title(self) -> &'static str {
        match self {
            Term::Staging => strings::TERM_STAGING_TITLE,
            Term::Asn => strings::TERM_ASN_TITLE,
            Term::QuietPeriod => strings::TERM_QUIET_TITLE,
            Term::Preflight => strings::TERM_PREFLIGHT_TITLE,
        }
    }

    pub fn explanation(self) -> &'static str {
        match self {
            Term::Staging => strings::TERM_STAGING,
            Term::Asn => strings::TERM_ASN,
            Term::QuietPeriod => strings::TERM_QUIET,
            Term::Preflight => strings::TERM_PREFLIGHT,
        }
    }
}

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
    lines
}

/// The help window's last line: its own keys (closing, scrolling), always in view.
fn closing_line(ctx: &Ctx) -> Line<'static> {
    let keys: Vec<String> = keymap::window_hints(Group::Help)
        .iter()
        .map(|(label, help)| format!("{label} {help}"))
        .collect();
    Line::from(Span::styled(keys.join(" · "), ctx.theme.dim()))
}

/// Scrolling the help window.
pub fn update(scroll: &mut usize, action: &Action, ctx: &Ctx) -> ModalOutcome {
    let page = usize::from(ctx.size.1.saturating_sub(6)).max(1);
    match action {
        Action::Close => return ModalOutcome::Close(Then::Nothing),
        Action::Scroll(s) => {
            *scroll = match s {
                Scroll::Up => scroll.saturating_sub(1),
                Scroll::Down => scroll.saturating_add(1),
                Scroll::PageUp => scroll.saturating_sub(page),
                Scroll::PageDown => scroll.saturating_add(page),
                Scroll::Top => 0,
                Scroll::Bottom => usize::MAX / 2,
            };
        }
        _ => return ModalOutcome::Ignored,
    }
    ModalOutcome::Stay
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
        if w > room {
            // Too long for a row of its own: wrapped, the label on its first line.
            if used > 0 {
                rows.push(std::mem::take(&mut row));
                used = 0;
            }
            let label_w = text::width(label) + 1;
            for (i, part) in text::wrap_hanging(help, room.saturating_sub(label_w).max(1), room)
                .into_iter()
                .enumerate()
            {
                let mut r = Vec::new();
                if i == 0 {
                    r.push(Span::styled(label, t.bold()));
                    r.push(Span::styled(format!(" {part}"), t.text()));
                } else {
                    r.push(Span::styled(part, t.text()));
                }
                rows.push(r);
            }
            continue;
        }
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
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
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

/// Draws the `?` window: a row per binding if it fits, else packed, else scrolled by
/// `scroll` rows with the closing line kept at the bottom.
pub fn draw(f: &mut Frame, scroll: usize, ctx: &Ctx) {
    let area = f.area();
    let w = overlay::width(area, 84);
    let iw = w.saturating_sub(2) as usize;
    // Room inside the box for the keys, above the closing line.
    let room = (area.height as usize).saturating_sub(3).max(1);
    let mut lines = lines(ctx, iw, true);
    if lines.len() > room {
        // A small terminal: every key still shows, packed.
        lines = self::lines(ctx, iw, false);
    }
    let shown = lines.len().min(room);
    let top = scroll.min(lines.len() - shown);
    let more_above = top > 0;
    let more_below = top + shown < lines.len();
    let body: Vec<Line<'static>> = lines.into_iter().skip(top).take(shown).collect();
    let title = if more_above || more_below {
        strings::help_title_scrolled(more_above, more_below)
    } else {
        strings::HELP_TITLE.to_string()
    };
    let h = u16::try_from(shown + 3).unwrap_or(u16::MAX);
    let inner = overlay::frame_box(f, overlay::centered(area, w, h), &title, ctx.theme.accent());
    let [keys, last] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    f.render_widget(Paragraph::new(body), keys);
    f.render_widget(Paragraph::new(closing_line(ctx)), last);
}

/// Onboarding: what a panel is for, or what a term means. The drill clock stands still
/// while it is open.
pub fn explain(f: &mut Frame, title: &str, explanation: &str, ctx: &Ctx) {
    let t = ctx.theme;
    let w = overlay::width(f.area(), 66);
    let mut lines = text::wrapped(
        "",
        t.text(),
        explanation,
        t.text(),
        w.saturating_sub(2) as usize,
    );
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(strings::ANY_KEY, t.dim())));
    overlay::boxed(f, w, title, t.accent(), lines);
}
