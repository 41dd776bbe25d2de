//! Rotation: a matrix of exposed credentials × stages with ✓ and the time each stage was
//! reached, a spinner where work is in flight, failed rows with why and `r retry`, and a gauge
//! of overall progress.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
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
    let mut body: Vec<Line> = Vec::new();
    let mut selected_line = 0;
    for (i, c) in rows.iter().enumerate() {
        if Some(i) == selected {
            selected_line = body.len();
        }
        let mut lines = row(app, c, inner.width as usize);
        if focused && Some(i) == selected {
            lines = lines.into_iter().map(|l| l.style(t.selected())).collect();
        }
        body.extend(lines);
    }
    // The gauge sits right under the rows; the header stays and the rows scroll to keep
    // the selection in view.
    let matrix_h = (body.len() + 1).min((inner.height as usize).saturating_sub(1));
    let [matrix, gauge, _] = Layout::vertical([
        Constraint::Length(u16::try_from(matrix_h).unwrap_or(1)),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let visible = (matrix.height as usize).saturating_sub(1).max(1);
    let scroll = selected_line.saturating_sub(visible.saturating_sub(2));
    let mut lines = vec![Line::from(header)];
    lines.extend(body.into_iter().skip(scroll));
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
    let mut lines = vec![Line::from(spans)];
    let indent = "  ";
    // Braintrust's own secret_updated_at for each copy replaced there: the check Braintrust
    // asks its customers to make.
    let braintrust: Vec<String> = c
        .credential
        .locations
        .iter()
        .filter(|l| l.kind == LocationKind::Braintrust)
        .filter_map(|l| {
            c.updated_locations
                .get(&l.label())
                .map(|at| format!("{} {}", l.name, text::clock(at)))
        })
        .collect();
    if !braintrust.is_empty() {
        lines.extend(text::wrapped(
            indent,
            t.dim(),
            &strings::braintrust_updated(&braintrust.join(" · ")),
            t.dim(),
            width,
        ));
    }
    match &c.rotation {
        RotationState::Failed { why, .. } => lines.extend(text::wrapped(
            indent,
            t.text(),
            &strings::rotation_failed(why, app.read_only),
            t.bad(),
            width,
        )),
        RotationState::Skipped { why, .. } => lines.extend(text::wrapped(
            indent,
            t.text(),
            &strings::rotation_skipped(why),
            t.warn(),
            width,
        )),
        RotationState::At { .. } => {
            if let Some(at) = &c.deleted {
                lines.extend(text::wrapped(
                    indent,
                    t.text(),
                    &strings::old_key_deleted(&text::clock(at)),
                    t.good(),
                    width,
                ));
            }
            if let Some(how) = &c.manual_revoke {
                let verb = if reached >= Stage::Revoked {
                    "delete"
                } else {
                    "revoke"
                };
                lines.extend(text::wrapped(
                    indent,
                    t.text(),
                    &strings::manual_revoke_row(verb, &how.instructions),
                    t.warn(),
                    width,
                ));
            }
            if let Some(RoomNeeded { plan, .. }) = &c.room_needed {
                lines.extend(text::wrapped(
                    indent,
                    t.text(),
                    &strings::room_row(plan, app.read_only),
                    t.warn(),
                    width,
                ));
            }
            if c.manual_needed.is_some() {
                lines.extend(text::wrapped(
                    indent,
                    t.text(),
                    &strings::manual_row(app.read_only),
                    t.warn(),
                    width,
                ));
            }
        }
    }
    lines
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
