//! Usage: per exposed credential, sparklines of calls per minute on the old key — known
//! services (`svc`) and unknown sources (`unk`) on lines of their own — refused calls and the
//! new key, spike minutes highlighted; a line naming the known services still on the old
//! key after its replacement was promoted, and what happened since the revocation. Every
//! count is the incident state's (`incident::state::usage`), as the report's.
//!
//! Depends on `app` (read only), `panel`, `strings`, `text`, `theme` and the incident state.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, SparklineBar, Widget, Wrap};

use super::frame::{block, status};
use crate::incident::rotation::Stage;
use crate::incident::state::{CredentialState, UsageSeries};
use crate::tui::app::App;
use crate::tui::panel::Panel;
use crate::tui::strings;
use crate::tui::text;
use crate::tui::theme::Theme;

const LABEL_W: u16 = 5;
const NUMBER_W: u16 = 8;
/// A minute this many times above the old key's usual rate is a spike.
const SPIKE_FACTOR: u32 = 3;

/// Calls per minute over the window, oldest first.
struct Window {
    /// Old key, accepted, from known services.
    known_ok: Vec<u64>,
    /// Old key, accepted, from unknown sources.
    unknown_ok: Vec<u64>,
    old_denied: Vec<u64>,
    new_ok: Vec<u64>,
    /// Minutes of the old key far above its baseline.
    spikes: Vec<bool>,
}

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let end = minute_floor(app.now());
    // The incident's minutes so far, up to what the panel can show: bars start at the left
    // and scroll once the incident is longer than the panel is wide.
    let spark_w = area.width.saturating_sub(2 + LABEL_W + NUMBER_W).max(4);
    let since_open = (end - minute_floor(app.state.opened_at)).num_minutes() + 1;
    let minutes = u16::try_from(since_open.max(1))
        .unwrap_or(u16::MAX)
        .min(spark_w);
    let b = block(
        app,
        Panel::Usage,
        Some(status(app, strings::usage_window(minutes as usize))),
    );
    let inner = b.inner(area);
    b.render(area, buf);
    let rows = app.usage_rows();
    if rows.is_empty() || app.state.usage.is_empty() {
        Paragraph::new(Span::styled(strings::EMPTY_USAGE, t.dim()))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    // Sections are made only while they fit (500 series make one screen of them): from the
    // first when all fit, else from the selected one.
    let section =
        |c: &&CredentialState| Section::new(app, c, end, minutes as usize, inner.width as usize);
    let mut sections: Vec<Section> = Vec::new();
    let mut total = 0;
    for c in &rows {
        if total > inner.height as usize {
            break;
        }
        let s = section(c);
        total += s.height();
        sections.push(s);
    }
    let start = if total <= inner.height as usize {
        0
    } else {
        app.selected_index(&rows).unwrap_or(0)
    };
    let mut y = inner.y;
    let bottom = inner.y + inner.height;
    for (i, c) in rows.iter().enumerate().skip(start) {
        let made;
        let s = match sections.get(i) {
            Some(s) => s,
            None => {
                made = section(c);
                &made
            }
        };
        let h = u16::try_from(s.height()).unwrap_or(u16::MAX);
        if y + h > bottom {
            let left = rows.len() - i;
            if y < bottom {
                Line::from(Span::styled(strings::more_below(left), t.dim()))
                    .render(Rect::new(inner.x, bottom - 1, inner.width, 1), buf);
            }
            break;
        }
        s.render(app, Rect::new(inner.x, y, inner.width, h), spark_w, buf);
        y += h;
    }
}

/// What one credential's block shows.
struct Section {
    title: Line<'static>,
    window: Window,
    show_denied: bool,
    notes: Vec<Line<'static>>,
}

impl Section {
    fn new(app: &App, c: &CredentialState, end: DateTime<Utc>, w: usize, width: usize) -> Self {
        let t = app.theme;
        let empty = UsageSeries::default();
        let u = app.state.usage.get(&c.credential.id).unwrap_or(&empty);
        let window = window(u, end, w);
        let recent = w.saturating_sub(10);
        let spiking = window.spikes.iter().skip(recent).any(|s| *s);
        let revoked = c.rotation.reached() >= Stage::Revoked;
        let mut title = vec![Span::styled(c.credential.name.clone(), t.bold())];
        if spiking {
            title.push(Span::styled(format!("  {}", strings::SPIKE), t.spike()));
        }
        if revoked {
            title.push(Span::styled(
                format!("  {}", strings::REVOKED_BADGE),
                t.good(),
            ));
        }
        if u.old.is_empty() && u.new.is_empty() {
            title.push(Span::styled(format!("  {}", strings::NO_CALLS), t.dim()));
        }
        let mut notes = Vec::new();
        let still = app.state.still_on_old_key(&c.credential.id);
        if !still.is_empty() && !revoked {
            let names: Vec<String> = still.iter().map(|s| s.service.clone()).collect();
            let last = still.iter().map(|s| s.last).max().map(|t| text::clock(&t));
            notes.extend(text::wrapped(
                "",
                t.bad(),
                &strings::services_on_old_key(&names, last.as_deref().unwrap_or("")),
                t.bad(),
                width,
            ));
        }
        let promoted = c.stamps.get(&Stage::Promoted);
        let unknown_after = promoted.and_then(|p| {
            u.old_unknown
                .range(*p..)
                .rev()
                .find(|(_, (ok, _))| *ok > 0)
                .map(|(t, _)| *t)
        });
        if let Some(when) = unknown_after
            && !revoked
        {
            notes.extend(text::wrapped(
                "",
                t.bad(),
                &strings::unknown_after_promotion(&text::clock(&when)),
                t.bad(),
                width,
            ));
        }
        if revoked {
            let (ok, denied) = u.old_after_revoke;
            let ((_, known_denied), _) = u.after_revoke_split();
            let style = if ok > 0 || known_denied > 0 {
                t.bad()
            } else {
                t.good()
            };
            notes.extend(text::wrapped(
                "",
                style,
                &strings::after_revoke(denied, known_denied, ok),
                style,
                width,
            ));
        }
        let show_denied = revoked || window.old_denied.iter().any(|d| *d > 0);
        Section {
            title: Line::from(title),
            window,
            show_denied,
            notes,
        }
    }

    fn height(&self) -> usize {
        1 + 3 + usize::from(self.show_denied) + self.notes.len()
    }

    fn render(&self, app: &App, area: Rect, spark_w: u16, buf: &mut Buffer) {
        let mut y = area.y;
        self.title
            .clone()
            .render(Rect::new(area.x, y, area.width, 1), buf);
        y += 1;
        for (label, bars, style, number) in self.series(app.theme) {
            Span::styled(format!(" {label}"), style).render(Rect::new(area.x, y, LABEL_W, 1), buf);
            Sparkline::default()
                .data(bars)
                .max(8)
                .style(style)
                .render(Rect::new(area.x + LABEL_W, y, spark_w, 1), buf);
            Span::styled(number, style)
                .render(Rect::new(area.x + LABEL_W + spark_w, y, NUMBER_W, 1), buf);
            y += 1;
        }
        for n in &self.notes {
            n.clone().render(Rect::new(area.x, y, area.width, 1), buf);
            y += 1;
        }
    }

    /// The sparkline rows: the old key's calls from known services, from unknown sources
    /// (spike minutes marked), refused calls when there are any, the new key; each with its
    /// label, style and the calls in the minute shown.
    fn series(&self, t: Theme) -> Vec<(&'static str, Vec<SparklineBar>, Style, String)> {
        let w = &self.window;
        let max = w
            .known_ok
            .iter()
            .chain(&w.unknown_ok)
            .chain(&w.old_denied)
            .chain(&w.new_ok)
            .copied()
            .max()
            .unwrap_or(0)
            .max(1);
        // Eighths of a cell, and at least one for any call: a trickle of calls on an old key
        // next to an attacker's burst is exactly what must not vanish.
        let level = |v: u64| -> u64 {
            if v == 0 {
                0
            } else {
                (v * 8).div_ceil(max).clamp(1, 8)
            }
        };
        let bars = |v: &[u64]| -> Vec<SparklineBar> {
            v.iter().map(|v| SparklineBar::from(level(*v))).collect()
        };
        let unknown_bars: Vec<SparklineBar> = w
            .unknown_ok
            .iter()
            .zip(&w.spikes)
            .map(|(v, spike)| {
                let bar = SparklineBar::from(level(*v));
                if *spike {
                    bar.style(Some(t.spike()))
                } else {
                    bar
                }
            })
            .collect();
        let current = [&w.known_ok, &w.unknown_ok, &w.old_denied, &w.new_ok]
            .iter()
            .any(|v| v.last().is_some_and(|x| *x > 0));
        let last = |v: &[u64]| shown(v, current);
        let mut series = vec![
            (
                strings::OLD_KNOWN,
                bars(&w.known_ok),
                t.old_key(),
                strings::per_min(last(&w.known_ok)),
            ),
            (
                strings::OLD_UNKNOWN,
                unknown_bars,
                t.old_key(),
                strings::per_min(last(&w.unknown_ok)),
            ),
        ];
        if self.show_denied {
            series.push((
                strings::DENIED,
                bars(&w.old_denied),
                t.denied(),
                strings::denied_per_min(last(&w.old_denied)),
            ));
        }
        series.push((
            strings::NEW,
            bars(&w.new_ok),
            t.new_key(),
            strings::per_min(last(&w.new_ok)),
        ));
        series
    }
}

/// Calls in the minute the numbers show: the current minute once it has data, else the last
/// full minute (samples for a minute arrive as it ends).
fn shown(v: &[u64], current: bool) -> u32 {
    let i = if current {
        v.len().saturating_sub(1)
    } else {
        v.len().saturating_sub(2)
    };
    v.get(i)
        .copied()
        .map(|x| u32::try_from(x).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::<Utc>::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(t)
}

/// The last `w` minutes up to `end`, and which old-key minutes are spikes.
fn window(u: &UsageSeries, end: DateTime<Utc>, w: usize) -> Window {
    let start = end - Duration::minutes(i64::try_from(w).unwrap_or(0).saturating_sub(1));
    let bucket = |m: &BTreeMap<DateTime<Utc>, (u32, u32)>| -> (Vec<u64>, Vec<u64>) {
        let mut ok = vec![0u64; w];
        let mut denied = vec![0u64; w];
        for (minute, (o, d)) in m.range(start..end + Duration::minutes(1)) {
            let i = usize::try_from((*minute - start).num_minutes()).unwrap_or(0);
            if let (Some(a), Some(b)) = (ok.get_mut(i), denied.get_mut(i)) {
                *a += u64::from(*o);
                *b += u64::from(*d);
            }
        }
        (ok, denied)
    };
    let (old_ok, old_denied) = bucket(&u.old);
    let (known_ok, _) = bucket(&u.old_known);
    let (unknown_ok, _) = bucket(&u.old_unknown);
    let (new_ok, _) = bucket(&u.new);
    // The old key's usual rate: the median of every minute it was used.
    let mut seen: Vec<u32> = u.old.values().map(|(o, _)| *o).filter(|o| *o > 0).collect();
    seen.sort_unstable();
    let baseline = u64::from(seen.get(seen.len() / 2).copied().unwrap_or(0));
    let spikes = old_ok
        .iter()
        .map(|v| baseline > 0 && *v > baseline * u64::from(SPIKE_FACTOR))
        .collect();
    Window {
        known_ok,
        unknown_ok,
        old_denied,
        new_ok,
        spikes,
    }
}
