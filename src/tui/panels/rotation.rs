//! Rotation: a matrix of exposed credentials × stages with ✓ and the time each stage was
//! reached, a spinner where work is in flight, failed rows with why and `r retry`, and a gauge
//! of overall progress.
//!
//! Depends on `app` (read only), `panel`, `strings`, `text` and the incident state.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Widget, Wrap};

use super::frame::block;
use crate::incident::model::LocationKind;
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{CredentialState, RoomNeeded};
use crate::tui::app::App;
use crate::tui::panel::Panel;
use crate::tui::strings;
use crate::tui::text;

/// The columns after `exposed`.
const STAGES: [Stage; 7] = [
    Stage::Issued,
    Stage::Staged,
    Stage::Verified,
    Stage::Promoted,
    Stage::Propagated,
    Stage::Revoked,
    Stage::ConfirmedDead,
];
const NAME_W: usize = 15;
const CELL_W: usize = 8;

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let rows = app.rotation_rows();
    let busy = rows
        .iter()
        .filter(|c| app.busy.credentials.contains(&c.credential.id))
        .count();
    let right = (busy > 0).then(|| {
        Line::from(Span::styled(
            format!(" {} {} ", app.spinner_frame(), strings::working_on(busy)),
            t.accent(),
        ))
    });
    let b = block(app, Panel::Rotation, right);
    let inner = b.inner(area);
    b.render(area, buf);
    if rows.is_empty() {
        Paragraph::new(Span::styled(strings::EMPTY_ROTATION, t.dim()))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }

    let mut header = vec![Span::styled(
        text::fit(strings::COL_KEY_NAME, NAME_W),
        t.dim(),
    )];
    for h in strings::STAGE_HEADERS {
        header.push(Span::styled(text::fit(h, CELL_W), t.dim()));
    }
    let selected = app.selected_index(&rows);
    let focused = app.focus == Panel::Rotation;
    let width = inner.width as usize;
    let make = |i: usize| -> Vec<Line<'static>> {
        let lines = row(app, rows[i], width);
        if focused && Some(i) == selected {
            lines.into_iter().map(|l| l.style(t.selected())).collect()
        } else {
            lines
        }
    };
    // Rows are made only around what shows (9,000 exposed keys make one screen of rows):
    // how many lines there are only up to the panel's height, then the lines before the
    // selection that stay in view, then the selection and what follows it.
    let height = inner.height as usize;
    let mut counted = 0;
    for i in 0..rows.len() {
        if counted >= height {
            break;
        }
        counted += make(i).len();
    }
    // The gauge sits right under the rows; the header stays and the rows scroll to keep
    // the selection in view.
    let matrix_h = (counted.min(height) + 1).min(height.saturating_sub(1));
    let [matrix, gauge, _] = Layout::vertical([
        Constraint::Length(u16::try_from(matrix_h).unwrap_or(1)),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let visible = (matrix.height as usize).saturating_sub(1).max(1);
    let before = visible.saturating_sub(2);
    let sel = selected.unwrap_or(0);
    // Back from the selection until `before` lines are gathered (or the first row).
    let mut above: Vec<Vec<Line<'static>>> = Vec::new();
    let mut above_n = 0;
    for i in (0..sel).rev() {
        if above_n >= before {
            break;
        }
        let lines = make(i);
        above_n += lines.len();
        above.push(lines);
    }
    let mut body: Vec<Line> = above.into_iter().rev().flatten().collect();
    body.drain(..above_n.saturating_sub(before));
    for i in sel..rows.len() {
        if body.len() >= visible {
            break;
        }
        body.extend(make(i));
    }
    let mut lines = vec![Line::from(header)];
    lines.extend(body);
    Paragraph::new(lines).render(matrix, buf);

    let (ratio, contained, exposed) = progress(&rows);
    Gauge::default()
        .ratio(ratio)
        .label(strings::rotation_gauge(ratio * 100.0, contained, exposed))
        .gauge_style(t.good())
        .render(gauge, buf);
}

/// One credential's row, plus a line saying why when it failed or was skipped.
fn row(app: &App, c: &CredentialState, width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![stages(app, c)];
    lines.extend(notes(app, c, width));
    lines
}

/// The name, then a cell per stage: ✓ and the time it was reached, or what it waits for.
fn stages(app: &App, c: &CredentialState) -> Line<'static> {
    let t = app.theme;
    let busy = app.busy.credentials.contains(&c.credential.id);
    let reached = c.rotation.reached();
    let mut spans = vec![Span::raw(text::fit(&c.credential.name, NAME_W))];
    let mut marked_next = false;
    for s in STAGES {
        let cell = if let Some(at) = c.stamps.get(&s) {
            Span::styled(text::fit(&format!("✓{}", text::hm(at)), CELL_W), t.good())
        } else if reached >= s {
            // Passed without its own record: an override revoked the key before this stage.
            Span::styled(text::fit("⚠", CELL_W), t.warn())
        } else if !marked_next && reached.next() == Some(s) {
            marked_next = true;
            match &c.rotation {
                RotationState::Failed { .. } => Span::styled(text::fit("✗", CELL_W), t.bad()),
                RotationState::Skipped { .. } => Span::styled(text::fit("↷", CELL_W), t.warn()),
                RotationState::At { .. } if c.manual_needed.is_some() && !busy => {
                    Span::styled(text::fit("⌨ p", CELL_W), t.warn())
                }
                RotationState::At { .. } if c.room_needed.is_some() && !busy => {
                    Span::styled(text::fit("⚠ r", CELL_W), t.warn())
                }
                RotationState::At { .. } if busy => Span::styled(
                    text::fit(&format!("{} …", app.spinner_frame()), CELL_W),
                    t.accent(),
                ),
                RotationState::At { .. } => Span::styled(text::fit("·", CELL_W), t.dim()),
            }
        } else {
            Span::styled(text::fit("·", CELL_W), t.dim())
        };
        spans.push(cell);
    }
    Line::from(spans)
}

/// The lines under a row: Braintrust's timestamps, why it failed or was skipped, and what is
/// left to do by hand.
fn notes(app: &App, c: &CredentialState, width: usize) -> Vec<Line<'static>> {
    let t = app.theme;
    let reached = c.rotation.reached();
    // Braintrust's own secret_updated_at for each copy replaced there: the check Braintrust
    // asks its customers to make.
    let braintrust: Vec<String> = c
        .credential
        .locations
        .iter()
        .filter(|l| l.kind == LocationKind::Braintrust)
        .filter_map(|l| {
            c.updated_at(l)
                .map(|at| format!("{} {}", l.name, text::clock(at)))
        })
        .collect();
    // (text, style), each indented; Braintrust's line is dim all through.
    let mut notes: Vec<(String, Style)> = Vec::new();
    if !braintrust.is_empty() {
        notes.push((
            strings::braintrust_updated(&braintrust.join(" · ")),
            t.dim(),
        ));
    }
    match &c.rotation {
        RotationState::Failed { .. } if c.pending_found.as_ref().is_some_and(|p| !p.confirmed) => {
            if let Some(p) = &c.pending_found {
                notes.push((
                    strings::pending_row(&p.location, &p.version, &p.whose, app.read_only),
                    t.bad(),
                ));
            }
        }
        RotationState::Failed { why, .. } => {
            notes.push((strings::rotation_failed(why, app.read_only), t.bad()));
        }
        RotationState::Skipped { why, .. } => {
            notes.push((strings::rotation_skipped(why), t.warn()));
        }
        RotationState::At { .. } => {
            // Only while its work is in flight: the retry is happening now.
            if let Some(r) = c
                .retrying
                .as_ref()
                .filter(|_| app.busy.credentials.contains(&c.credential.id))
            {
                notes.push((strings::retrying(&r.call, &r.why, r.attempt), t.warn()));
            }
            if let Some(at) = &c.deleted {
                notes.push((strings::old_key_deleted(&text::clock(at)), t.good()));
            }
            if let Some(how) = &c.manual_revoke {
                let verb = if reached >= Stage::Revoked {
                    strings::VERB_DELETE
                } else {
                    strings::VERB_REVOKE
                };
                notes.push((
                    strings::manual_revoke_row(verb, &how.instructions),
                    t.warn(),
                ));
            }
            if let Some(RoomNeeded { plan, .. }) = &c.room_needed {
                notes.push((strings::room_row(plan, app.read_only), t.warn()));
            }
            if c.manual_needed.is_some() {
                notes.push((strings::manual_row(app.read_only), t.warn()));
            }
        }
    }
    notes
        .iter()
        .enumerate()
        .flat_map(|(i, (note, style))| {
            let indent = if i == 0 && !braintrust.is_empty() {
                t.dim()
            } else {
                t.text()
            };
            text::wrapped("  ", indent, note, *style, width)
        })
        .collect()
}

/// Stages reached over stages to go, and keys contained of keys exposed.
fn progress(rows: &[&CredentialState]) -> (f64, usize, usize) {
    let in_rotation: Vec<_> = rows.iter().filter(|c| c.in_rotation()).collect();
    let total = in_rotation.len() * STAGES.len();
    let done: usize = in_rotation
        .iter()
        .map(|c| {
            STAGES
                .iter()
                .filter(|s| c.rotation.reached() >= **s)
                .count()
        })
        .sum();
    let ratio = if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let contained = in_rotation
        .iter()
        .filter(|c| c.rotation.is_contained())
        .count();
    (ratio, contained, in_rotation.len())
}
