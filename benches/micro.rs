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

/// A working tree for `scan`: 800 text files of ~128 KB (100 MB) of source-like lines, one
/// key-shaped token (a UUID, a hash, a made-up key) every few words, and one planted copy
/// of an exposed key; made once, in a temporary folder.
static TREE: LazyLock<(tempfile::TempDir, u64)> = LazyLock::new(|| {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0u64;
    let mut n: u64 = 0x5eed;
    let mut next = || {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        n >> 33
    };
    for f in 0..800 {
        let sub = dir.path().join(format!("pkg{}", f % 40));
        std::fs::create_dir_all(&sub).unwrap();
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(sub.join(format!("mod{f}.rs"))).unwrap());
        let mut written = 0usize;
        while written < 128 * 1024 {
            let line = format!(
                "    let v{} = call_{}(\"{:016x}{:08x}\", config.timeout_ms, &self.items[{}]);\n",
                next() % 1000,
                next() % 100,
                next(),
                next(),
                next() % 64
            );
            written += line.len();
            out.write_all(line.as_bytes()).unwrap();
        }
        if f == 799 {
            out.write_all(format!("OPENAI_API_KEY={SCAN_KEY}\n").as_bytes())
                .unwrap();
        }
        out.flush().unwrap();
        total += written as u64;
    }
    (dir, total)
});

const SCAN_KEY: &str = "sk-test-openai-BENCH0000000000000000aaP1";

/// `scan` over the 100 MB tree for 5 exposed keys (files in the page cache: the figure is
/// breachbook's own speed, the ceiling a disk would lower).
#[divan::bench(sample_count = 10)]
fn scan_tree_100mb(bencher: Bencher) {
    use breachbook::incident::model::{fingerprint, mask};
    use breachbook::providers::disk::{Fingerprinter, Needle, Needles, WalkOptions, scan_paths};
    let (dir, total) = &*TREE;
    let key = b"a benchmark's fingerprint key, 32";
    let values = [
        SCAN_KEY,
        "sk-ant-test-BENCH00000000000000000000aaA1",
        "AIzaSy-test-BENCH0000000000000000000aaG1",
        "sk-test-braintrust-BENCH00000000000aaB1",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYBENCHKEY01",
    ];
    let keys = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                Needle {
                    credential: format!("c{i}"),
                    name: format!("key{i}"),
                    hint: mask(v),
                },
                fingerprint(key, v),
            )
        })
        .collect();
    let (needles, _) = Needles::new(Fingerprinter::new(key, b"").unwrap(), keys);
    let paths = vec![dir.path().to_path_buf()];
    bencher
        .counter(divan::counter::BytesCount::new(*total))
        .bench(|| {
            let (found, stats) = scan_paths(&paths, &WalkOptions::default(), &needles);
            assert_eq!(found.len(), 1);
            assert_eq!(stats.files_read, 800);
        });
}
