//! The drill's final score: points, time to contain, keys revoked, attacker calls after the
//! first revocation, consumer errors, skipped checks and the mistakes in words.
//!
//! Depends on `overlay`, `strings`, `text` and the incident's score.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph};

use super::window::Ctx;
use crate::incident::event::Score;
use crate::tui::{overlay, strings, text};

/// Draws the score window. Reads only.
pub fn draw(f: &mut Frame, ctx: &Ctx) {
    let t = ctx.theme;
    let Some(s) = &ctx.state.score else {
        return;
    };
    let area = f.area();
    let w = overlay::width(area, 84);
    let lines = body(s, ctx, w.saturating_sub(2) as usize);

    // Heading, gauge, then the facts.
    let body_h = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let h = body_h.saturating_add(4);
    let inner = overlay::frame_box(
        f,
        overlay::centered(area, w, h),
        strings::SCORE_TITLE,
        t.accent(),
    );
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
