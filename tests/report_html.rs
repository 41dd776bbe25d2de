//! report.html as a person sees it: the real binary plays the shipped vendor-breach drill
//! (the autopilot, seed 7), writes report.html, and Debian's Chromium renders it headless. The
//! screenshot is read back: the page has its size, each exposed key has its chart where the
//! page put it (found by its frame's own colour), and each chart shows what it should — the
//! old key's calls, the new key's, the refused ones, the promotion and the revocation.
//!
//! scripts/test installs Chromium (apt).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/browser.rs"]
mod browser;

use std::process::Command;

use breachbook::incident::report::{CHART_H, CHART_W, colours};
use browser::{Rect, Rgb, Screenshot};

/// `#rrggbb` as RGB.
fn rgb(hex: &str) -> Rgb {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Whether `a` is `b` give or take anti-aliasing.
fn near(a: Rgb, b: Rgb) -> bool {
    a.iter()
        .zip(b)
        .map(|(x, y)| (i32::from(*x) - i32::from(y)).abs())
        .sum::<i32>()
        < 60
}

/// The smallest rectangle holding every pixel of exactly `colour`.
fn bounds_of(shot: &Screenshot, colour: Rgb) -> Option<Rect> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, c) in shot.pixels(shot.bounds()) {
        if c == colour {
            let (x0, y0, x1, y1) = found.unwrap_or((x, y, x, y));
            found = Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y)));
        }
    }
    found.map(|(x0, y0, x1, y1)| Rect::new(x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// How many pixels of `rect` are close to `colour`.
fn count_near(shot: &Screenshot, rect: Rect, colour: Rgb) -> usize {
    shot.pixels(rect)
        .filter(|(_, _, c)| near(*c, colour))
        .count()
}

#[test]
fn the_html_report_draws_a_chart_per_exposed_key_in_a_real_browser() {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(["drill", "--headless", "--autopilot", "--seed", "7"])
        .env("BREACHBOOK_STATE_DIR", state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::fs::read_dir(state.path().join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let html_path = dir.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();

    // Self-contained: nothing is fetched from anywhere (the SVG namespace is a name, not a
    // request), no script.
    for banned in ["<script", "src=", "href=", "url(", "@import", "https:"] {
        assert!(!html.contains(banned), "report.html holds {banned}");
    }
    assert_eq!(html.matches("http:").count(), html.matches("<svg").count());
    // `breachbook report ID --format html` prints the page from the journal (which now also
    // holds the report's own writing).
    let id = dir.file_name().unwrap().to_string_lossy().into_owned();
    let printed = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(["report", &id, "--format", "html"])
        .env("BREACHBOOK_STATE_DIR", state.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(printed.starts_with("<!doctype html>"), "not a page");
    assert_eq!(
        printed.matches("<svg").count(),
        3,
        "one chart per exposed key"
    );

    let shot = browser::render(&html_path, 1000, 1900);
    assert_eq!((shot.width, shot.height), (1000, 1900));
    let background = rgb("#fbfcfd");
    for (i, key) in ["openai-prod", "anthropic-prod", "gemini-prod"]
        .iter()
        .enumerate()
    {
        let frame = bounds_of(&shot, rgb(&colours::frame(i)))
            .unwrap_or_else(|| panic!("no chart frame for {key} on the page"));
        // The chart is where and as large as the page says.
        assert!(
            frame.w.abs_diff(CHART_W) <= 2 && frame.h.abs_diff(CHART_H) <= 2,
            "{key}: chart {frame:?}, not {CHART_W}×{CHART_H}"
        );
        // Its plot area is drawn on, in the series' colours.
        let plot = Rect::new(frame.x + 53, frame.y + 19, frame.w - 70, frame.h - 54);
        assert!(shot.is_non_blank(plot, background), "{key}: blank chart");
        let old = count_near(&shot, plot, rgb(colours::OLD));
        let new = count_near(&shot, plot, rgb(colours::NEW));
        let denied = count_near(&shot, plot, rgb(colours::DENIED));
        let promoted = count_near(&shot, plot, rgb(colours::PROMOTED));
        let revoked = count_near(&shot, plot, rgb(colours::REVOKED));
        assert!(old > 100, "{key}: old-key calls not drawn ({old} px)");
        assert!(new > 100, "{key}: new-key calls not drawn ({new} px)");
        assert!(promoted > 50, "{key}: no promotion marker ({promoted} px)");
        assert!(revoked > 50, "{key}: no revocation marker ({revoked} px)");
        if *key == "gemini-prod" {
            // Nobody tried gemini's old key after its revocation.
            assert!(denied < 20, "{key}: refused calls drawn ({denied} px)");
        } else {
            // The attacker's bursts, refused after the revocation.
            assert!(denied > 100, "{key}: refused calls not drawn ({denied} px)");
        }
        // Before the promotion the old key carries everything; after it the new key does:
        // the left half of the plot holds more old-key ink, the right more new-key ink.
        let left = Rect::new(plot.x, plot.y, plot.w / 3, plot.h);
        let right = Rect::new(plot.x + 2 * plot.w / 3, plot.y, plot.w / 3, plot.h);
        assert!(
            count_near(&shot, left, rgb(colours::OLD))
                > count_near(&shot, right, rgb(colours::OLD)),
            "{key}: the old key is not busier before the promotion"
        );
        assert!(
            count_near(&shot, right, rgb(colours::NEW))
                > count_near(&shot, left, rgb(colours::NEW)),
            "{key}: the new key is not busier after the promotion"
        );
    }
    // Only three keys were exposed: no fourth chart.
    assert!(bounds_of(&shot, rgb(&colours::frame(3))).is_none());
}
