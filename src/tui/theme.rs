//! Colours and emphasis, or no colour at all when `NO_COLOR` is set (<https://no-color.org>):
//! then only bold, reverse and dim carry meaning, so nothing depends on colour alone.
//!
//! Depends on ratatui's `Style` and the incident's `Mode` (the header badge) only.

use ratatui::style::{Color, Modifier, Style};

use crate::incident::event::Mode;

/// The styles of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False under `NO_COLOR`.
    pub color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set to a non-empty value.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// No colours, only bold, reverse and dim.
    pub const fn plain() -> Theme {
        Theme { color: false }
    }

    /// Colours.
    pub const fn colored() -> Theme {
        Theme { color: true }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn text(self) -> Style {
        Style::default()
    }

    pub fn bold(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }

    /// Failures, alarms, the revocation window.
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// Keys, the current step, the focused panel.
    pub fn accent(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Drill injects: news from outside.
    pub fn inject(self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// The title of the focused panel: reversed, so focus shows by more than a colour.
    pub fn focused_title(self) -> Style {
        if self.color {
            self.accent().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn border(self, focused: bool) -> Style {
        if focused { self.accent() } else { self.dim() }
    }

    pub fn mode_badge(self, mode: Mode) -> Style {
        if self.color {
            Style::default()
                .bg(match mode {
                    Mode::Live => Color::Red,
                    Mode::Drill => Color::Blue,
                })
                .fg(Color::White)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn read_only_badge(self) -> Style {
        if self.color {
            Style::default()
                .bg(Color::Yellow)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    /// Old-key calls (the leaked key).
    pub fn old_key(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// New-key calls.
    pub fn new_key(self) -> Style {
        self.fg(Color::Green)
    }

    /// Denied calls.
    pub fn denied(self) -> Style {
        self.fg(Color::Red)
    }

    /// A minute far above the old key's baseline.
    pub fn spike(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_theme_sets_no_colour_but_keeps_emphasis() {
        let t = Theme::plain();
        for s in [
            t.good(),
            t.bad(),
            t.warn(),
            t.dim(),
            t.accent(),
            t.selected(),
            t.focused_title(),
            t.mode_badge(Mode::Live),
            t.read_only_badge(),
            t.spike(),
        ] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
        assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
        assert!(t.focused_title().add_modifier.contains(Modifier::REVERSED));
        assert!(Theme::colored().bad().fg.is_some());
    }
}
