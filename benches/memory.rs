//! Peak heap with 10,000 credentials (issue 18's target: ≤ 60 MB): the incident folded from
//! its journal events, the screen's app over it, and one frame drawn at 120×40, as a
//! responder's terminal holds it. Counted by a global allocator that tracks the high-water
//! mark (peak_alloc); prints `peak heap MB at 10,000 credentials: X`, which `bench/compare`
//! reads.
//!
//! `cargo bench --bench memory`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use breachbook::tui::theme::Theme;
use breachbook::tui::{App, Panel, render};
use peak_alloc::PeakAlloc;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

fn main() {
    // cargo bench passes `--bench`; nothing here takes arguments.
    let base = PEAK.current_usage();
    PEAK.reset_peak_usage();
    let events = common::events(10_000, 500, 60);
    let state = common::state(&events);
    // What a resumed incident keeps: the state (the events are the journal's, read back).
    drop(events);
    let mut app = App::new(state, false, false);
    app.theme = Theme::plain();
    app.size = (120, 40);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    for focus in Panel::ALL {
        app.focus = focus;
        term.draw(|f| render(&app, f)).unwrap();
    }
    let peak = PEAK.peak_usage().saturating_sub(base);
    let held = PEAK.current_usage().saturating_sub(base);
    println!(
        "held after drawing: {:.1} MB ({} credentials, {} usage series)",
        held as f64 / 1e6,
        app.state.credentials.len(),
        500
    );
    println!(
        "peak heap MB at 10,000 credentials: {:.1}",
        peak as f64 / 1e6
    );
}
