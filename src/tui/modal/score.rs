//! The drill's final score: points, time to contain, keys revoked, attacker calls after the
//! first revocation, consumer errors, skipped checks and the mistakes in words.
//!
//! Depends on `overlay`, `strings`, `text` and the incident's score.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph};

use super::window::{Ctx, ModalOutcome, Then};
use crate::incident::event::Score;
use crate::tui::action::{Action, Scroll};
use crate::tui::{overlay, strings, text};

/// Scrolling the score when it is longer than the terminal; Esc and Enter close it.
pub fn update(scroll: &mut usize, action: &Action, ctx: &Ctx) -> ModalOutcome {
    let page = usize::from(ctx.size.1.saturating_sub(8)).max(1);
    match action {
        Action::Close => ModalOutcome::Close(Then::Nothing),
        Action::Scroll(s) => {
            *scroll = match s {
                Scroll::Up => scroll.saturating_sub(1),
                Scroll::Down => scroll.saturating_add(1),
                Scroll::PageUp => scroll.saturating_sub(page),
                Scroll::PageDown => scroll.saturating_add(page),
                Scroll::Top => 0,
                Scroll::Bottom => usize::MAX / 2,
            };
            ModalOutcome::Stay
        }
        _ => ModalOutcome::Ignored,
    }
}

/// Draws the score window, scrolled by `scroll` rows when it does not fit. Reads only.
pub fn draw(f: &mut Frame, scroll: usize, ctx: &Ctx) {
    let t = ctx.theme;
    let Some(s) = &ctx.state.score else {
        return;
    };
    let area = f.area();
    let w = overlay::width(area, 84);
    let mut lines = body(s, ctx, w.saturating_sub(2) as usize);
    // The keys stay on the last row, whatever scrolls.
    let keys = lines.pop();
    let room = (area.height as usize).saturating_sub(5).max(1);
    let shown = lines.len().min(room);
    let top = scroll.min(lines.len() - shown);
    let more = top + shown < lines.len();
    let mut lines: Vec<Line> = lines.into_iter().skip(top).take(shown).collect();
    if let Some(k) = keys {
        lines.push(if more || top > 0 {
            Line::from(Span::styled(strings::SCORE_KEYS_SCROLL, t.accent()))
        } else {
            k
        });
    }

    // Heading, gauge, then the facts.
    let body_h = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let h = body_h.saturating_add(4);
    let title = if more {
        strings::SCORE_TITLE_MORE
    } else {
        strings::SCORE_TITLE
    };
    let inner = overlay::frame_box(f, overlay::centered(area, w, h), title, t.accent());
    let [head, gauge, body] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(
            strings::score_heading(s.points),
            t.accent(),
        )))
        .centered(),
        head,
    );
    f.render_widget(
        Gauge::default()
            .ratio((f64::from(s.points) / 100.0).clamp(0.0, 1.0))
            .label(format!("{}/100", s.points))
            .gauge_style(if s.points >= 80 { t.good() } else { t.warn() }),
        gauge,
    );
    f.render_widget(Paragraph::new(lines), body);
}

/// The facts (good in green, bad in red), the mistakes, where the report is and the keys.
fn body(s: &Score, ctx: &Ctx, iw: usize) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let facts = facts(s);
    let label_w = facts
        .iter()
        .map(|(l, _, _)| text::width(l))
        .max()
        .unwrap_or(0)
        + 2;
    let mut lines = vec![Line::from("")];
    for (label, value, good) in &facts {
        lines.push(Line::from(vec![
            Span::styled(format!("{label:>label_w$} "), t.dim()),
            Span::styled(value.clone(), if *good { t.good() } else { t.bad() }),
        ]));
    }
    lines.push(Line::from(""));
    if s.mistakes.is_empty() {
        lines.push(Line::from(Span::styled(
            strings::SCORE_NO_MISTAKES,
            t.good(),
        )));
    } else {
        lines.push(Line::from(Span::styled(strings::SCORE_MISTAKES, t.bad())));
        for m in &s.mistakes {
            lines.extend(text::wrapped("  • ", t.bad(), m, t.text(), iw));
        }
    }
    lines.push(Line::from(""));
    match &ctx.state.report_path {
        Some(p) => lines.extend(text::wrapped(
            "",
            t.bold(),
            &strings::report_at(p),
            t.bold(),
            iw,
        )),
        None => lines.push(Line::from(Span::styled(strings::SCORE_NO_REPORT, t.dim()))),
    }
    lines.push(Line::from(Span::styled(strings::SCORE_KEYS, t.accent())));
    lines
}

/// (what, value, whether it is good).
fn facts(s: &Score) -> [(&'static str, String, bool); 7] {
    [
        (
            strings::SCORE_TIME,
            s.time_to_contain_secs
                .map(|x| text::duration(i64::try_from(x).unwrap_or(i64::MAX)))
                .unwrap_or_else(|| strings::SCORE_NOT_CONTAINED.to_string()),
            s.time_to_contain_secs.is_some(),
        ),
        (
            strings::SCORE_REVOKED,
            strings::of(s.revoked, s.exposed),
            s.revoked >= s.exposed,
        ),
        (
            strings::SCORE_ATTACKER,
            s.attacker_calls_after_revoke.to_string(),
            s.attacker_calls_after_revoke == 0,
        ),
        (
            strings::SCORE_WHILE_KNOWN,
            s.attacker_calls_while_known.to_string(),
            s.attacker_calls_while_known == 0,
        ),
        (
            strings::SCORE_WAITED,
            text::duration(i64::try_from(s.replacement_wait_secs).unwrap_or(i64::MAX)),
            s.replacement_wait_secs <= 15 * 60,
        ),
        (
            strings::SCORE_CONSUMERS,
            s.consumer_errors.to_string(),
            s.consumer_errors == 0,
        ),
        (
            strings::SCORE_SKIPPED,
            s.skipped_checks.to_string(),
            s.skipped_checks == 0,
        ),
    ]
}
