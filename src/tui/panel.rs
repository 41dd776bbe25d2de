//! `Panel`: which of the six panels has focus — a plain id with its title, its onboarding
//! explanation and its Tab order. State (`App`) and drawing both name panels by it, so it
//! lives apart from either.
//!
//! Depends on `strings` only.

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
