//! The box helpers every window is drawn with: a rectangle in the middle of the screen, the
//! width a window may take there, and a cleared, bordered, titled box.
//!
//! Depends on ratatui only.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

/// A rectangle of `w`×`h` in the middle of `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The width of a window on this screen: at most `max`, leaving a margin.
pub fn width(area: Rect, max: u16) -> u16 {
    area.width.saturating_sub(4).clamp(20, max).min(area.width)
}

/// The height of a box around `rows` rows.
pub fn height(rows: usize) -> u16 {
    u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
}

/// Clears the rectangle and draws a bordered box with a title; returns the inside.
pub fn frame_box(f: &mut Frame, r: Rect, title: &str, border: Style) -> Rect {
    f.render_widget(Clear, r);
    let b = Block::bordered()
        .border_style(border)
        .title(Line::from(format!(" {title} ")).style(border));
    let inner = b.inner(r);
    f.render_widget(b, r);
    inner
}

/// A box `w` wide in the middle of the screen, as tall as `lines`, with `lines` inside.
pub fn boxed(f: &mut Frame, w: u16, title: &str, border: Style, lines: Vec<Line<'static>>) {
    let area = f.area();
    let inner = frame_box(f, centered(area, w, height(lines.len())), title, border);
    f.render_widget(Paragraph::new(lines), inner);
}
