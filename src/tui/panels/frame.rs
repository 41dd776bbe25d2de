//! The frame every panel is drawn in: its exact title on the left (bold, or highlighted
//! when it has focus) and a status on the right.
//!
//! Depends on `app` (read only: theme and focus), `panel`.

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use crate::tui::app::App;
use crate::tui::panel::Panel;

/// The frame of a panel: its exact title on the left, a status on the right. The focused
/// panel has a thick border and a reversed title, so focus shows without colour too.
pub(super) fn block(app: &App, panel: Panel, status: Option<Line<'static>>) -> Block<'static> {
    let t = app.theme;
    let focused = app.focus == panel;
    let title_style = if focused { t.focused_title() } else { t.bold() };
    let mut b = Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(t.border(focused))
        .title(Line::from(vec![
            Span::raw(" "),
            Span::styled(panel.title(), title_style),
            Span::raw(" "),
        ]));
    if let Some(s) = status {
        b = b.title_top(s.right_aligned());
    }
    b
}

/// A right-hand panel status in the panel's dim style.
pub(super) fn status(app: &App, text: String) -> Line<'static> {
    Line::from(Span::styled(format!(" {text} "), app.theme.dim()))
}
