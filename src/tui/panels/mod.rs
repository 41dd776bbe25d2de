//! The six panels. Each is drawn from `&App` into a buffer area; nothing here changes state.
//! `PanelView` is the widget the layout places; `frame` the box every panel is drawn in.
//!
//! Depends on `app` (read only), `panel`, `strings`, `text`, `theme` and the incident state;
//! nothing depends on the panels but `layout`.

mod checklist;
mod frame;
mod inventory;
mod rotation;
mod step;
mod timeline;
mod usage;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::App;
use super::panel::Panel;

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
