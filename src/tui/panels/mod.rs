//! The six panels. Each is drawn from `&App` into a buffer area; nothing here changes state.
//! `PanelView` is the widget the layout places.
//!
//! Depends on `app` (read only), `theme`, `strings`, `text` and the incident state.

mod checklist;
mod inventory;
mod rotation;
mod step;
mod timeline;
mod usage;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

use super::app::App;
use super::strings;

/// The six panels, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panel {
    Checklist,
    Step,
    Inventory,
    Rotation,
    Usage,
    Timeline,
}

impl Panel {
    pub const ALL: [Panel; 6] = [
        Panel::Checklist,
        Panel::Step,
        Panel::Inventory,
        Panel::Rotation,
        Panel::Usage,
        Panel::Timeline,
    ];

    /// The panel's title, exactly as the issue names it.
    pub fn title(self) -> &'static str {
        match self {
            Panel::Checklist => strings::PANEL_CHECKLIST,
            Panel::Step => strings::PANEL_STEP,
            Panel::Inventory => strings::PANEL_INVENTORY,
            Panel::Rotation => strings::PANEL_ROTATION,
            Panel::Usage => strings::PANEL_USAGE,
            Panel::Timeline => strings::PANEL_TIMELINE,
        }
    }

    /// What the panel is for (onboarding).
    pub fn explanation(self) -> &'static str {
        match self {
            Panel::Checklist => strings::EXPLAIN_CHECKLIST,
            Panel::Step => strings::EXPLAIN_STEP,
            Panel::Inventory => strings::EXPLAIN_INVENTORY,
            Panel::Rotation => strings::EXPLAIN_ROTATION,
            Panel::Usage => strings::EXPLAIN_USAGE,
            Panel::Timeline => strings::EXPLAIN_TIMELINE,
        }
    }

    pub fn index(self) -> usize {
        Panel::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> Panel {
        Panel::ALL[(self.index() + 1) % Panel::ALL.len()]
    }

    pub fn prev(self) -> Panel {
        Panel::ALL[(self.index() + Panel::ALL.len() - 1) % Panel::ALL.len()]
    }

    /// Whether moving up and down in this panel selects a credential.
    pub fn lists_credentials(self) -> bool {
        matches!(self, Panel::Inventory | Panel::Rotation | Panel::Usage)
    }
}

/// One panel of the app, as a widget.
pub struct PanelView<'a> {
    pub app: &'a App,
    pub panel: Panel,
}

impl Widget for PanelView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        match self.panel {
            Panel::Checklist => checklist::render(app, area, buf),
            Panel::Step => step::render(app, area, buf),
            Panel::Inventory => inventory::render(app, area, buf),
            Panel::Rotation => rotation::render(app, area, buf),
            Panel::Usage => usage::render(app, area, buf),
            Panel::Timeline => timeline::render(app, area, buf),
        }
    }
}

/// The frame of a panel: its exact title on the left, a status on the right.
fn block(app: &App, panel: Panel, status: Option<Line<'static>>) -> Block<'static> {
    let t = app.theme;
    let focused = app.focus == panel;
    let title_style = if focused { t.focused_title() } else { t.bold() };
    let mut b = Block::bordered()
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
fn status(app: &App, text: String) -> Line<'static> {
    Line::from(Span::styled(format!(" {text} "), app.theme.dim()))
}
