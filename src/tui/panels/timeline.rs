//! Timeline: journal events and drill injects as they happen, newest at the bottom and always
//! in view unless the operator scrolls back (j/k in this panel).
//!
//! Depends on `app` (read only), `panel`, `strings`, `text` and the incident state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

use super::frame::{block, status};
use crate::incident::state::Tone;
use crate::tui::app::App;
use crate::tui::panel::Panel;
use crate::tui::strings;
use crate::tui::text;

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let st = &app.state;
    let right = if app.timeline_scroll > 0 {
        strings::scrolled(app.timeline_scroll)
    } else {
        strings::events(st.timeline.len())
    };
    let b = block(app, Panel::Timeline, Some(status(app, right)));
    let inner = b.inner(area);
    b.render(area, buf);
    let h = inner.height as usize;
    if h == 0 {
        return;
    }
    // In time order (work reports what happened when it happened, after the clock moved
    // on); entries of the same second as recorded.
    let mut ordered: Vec<&crate::incident::state::TimelineEntry> = st.timeline.iter().collect();
    ordered.sort_by_key(|e| e.at);
    // Wrap from the newest entry backwards until the panel is full.
    let end = ordered.len().saturating_sub(app.timeline_scroll);
    let mut lines: Vec<Line> = Vec::new();
    for e in ordered[..end].iter().rev() {
        let style = match e.tone {
            Tone::Info => t.text(),
            Tone::Good => t.good(),
            Tone::Warn => t.warn(),
            Tone::Alarm => t.bad(),
            Tone::Inject => t.inject(),
        };
        let mark = if e.tone == Tone::Inject {
            strings::INJECT_MARK
        } else {
            ""
        };
        let mut entry = text::wrapped(
            &format!("{} ", text::clock(&e.at)),
            t.dim(),
            &format!("{mark}{}", e.text),
            style,
            inner.width as usize,
        );
        // Whole entries only; a single entry taller than the panel shows its start.
        if lines.len() + entry.len() > h && !lines.is_empty() {
            break;
        }
        entry.append(&mut lines);
        lines = entry;
        if lines.len() >= h {
            break;
        }
    }
    Paragraph::new(lines).render(inner, buf);
}
