//! Inventory: every credential found — issuer, name, key hint, locations, age, last use, the
//! exposed mark and `shared ×N` when one key lives in several places — sortable and
//! filterable, with the selected key's details (every location, dates, why it is exposed)
//! and, above them, the persistence made in the window by unknown identities, to review.
//!
//! Depends on `app` (read only), `panel`, `strings`, `text` and the incident state.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap};

use super::frame::{block, status};
use crate::incident::state::{CredentialState, Decision};
use crate::runbook::schema::Action;
use crate::tui::app::App;
use crate::tui::panel::Panel;
use crate::tui::strings;
use crate::tui::text;

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let creds = app.visible_credentials();
    let count = strings::inventory_count(
        creds.len(),
        app.state.credentials.len(),
        app.sort.label(),
        &app.filter,
    );
    // The inventory step is running: a spinner where the list grows.
    let listing = app.busy.in_flight > 0
        && app
            .busy
            .step
            .as_deref()
            .and_then(|s| app.state.step_def(s))
            .is_some_and(|d| d.action == Action::Inventory);
    let right = if listing {
        Line::from(Span::styled(
            format!(" {} {} · {count} ", app.spinner_frame(), strings::LISTING),
            t.accent(),
        ))
    } else {
        status(app, count)
    };
    let b = block(app, Panel::Inventory, Some(right));
    let inner = b.inner(area);
    b.render(area, buf);
    if creds.is_empty() {
        let msg = if app.state.credentials.is_empty() {
            strings::EMPTY_INVENTORY.to_string()
        } else {
            strings::nothing_matches(&app.filter)
        };
        Paragraph::new(Span::styled(msg, t.dim()))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let selected = app.selected_index(&creds);
    let focused = app.focus == Panel::Inventory;

    // The selected key's details go under the table when there is room, after the
    // persistence made in the window that waits for review (it is what a person must not
    // miss).
    let shown = selected.and_then(|i| creds.get(i)).or(creds.first());
    let mut detail = persistence(app, inner.width);
    detail.extend(
        shown
            .map(|c| details(app, c, inner.width))
            .unwrap_or_default(),
    );
    let table_h = (creds.len() + 1).min(inner.height as usize);
    let room = (inner.height as usize).saturating_sub(table_h + 1);
    let reserve = if focused && inner.height >= 8 { 2 } else { 0 };
    let detail_h = detail.len().min(room.max(reserve));
    let table_rows = (inner.height as usize).saturating_sub(detail_h + usize::from(detail_h > 0));
    let [table_area, _, detail_area, _] = Layout::vertical([
        Constraint::Length(u16::try_from(table_h.min(table_rows).max(2)).unwrap_or(2)),
        Constraint::Length(u16::from(detail_h > 0)),
        Constraint::Length(u16::try_from(detail_h).unwrap_or(0)),
        Constraint::Min(0),
    ])
    .areas(inner);

    // Rows are made only for what fits (10,000 keys make one screen of rows, not 10,000),
    // scrolled as ratatui scrolls a fresh table: the selected row at the bottom once it is
    // past the first screen.
    let fits = (table_area.height as usize).saturating_sub(1).max(1);
    let first = selected.map_or(0, |s| (s + 1).saturating_sub(fits));
    let window = &creds[first..(first + fits).min(creds.len())];
    let mut state = TableState::default().with_selected(selected.map(|s| s - first));
    StatefulWidget::render(table(app, window, inner.width), table_area, buf, &mut state);
    Paragraph::new(detail).render(detail_area, buf);
}

/// The table of keys: the key's age only when there is room (the details line always has
/// the dates).
fn table<'a>(app: &App, creds: &[&CredentialState], width: u16) -> Table<'a> {
    let t = app.theme;
    let focused = app.focus == Panel::Inventory;
    let with_age = width >= 84;
    let rows: Vec<Row> = creds.iter().map(|c| row(app, c, with_age)).collect();
    let mut headers = vec![
        strings::COL_ISSUER,
        strings::COL_NAME,
        strings::COL_KEY,
        strings::COL_LOCATIONS,
    ];
    let mut widths = vec![
        Constraint::Length(10),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Min(16),
    ];
    if with_age {
        headers.push(strings::COL_AGE);
        widths.push(Constraint::Length(5));
    }
    headers.extend([strings::COL_USED, strings::COL_EXPOSED]);
    widths.extend([Constraint::Length(8), Constraint::Length(7)]);
    Table::new(rows, widths)
        .column_spacing(1)
        .header(Row::new(headers).style(t.dim()))
        .row_highlight_style(if focused { t.selected() } else { t.text() })
}

fn row<'a>(app: &App, c: &CredentialState, with_age: bool) -> Row<'a> {
    let t = app.theme;
    let cr = &c.credential;
    let shared = app.shared_count(c);
    let first = cr.locations.first().map(|l| l.label()).unwrap_or_default();
    let locations = if shared > 1 {
        Line::from(vec![
            Span::styled(format!("{} ", strings::shared(shared)), t.warn()),
            Span::raw(first),
        ])
    } else {
        Line::from(first)
    };
    let clock = app.state.clock;
    // The incident's own usage first: the provider's figure is a snapshot of the inventory.
    let (last, seen) = app.last_use(c);
    let used = last
        .map(|d| {
            let ago = strings::ago(&text::age((clock - d).num_seconds()));
            if seen { ago } else { format!("{ago}*") }
        })
        .unwrap_or_else(|| "—".to_string());
    let exposed = if cr.exposed && c.deleted.is_some() {
        Span::styled(strings::EXPOSED_DELETED, t.good())
    } else if cr.exposed && c.rotation.is_contained() {
        Span::styled(strings::EXPOSED_REVOKED, t.good())
    } else if cr.exposed && cr.blocked_as_leaked().is_some() {
        Span::styled(strings::EXPOSED_BLOCKED, t.bad())
    } else if cr.exposed {
        Span::styled(strings::EXPOSED, t.bad())
    } else if let Some(v) = app.state.verdict(c) {
        match app.state.decision(c) {
            Decision::Revoked { .. } => Span::styled(strings::SUSPECT_REVOKED, t.good()),
            Decision::Open => Span::styled(strings::SUSPECT, t.bad()),
            _ if v.is_suspect() => Span::styled(strings::SUSPECT, t.bad()),
            _ => Span::styled(strings::CREATED_KNOWN, t.good()),
        }
    } else {
        Span::styled(strings::NOT_EXPOSED, t.good())
    };
    let mut cells = vec![
        Cell::from(cr.issuer.label()),
        Cell::from(cr.name.clone()),
        Cell::from(cr.hint.clone()),
        Cell::from(locations),
    ];
    if with_age {
        let age = cr
            .created
            .map(|d| text::age((clock - d).num_seconds()))
            .unwrap_or_default();
        cells.push(Cell::from(age));
    }
    cells.extend([Cell::from(used), Cell::from(exposed)]);
    Row::new(cells)
}

/// Findings shown at most; the rest are counted (the report lists them all).
const PERSISTENCE_SHOWN: usize = 3;

/// The persistence made during the window by identities nobody vouches for (users, login
/// profiles, policies, trust changes, service accounts, project members): a heading and one
/// line each, to review; breachbook changes none.
fn persistence(app: &App, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let findings = app.state.persistence_to_review();
    if findings.is_empty() {
        return Vec::new();
    }
    let w = width as usize;
    let mut lines = vec![Line::from(Span::styled(
        text::truncate(&strings::persistence_heading(findings.len()), w),
        t.bad(),
    ))];
    for f in findings.iter().take(PERSISTENCE_SHOWN) {
        let line =
            strings::persistence_line(&f.issuer, &f.action, &f.target, &f.creator.describe());
        lines.extend(text::wrapped("", t.warn(), &line, t.warn(), w));
    }
    if findings.len() > PERSISTENCE_SHOWN {
        lines.push(Line::from(Span::styled(
            text::truncate(
                &strings::persistence_more(findings.len() - PERSISTENCE_SHOWN),
                w,
            ),
            t.dim(),
        )));
    }
    lines
}

/// Every location, the dates, the fingerprint and why the key is (not) exposed, wrapped.
fn details(app: &App, c: &CredentialState, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let cr = &c.credential;
    let w = width as usize;
    let labels: Vec<String> = cr.locations.iter().map(|l| l.label()).collect();
    let mut lines = text::hanging(
        &format!("{} {}", cr.name, strings::lives_in(labels.len())),
        t.bold(),
        &labels.join(" · "),
        t.text(),
        w,
        2,
    );
    // A suspect's verdict and decision first: they are what the operator acts on.
    if let Some(v) = app.state.verdict(c) {
        let suspect = v.is_suspect();
        let style = if suspect { t.bad() } else { t.dim() };
        lines.extend(text::wrapped(
            "",
            style,
            &strings::verdict(suspect, v.why()),
            style,
            w,
        ));
        let decision = match app.state.decision(c) {
            Decision::Open => Some(strings::SUSPECT_DECIDE.to_string()),
            Decision::Revoked { by, .. } => Some(strings::decided(&format!("revoked by {by}"))),
            Decision::MarkedKnown(m) => Some(strings::decided(&format!(
                "marked known by {}: {}",
                m.by, m.reason
            ))),
            Decision::NotNeeded => None,
        };
        if let Some(d) = decision {
            lines.extend(text::wrapped("", t.warn(), &d, t.warn(), w));
        }
    }
    let created = cr
        .created
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| strings::UNKNOWN.to_string());
    let (last, seen) = app.last_use(c);
    let used = match last {
        Some(d) if seen => strings::last_seen(&d.format("%Y-%m-%d %H:%M").to_string()),
        Some(d) => strings::last_reported(&d.format("%Y-%m-%d %H:%M").to_string()),
        None => strings::NEVER_SEEN.to_string(),
    };
    let mut facts = strings::created_used(&created, &used);
    if let Some(fp) = &cr.fingerprint {
        facts.push_str(&strings::fingerprint(&text::truncate(fp, 9)));
    }
    lines.extend(text::wrapped("", t.dim(), &facts, t.dim(), w));
    if let Some(evidence) = cr.blocked_as_leaked() {
        lines.extend(text::wrapped(
            "",
            t.bad(),
            &strings::blocked_as_leaked(evidence),
            t.bad(),
            w,
        ));
    }
    if !cr.exposure_reason.is_empty() {
        let style = if cr.exposed { t.warn() } else { t.dim() };
        lines.extend(text::wrapped(
            "",
            style,
            &strings::exposure(&cr.exposure_reason),
            style,
            w,
        ));
    }
    lines
}
