//! Overlays on a stack (as gitui's popups): the top one gets each key first and says whether
//! it consumed it. Here live their state, their key handling, and the drawing of the y/n
//! question, the skip reason, the quit question and THE REVOCATION WINDOW — the one
//! confirmation path for everything destructive (`Dangerous`): the evidence, no default, a
//! typed word, an extra typed override when a pre-flight check fails.
//!
//! Depends on `action`, `app` (read only, for drawing), `overlay` (the box helpers),
//! `strings`, `text`, `theme` and the engine's command types.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::action::Action;
use super::app::App;
use super::overlay::{centered, frame_box};
use super::panel::Panel;
use super::{help, overlay, score, strings, text};
use crate::incident::command::{Command, Dangerous};
use crate::incident::model::LocationKind;
use crate::incident::rotation::Stage;

/// One overlay.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// The `?` key list.
    Help,
    /// Onboarding: what a panel is for, the first time it gets focus.
    Explain(Panel),
    /// y/n before running a step.
    Ask(Ask),
    /// The typed confirmation of one dangerous action.
    Revoke(RevokeModal),
    /// Why a step or a key is skipped.
    Reason(Reason),
    /// Quit while work is in flight?
    Quit,
    /// The drill's final score.
    Score,
    /// The `/` prompt (drawn in the footer; the list filters as you type).
    Filter,
    /// The hidden input for a key made by hand in the issuer's console.
    Paste(PasteModal),
}

/// The hidden input for a key made by hand: what to do in the console, and the pasted key,
/// shown only as a count of characters. Zeroized when it closes.
#[derive(Clone, PartialEq)]
pub struct PasteModal {
    pub credential: String,
    pub name: String,
    pub instructions: String,
    /// What was pasted or typed. Never drawn, never printed by `Debug`.
    pub input: zeroize::Zeroizing<String>,
    pub error: Option<String>,
    /// Sent; waiting for the engine to test and stage it.
    pub pending: bool,
}

impl std::fmt::Debug for PasteModal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasteModal")
            .field("credential", &self.credential)
            .field("typed", &self.input.chars().count())
            .field("error", &self.error)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// A y/n question before a step runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub title: String,
    pub lines: Vec<String>,
    /// Sent on `y`.
    pub yes: Command,
}

/// Which input of the revocation window has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Word,
    Override,
}

/// The revocation (or deletion) window of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokeModal {
    pub target: Dangerous,
    /// What the operator typed; never pre-filled.
    pub word: String,
    pub override_text: String,
    pub field: Field,
    /// The last refusal, shown in red.
    pub error: Option<String>,
    /// Sent; waiting for the engine.
    pub pending: bool,
}

impl RevokeModal {
    pub fn new(target: Dangerous) -> RevokeModal {
        RevokeModal {
            target,
            word: String::new(),
            override_text: String::new(),
            field: Field::Word,
            error: None,
            pending: false,
        }
    }
}

/// What a skip is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipTarget {
    Step(String),
    Credential(String),
}

/// The reason prompt of a skip.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub target: SkipTarget,
    pub question: String,
    /// Skipping it counts as a skipped safety check.
    pub critical: bool,
    pub input: String,
    pub error: Option<String>,
}

/// What the top overlay did with a key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyOutcome {
    /// The overlay took the key (and maybe asks for an action).
    Consumed(Option<Action>),
    /// Not for this overlay: the screen below gets it.
    Ignored,
}

use KeyOutcome::{Consumed, Ignored};

fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c')
}

/// Keys of a text input: characters type, Backspace erases, Enter submits, Esc closes.
fn text_input(key: &KeyEvent, fields: bool) -> KeyOutcome {
    if is_ctrl_c(key) {
        return Ignored;
    }
    let modified = key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Esc => Consumed(Some(Action::Close)),
        KeyCode::Enter => Consumed(Some(Action::Submit)),
        KeyCode::Backspace => Consumed(Some(Action::Erase)),
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down if fields => {
            Consumed(Some(Action::SwitchField))
        }
        KeyCode::Char(c) if !modified => Consumed(Some(Action::Type(c))),
        _ => Consumed(None),
    }
}

impl Modal {
    /// What this overlay does with a key when it is on top.
    pub fn on_key(&self, key: &KeyEvent) -> KeyOutcome {
        match self {
            Modal::Explain(_) if is_ctrl_c(key) => Ignored,
            // Onboarding explanations go away with any key.
            Modal::Explain(_) => Consumed(Some(Action::Close)),
            Modal::Help => match key.code {
                _ if is_ctrl_c(key) => Ignored,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter => {
                    Consumed(Some(Action::Close))
                }
                _ => Consumed(None),
            },
            Modal::Score => match key.code {
                _ if is_ctrl_c(key) => Ignored,
                KeyCode::Char('q') => Consumed(Some(Action::Quit)),
                KeyCode::Char('r') => Consumed(Some(Action::ReportPath)),
                KeyCode::Esc | KeyCode::Enter => Consumed(Some(Action::Close)),
                _ => Consumed(None),
            },
            // A second Ctrl-C while asked means it.
            Modal::Quit => match key.code {
                _ if is_ctrl_c(key) => Consumed(Some(Action::Answer(true))),
                KeyCode::Char('y') | KeyCode::Char('Y') => Consumed(Some(Action::Answer(true))),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    Consumed(Some(Action::Answer(false)))
                }
                _ => Consumed(None),
            },
            Modal::Ask(_) => match key.code {
                _ if is_ctrl_c(key) => Ignored,
                KeyCode::Char('y') | KeyCode::Char('Y') => Consumed(Some(Action::Answer(true))),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    Consumed(Some(Action::Answer(false)))
                }
                _ => Consumed(None),
            },
            Modal::Revoke(_) => text_input(key, true),
            Modal::Reason(_) | Modal::Filter | Modal::Paste(_) => text_input(key, false),
        }
    }
}

/// Draws one overlay over the screen.
pub fn render(app: &App, modal: &Modal, f: &mut Frame) {
    match modal {
        Modal::Help => help::render(app, f),
        Modal::Explain(p) => help::explain(app, *p, f),
        Modal::Score => score::render(app, f),
        Modal::Filter => {}
        Modal::Ask(a) => ask(app, a, f),
        Modal::Reason(r) => reason(app, r, f),
        Modal::Quit => quit(app, f),
        Modal::Revoke(m) => revoke(app, m, f),
        Modal::Paste(m) => paste(app, m, f),
    }
}

fn paste(app: &App, m: &PasteModal, f: &mut Frame) {
    let t = app.theme;
    let area = f.area();
    let w = overlay::width(area, 90);
    let inner_w = w.saturating_sub(2) as usize;
    let mut lines = text::wrapped("", t.text(), &m.instructions, t.text(), inner_w);
    lines.push(Line::from(""));
    let n = m.input.chars().count();
    lines.push(Line::from(vec![
        Span::styled("> ", t.accent()),
        Span::raw(format!("{}▏", "•".repeat(n.min(32)))),
        Span::styled(strings::pasted_count(n), t.dim()),
    ]));
    if m.pending {
        lines.push(Line::from(Span::styled(strings::PASTE_TESTING, t.dim())));
    }
    if let Some(e) = &m.error {
        lines.extend(text::wrapped("✗ ", t.bad(), e, t.bad(), inner_w));
    }
    lines.extend(text::wrapped(
        "",
        t.dim(),
        strings::PASTE_KEYS,
        t.dim(),
        inner_w,
    ));
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = frame_box(
        f,
        centered(area, w, h),
        &strings::paste_title(&m.name),
        t.warn(),
    );
    f.render_widget(Paragraph::new(lines), inner);
}

fn ask(app: &App, a: &Ask, f: &mut Frame) {
    let t = app.theme;
    let area = f.area();
    let w = overlay::width(area, 96);
    let inner_w = w.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for l in &a.lines {
        // A command keeps its indent on every wrapped line.
        match l.strip_prefix("  ") {
            Some(cmd) => lines.extend(text::wrapped("  ", t.bold(), cmd, t.bold(), inner_w)),
            None => lines.extend(text::wrapped("", t.text(), l, t.text(), inner_w)),
        }
    }
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = frame_box(f, centered(area, w, h), &a.title, t.accent());
    f.render_widget(Paragraph::new(lines), inner);
}

fn reason(app: &App, r: &Reason, f: &mut Frame) {
    let t = app.theme;
    let area = f.area();
    let w = overlay::width(area, 80);
    let inner_w = w.saturating_sub(2) as usize;
    let mut lines = text::wrapped("", t.text(), &r.question, t.text(), inner_w);
    if r.critical {
        lines.extend(text::wrapped(
            "",
            t.warn(),
            strings::SKIP_CRITICAL,
            t.warn(),
            inner_w,
        ));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("> ", t.accent()),
        Span::raw(format!("{}▏", r.input)),
    ]));
    if let Some(e) = &r.error {
        lines.extend(text::wrapped("✗ ", t.bad(), e, t.bad(), inner_w));
    }
    lines.push(Line::from(Span::styled(strings::SKIP_KEYS, t.dim())));
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = frame_box(f, centered(area, w, h), strings::SKIP_TITLE, t.warn());
    f.render_widget(Paragraph::new(lines), inner);
}

fn quit(app: &App, f: &mut Frame) {
    let t = app.theme;
    let area = f.area();
    let w = overlay::width(area, 72);
    let lines = text::wrapped(
        "",
        t.text(),
        strings::QUIT_BUSY,
        t.text(),
        w.saturating_sub(2) as usize,
    );
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = frame_box(f, centered(area, w, h), strings::QUIT_TITLE, t.warn());
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The last characters of a key id, enough for a person to read the word in context.
fn id_tail(key_id: &str) -> String {
    // A short form (`AIz…aaG1`) is shown by its visible end only.
    let key_id = key_id.rsplit('…').next().unwrap_or(key_id);
    let chars: Vec<char> = key_id.chars().collect();
    chars[chars.len().saturating_sub(8)..].iter().collect()
}

/// The question at an issuer's key limit: delete this inactive key (not the exposed one) to
/// make room, typed like every other deletion.
fn make_room(app: &App, m: &RevokeModal, f: &mut Frame) {
    let t = app.theme;
    let area = f.area();
    let Some(c) = app.state.credential(m.target.credential()) else {
        return;
    };
    let w = overlay::width(area, 100);
    let iw = w.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    lines.extend(text::wrapped(
        "",
        t.bad(),
        &strings::room_heading(&c.credential.name),
        t.bad(),
        iw,
    ));
    let Some(crate::incident::state::RoomNeeded { key_id, plan, .. }) = &c.room_needed else {
        lines.extend(text::wrapped("", t.dim(), strings::ROOM_STALE, t.dim(), iw));
        let h = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .saturating_add(2);
        let inner = frame_box(f, centered(area, w, h), strings::MAKE_ROOM_TITLE, t.bad());
        f.render_widget(Paragraph::new(lines), inner);
        return;
    };
    lines.extend(text::wrapped("", t.text(), plan, t.text(), iw));
    lines.extend(text::wrapped(
        "",
        t.bold(),
        &strings::room_key(key_id),
        t.bold(),
        iw,
    ));
    lines.push(Line::from(""));
    lines.extend(text::wrapped(
        "",
        t.bold(),
        &strings::type_word(&id_tail(key_id)),
        t.bold(),
        iw,
    ));
    lines.push(Line::from(vec![
        Span::raw(strings::WORD_INPUT),
        Span::styled(format!("{}▏", m.word), t.accent()),
    ]));
    if let Some(e) = &m.error {
        lines.extend(text::wrapped("✗ ", t.bad(), e, t.bad(), iw));
    } else if m.pending {
        lines.push(Line::from(Span::styled(
            format!(
                "{} {}",
                app.spinner_frame(),
                strings::confirming("deleting")
            ),
            t.accent(),
        )));
    }
    lines.extend(text::wrapped(
        "",
        t.dim(),
        strings::REVOKE_KEYS,
        t.dim(),
        iw,
    ));
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = frame_box(f, centered(area, w, h), strings::MAKE_ROOM_TITLE, t.bad());
    f.render_widget(Paragraph::new(lines), inner);
}

fn revoke(app: &App, m: &RevokeModal, f: &mut Frame) {
    if matches!(m.target, Dangerous::MakeRoom { .. }) {
        return make_room(app, m, f);
    }
    let t = app.theme;
    let area = f.area();
    let Some(c) = app.state.credential(m.target.credential()) else {
        return;
    };
    let cr = &c.credential;
    let delete = matches!(m.target, Dangerous::Delete { .. });
    let verb = m.target.verb();
    let w = overlay::width(area, 100);
    let iw = w.saturating_sub(2) as usize;

    // The evidence.
    let mut ev: Vec<Line> = Vec::new();
    ev.extend(text::wrapped(
        "",
        t.bad(),
        &strings::revoke_heading(&verb.to_uppercase(), &cr.name),
        t.bad(),
        iw,
    ));
    ev.extend(text::wrapped(
        "",
        t.text(),
        &strings::revoke_identity(cr.issuer.label(), &cr.hint, &cr.key_id),
        t.text(),
        iw,
    ));
    if let Some(new_hint) = &c.new_hint {
        let verified = c.stamps.get(&Stage::Verified).map(text::clock);
        ev.extend(text::wrapped(
            "",
            t.text(),
            &strings::replacement(new_hint, verified.as_deref()),
            t.text(),
            iw,
        ));
    }
    ev.push(Line::from(Span::styled(
        strings::lives_in_heading(cr.locations.len()),
        t.dim(),
    )));
    let label_w = cr
        .locations
        .iter()
        .map(|l| text::width(&l.label()))
        .max()
        .unwrap_or(0)
        .min(iw.saturating_sub(30));
    for l in &cr.locations {
        let label = l.label();
        let mut spans = vec![Span::raw(format!("  • {}  ", text::fit(&label, label_w)))];
        if !delete {
            spans.push(if l.kind == LocationKind::IamUser {
                Span::styled(strings::LOCATION_IAM, t.dim())
            } else if let Some(at) = c.updated_locations.get(&label) {
                Span::styled(
                    format!("✓ {}", strings::location_updated(&text::clock(at))),
                    t.good(),
                )
            } else {
                Span::styled(format!("✗ {}", strings::LOCATION_NOT_UPDATED), t.bad())
            });
        }
        ev.push(Line::from(spans));
    }
    if let Some(how) = &c.manual_revoke {
        ev.extend(text::wrapped(
            "",
            t.warn(),
            &strings::manual_revoke_heading(verb),
            t.warn(),
            iw,
        ));
        ev.extend(text::wrapped(
            "  ",
            t.warn(),
            &how.instructions,
            t.text(),
            iw,
        ));
        ev.extend(text::wrapped(
            "  ",
            t.warn(),
            strings::MANUAL_REVOKE_THEN,
            t.text(),
            iw,
        ));
    }
    ev.push(Line::from(Span::styled(strings::PREFLIGHT, t.dim())));
    let checks = app.dangerous_checks(&m.target);
    for (label, ok) in &checks {
        let (mark, style) = if *ok {
            ("  ✓ ", t.good())
        } else {
            ("  ✗ ", t.bad())
        };
        ev.extend(text::wrapped(mark, style, label, t.text(), iw));
    }
    let u = app.state.usage.get(&cr.id);
    let promoted = c.stamps.get(&Stage::Promoted);
    match u.and_then(|u| u.last_old_use.as_ref()) {
        Some((when, from)) => {
            let after = promoted.is_some_and(|p| when >= p) && !delete;
            let mut line = strings::last_use(&text::clock(when), from, after);
            let recent = recent_old_calls(app, &cr.id);
            if recent > 0 {
                line.push_str(&strings::recent_old_calls(recent));
            }
            let (mark, style) = if after {
                ("  ⚠ ", t.warn())
            } else {
                ("  • ", t.text())
            };
            ev.extend(text::wrapped(mark, style, &line, style, iw));
        }
        None => ev.push(Line::from(format!("  • {}", strings::LAST_USE_NONE))),
    }

    // The confirmation: never pre-filled, no default.
    let needs_override = checks.iter().any(|(_, ok)| !ok);
    let mut pr: Vec<Line> = Vec::new();
    pr.extend(text::wrapped(
        "",
        t.bold(),
        &strings::type_word(&id_tail(&cr.key_id)),
        t.bold(),
        iw,
    ));
    let input = |prefix: &str, value: &str, active: bool| {
        Line::from(vec![
            Span::raw(prefix.to_string()),
            Span::styled(
                format!("{value}{}", if active { "▏" } else { "" }),
                if active { t.accent() } else { t.text() },
            ),
        ])
    };
    pr.push(input(strings::WORD_INPUT, &m.word, m.field == Field::Word));
    if needs_override {
        pr.extend(text::wrapped(
            "",
            t.warn(),
            &strings::override_prompt(verb, &app.override_phrase_for(&cr.id)),
            t.warn(),
            iw,
        ));
        pr.push(input(
            strings::OVERRIDE_INPUT,
            &m.override_text,
            m.field == Field::Override,
        ));
    }
    if let Some(e) = &m.error {
        pr.extend(text::wrapped("✗ ", t.bad(), e, t.bad(), iw));
    } else if m.pending {
        pr.push(Line::from(Span::styled(
            format!("{} {}", app.spinner_frame(), strings::confirming(verb)),
            t.accent(),
        )));
    }
    pr.extend(text::wrapped(
        "",
        t.dim(),
        strings::REVOKE_KEYS,
        t.dim(),
        iw,
    ));

    let ev_h = u16::try_from(ev.len()).unwrap_or(u16::MAX);
    let pr_h = u16::try_from(pr.len()).unwrap_or(u16::MAX);
    let h = ev_h.saturating_add(pr_h).saturating_add(3);
    let title = strings::revoke_title(delete, &cr.name);
    let inner = frame_box(f, centered(area, w, h), &title, t.bad());
    // The prompt keeps its rows; the evidence gives way on a small screen.
    let [ev_area, _, pr_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(pr_h),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(ev), ev_area);
    f.render_widget(Paragraph::new(pr), pr_area);
}

/// Old-key calls (ok and denied) in the five minutes up to the incident clock.
fn recent_old_calls(app: &App, id: &str) -> u32 {
    let Some(u) = app.state.usage.get(id) else {
        return 0;
    };
    let since = app.state.clock - chrono::Duration::minutes(5);
    u.old
        .range(since..)
        .map(|(_, (ok, denied))| ok + denied)
        .sum()
}
