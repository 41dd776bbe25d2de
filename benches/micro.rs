//! Micro-benchmarks (issue 18's targets): one frame at 120×40 with 10,000 inventory rows and
//! 500 usage series, focused on each panel; journal replay of 100,000 events (read, chain
//! checked, folded); load and validate of the largest shipped runbook.
//!
//! `cargo bench --bench micro`; `bench/compare` runs it and prints each median beside its
//! target (frame ≤ 2 ms, replay ≤ 200 ms). Cold start and peak memory are measured
//! elsewhere: `bench/compare` (a pty) and `--bench memory`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::LazyLock;

use breachbook::incident::event::Operator;
use breachbook::incident::journal::Journal;
use breachbook::incident::state::IncidentState;
use breachbook::runbook::load::load_str;
use breachbook::runbook::shipped;
use breachbook::tui::theme::Theme;
use breachbook::tui::{App, Panel, render};
use divan::Bencher;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    divan::main();
}

/// 10,000 keys, 500 of them with an hour of usage (30,000 samples).
static BIG: LazyLock<IncidentState> =
    LazyLock::new(|| common::state(&common::events(10_000, 500, 60)));

fn frame(bencher: Bencher, focus: Panel) {
    let mut app = App::new(BIG.clone(), false, false);
    app.theme = Theme::plain();
    app.focus = focus;
    app.size = (120, 40);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    // The first draw fills ratatui's buffers; what is measured is a frame after it.
    term.draw(|f| render(&app, f)).unwrap();
    bencher.bench_local(|| {
        term.draw(|f| render(&app, f)).unwrap();
    });
}

#[divan::bench]
fn frame_checklist(bencher: Bencher) {
    frame(bencher, Panel::Checklist);
}

#[divan::bench]
fn frame_inventory(bencher: Bencher) {
    frame(bencher, Panel::Inventory);
}

#[divan::bench]
fn frame_rotation(bencher: Bencher) {
    frame(bencher, Panel::Rotation);
}

#[divan::bench]
fn frame_usage(bencher: Bencher) {
    frame(bencher, Panel::Usage);
}

#[divan::bench]
fn frame_timeline(bencher: Bencher) {
    frame(bencher, Panel::Timeline);
}

/// A journal of 100,000 records on disk (1,000 keys, 99 minutes of usage for each), as
/// `resume` finds it: read back, every hash checked, folded into the state.
#[divan::bench(sample_count = 10)]
fn replay_100k_events(bencher: Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let events = common::events(1_000, 1_000, 99);
    assert!(events.len() >= 100_000, "{} events", events.len());
    let operator = Operator {
        user: "responder".into(),
        cloud: None,
    };
    {
        let mut journal = Journal::create(dir.path(), "bench", operator).unwrap();
        for e in events.iter().take(100_000) {
            journal.append(e).unwrap();
        }
    }
    bencher.bench_local(|| {
        let (records, recovery) = Journal::read(dir.path(), "bench").unwrap();
        assert!(recovery.is_clean() && records.len() == 100_000);
        IncidentState::fold(
            records
                .iter()
                .map(|r| (&r.event, r.time, r.operator.user.as_str())),
        )
        .unwrap()
    });
}

/// The largest shipped runbook, parsed and every rule checked, as `check` does.
#[divan::bench]
fn runbook_load_largest(bencher: Bencher) {
    let (name, src) = shipped::all()
        .iter()
        .max_by_key(|(_, src)| src.len())
        .copied()
        .unwrap();
    bencher.bench(|| load_str(name, src).unwrap());
}
