//! THE REVOCATION WINDOW: the typed confirmation of one dangerous action (`Dangerous`: revoke,
//! delete, make room at an issuer's key limit). It shows the evidence — the key, its
//! replacement, every location, the pre-flight checks, the last use of the old key — has no
//! default, takes a typed word, and an extra typed override when a pre-flight check fails.
//! The engine checks the word and the pre-flight again; this window only spares it sure
//! refusals.
//!
//! Here too: `dangerous_checks`, the pre-flight the window shows, and the queries around it.
//!
//! Depends on `action`, `overlay`, `strings`, `text`, `theme` and the incident's state and
//! commands.

use std::collections::HashSet;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::window::{Ctx, MAX_INPUT, ModalOutcome, Then, pasted_chars, push_char};
use crate::incident::command::{Command, Dangerous, Update, override_phrase};
use crate::incident::event::{DangerKind, Event, Via};
use crate::incident::model::LocationKind;
use crate::incident::rotation::Stage;
use crate::incident::rules::Check;
use crate::incident::state::{CredentialState, IncidentState, RoomNeeded};
use crate::tui::action::Action;
use crate::tui::theme::Theme;
use crate::tui::{overlay, strings, text};

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

/// The pre-flight checks of a dangerous action, the engine's own: (what, passed).
pub fn dangerous_checks(state: &IncidentState, target: &Dangerous) -> Vec<(String, bool)> {
    target
        .preflight(state)
        .into_iter()
        // A complete inventory is the usual case and says nothing about this key: the line
        // shows only when the inventory missed a source (so the window fits 80×24).
        .filter(|p| !(p.passed && matches!(p.check, Check::InventoryComplete { .. })))
        .map(|p| (p.check.to_string(), p.passed))
        .collect()
}

/// Whether going ahead needs the typed override phrase (a pre-flight check failed).
pub fn needs_override(state: &IncidentState, target: &Dangerous) -> bool {
    dangerous_checks(state, target).iter().any(|(_, ok)| !ok)
}

/// The override phrase for a key (shown to the operator, who must type it).
pub fn override_phrase_for(state: &IncidentState, id: &str) -> String {
    state
        .credential(id)
        .map(|c| override_phrase(&c.credential.confirmation_word()))
        .unwrap_or_default()
}

/// The next key a revoke (or delete) step has to confirm, skipping keys already on their way.
pub fn next_dangerous(
    state: &IncidentState,
    busy: &HashSet<String>,
    delete: bool,
) -> Option<String> {
    let kind = if delete {
        DangerKind::Delete
    } else {
        DangerKind::Revoke
    };
    state
        .awaiting_confirmation(delete)
        .into_iter()
        .filter(|c| !c.requested(kind) && !busy.contains(&c.credential.id))
        .map(|c| c.credential.id.clone())
        .next()
}

/// A credential's name, or its id when it is not (or no longer) known.
fn name_of(state: &IncidentState, credential: &str) -> String {
    state
        .credential(credential)
        .map(|c| c.credential.name.clone())
        .unwrap_or_else(|| credential.to_string())
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

    /// Whether this window revokes a suspect: a key created in the window by someone
    /// breachbook cannot vouch for, not exposed, with no replacement of ours.
    fn is_suspect(&self, state: &IncidentState) -> bool {
        matches!(self.target, Dangerous::Revoke { .. })
            && state
                .credential(self.target.credential())
                .is_some_and(|c| !c.credential.exposed && state.is_suspect(c))
    }

    fn active_field(&mut self) -> &mut String {
        match self.field {
            Field::Word => &mut self.word,
            Field::Override => &mut self.override_text,
        }
    }

    /// A refusal: say why, clear what was typed, back to the word.
    fn refused(&mut self, why: String) {
        self.error = Some(why);
        self.pending = false;
        self.word.clear();
        self.override_text.clear();
        self.field = Field::Word;
    }

    /// Keys typed, erased, pasted; Tab; Enter; Esc. A window too small to show all its
    /// evidence takes no word.
    pub fn update(&mut self, action: &Action, ctx: &Ctx) -> ModalOutcome {
        if let Some((w, h)) = self.too_small(ctx)
            && matches!(
                action,
                Action::Type(_) | Action::PasteText(_) | Action::Submit | Action::SwitchField
            )
        {
            self.error = Some(strings::revoke_too_small(w, h, ctx.size.0, ctx.size.1));
            return ModalOutcome::Stay;
        }
        match action {
            Action::Type(c) => {
                push_char(self.active_field(), *c, MAX_INPUT);
            }
            Action::PasteText(text) => {
                for c in pasted_chars(text) {
                    push_char(self.active_field(), c, MAX_INPUT);
                }
            }
            Action::Erase => {
                self.active_field().pop();
            }
            Action::SwitchField => {
                if needs_override(ctx.state, &self.target) {
                    self.field = match self.field {
                        Field::Word => Field::Override,
                        Field::Override => Field::Word,
                    };
                }
            }
            Action::Submit => return self.submit(ctx),
            Action::Close => return ModalOutcome::Close(Then::Nothing),
            _ => return ModalOutcome::Ignored,
        }
        ModalOutcome::Stay
    }

    /// Enter: refuse an empty word here; send the rest to the engine, which checks the word
    /// (and pre-flight) again and journals the outcome.
    fn submit(&mut self, ctx: &Ctx) -> ModalOutcome {
        if self.pending {
            return ModalOutcome::Stay;
        }
        let needs_override = needs_override(ctx.state, &self.target);
        if let Some(why) = ctx.stopped {
            self.error = Some(strings::engine_stopped(why));
            return ModalOutcome::Stay;
        }
        if self.word.trim().is_empty() {
            self.error = Some(strings::TYPE_WORD_FIRST.to_string());
            self.field = Field::Word;
            return ModalOutcome::Stay;
        }
        if needs_override && self.override_text.trim().is_empty() {
            // A sure refusal would only journal noise: ask for the override phrase first.
            self.field = Field::Override;
            self.error = Some(strings::TYPE_OVERRIDE.to_string());
            return ModalOutcome::Stay;
        }
        self.pending = true;
        self.error = None;
        ModalOutcome::Send(Command::Confirm {
            target: self.target.clone(),
            word: self.word.clone(),
            override_phrase: needs_override.then(|| self.override_text.clone()),
            via: Via::Tui,
        })
    }

    /// The engine's answer: done (the window closes and says what is next), refused or
    /// failed (it says why and stays), or to be done by hand (it says how and stays).
    pub fn on_engine(&mut self, update: &Update, ctx: &Ctx) -> ModalOutcome {
        let event = match update {
            Update::Refused { message } => {
                self.refused(message.clone());
                return ModalOutcome::Stay;
            }
            Update::Stopped { why } => {
                let why = why.as_deref().unwrap_or(strings::ENGINE_STOPPED);
                self.pending = false;
                self.error = Some(strings::engine_stopped(why));
                return ModalOutcome::Stay;
            }
            Update::Event { event, .. } => event,
            Update::Busy { .. } => return ModalOutcome::Ignored,
        };
        let mine = |credential: &String| self.target.credential() == credential;
        match event {
            Event::Revoked { credential, .. } | Event::Deleted { credential, .. }
                if mine(credential)
                    && matches!(self.target, Dangerous::Delete { .. })
                        == matches!(event, Event::Deleted { .. }) =>
            {
                let delete = matches!(event, Event::Deleted { .. });
                let more = next_dangerous(ctx.state, ctx.busy, delete).is_some();
                let name = name_of(ctx.state, credential);
                if !delete && self.is_suspect(ctx.state) {
                    return ModalOutcome::Close(Then::Say(strings::suspect_revoked(&name, more)));
                }
                ModalOutcome::Close(Then::Say(strings::revoked_next(
                    self.target.verb(),
                    &name,
                    more,
                )))
            }
            Event::RoomMade { credential, .. }
                if mine(credential) && matches!(self.target, Dangerous::MakeRoom { .. }) =>
            {
                let name = name_of(ctx.state, credential);
                ModalOutcome::Close(Then::Say(strings::room_made(&name)))
            }
            Event::Staged { credential, .. }
                if mine(credential) && matches!(self.target, Dangerous::TakeOver { .. }) =>
            {
                let name = name_of(ctx.state, credential);
                ModalOutcome::Close(Then::Say(strings::taken_over(&name)))
            }
            // The window stays: its evidence now says what to do by hand; the word is typed
            // again once that is done.
            Event::ManualRevokeNeeded {
                credential, tested, ..
            } if mine(credential) => {
                self.refused(strings::manual_revoke_error(*tested));
                ModalOutcome::Stay
            }
            Event::RotationFailed { credential, why } if mine(credential) => {
                self.error = Some(why.clone());
                self.pending = false;
                ModalOutcome::Stay
            }
            _ => ModalOutcome::Ignored,
        }
    }

    /// The rows the window needs on a terminal `cols` wide: (evidence, prompt), or one list
    /// for making room.
    fn content(&self, ctx: &Ctx, cols: u16) -> Option<(Vec<Line<'static>>, Vec<Line<'static>>)> {
        let w = overlay::width(Rect::new(0, 0, cols, 1), 100);
        let iw = w.saturating_sub(2) as usize;
        if matches!(self.target, Dangerous::MakeRoom { .. }) {
            return Some((self.make_room_lines(ctx, iw), Vec::new()));
        }
        let c = ctx.state.credential(self.target.credential())?;
        let checks = dangerous_checks(ctx.state, &self.target);
        let ev = self.evidence(c, &checks, ctx, iw);
        let needs_override = checks.iter().any(|(_, ok)| !ok);
        let pr = self.prompt(c, needs_override, ctx, iw);
        Some((ev, pr))
    }

    /// The size the window needs when the terminal cannot show all of its evidence (then it
    /// takes no word): at this width, or 80 columns when this one is narrower.
    pub fn too_small(&self, ctx: &Ctx) -> Option<(u16, u16)> {
        let (cols, rows) = ctx.size;
        if cols == 0 || rows == 0 {
            return None;
        }
        let needs = |cols: u16| {
            // A row stays for the status line (a refusal, the spinner), so the window does not
            // turn too small the moment one shows.
            let status = usize::from(self.error.is_none() && !self.pending);
            self.content(ctx, cols)
                .map(|(ev, pr)| ev.len() + pr.len() + 2 + status)
                .unwrap_or(0)
        };
        if cols >= MIN_COLS && needs(cols) <= usize::from(rows) {
            return None;
        }
        let w = cols.max(MIN_COLS).max(80);
        let h = u16::try_from(needs(w)).unwrap_or(u16::MAX);
        Some((w, h))
    }

    /// Draws the window. Reads only.
    pub fn draw(&self, f: &mut Frame, ctx: &Ctx) {
        let area = f.area();
        let sized = Ctx {
            size: (area.width, area.height),
            ..*ctx
        };
        if let Some((w, h)) = self.too_small(&sized) {
            return self.draw_too_small(f, ctx, w, h);
        }
        if matches!(self.target, Dangerous::MakeRoom { .. }) {
            return self.draw_make_room(f, ctx);
        }
        if matches!(self.target, Dangerous::TakeOver { .. }) {
            return self.draw_take_over(f, ctx);
        }
        let Some(c) = ctx.state.credential(self.target.credential()) else {
            return;
        };
        let w = overlay::width(area, 100);
        let Some((ev, pr)) = self.content(ctx, area.width) else {
            return;
        };

        let ev_h = u16::try_from(ev.len()).unwrap_or(u16::MAX);
        let pr_h = u16::try_from(pr.len()).unwrap_or(u16::MAX);
        let h = ev_h.saturating_add(pr_h).saturating_add(2);
        let delete = matches!(self.target, Dangerous::Delete { .. });
        let title = if self.is_suspect(ctx.state) {
            strings::suspect_revoke_title(&c.credential.name)
        } else {
            strings::revoke_title(delete, &c.credential.name)
        };
        let inner = overlay::frame_box(f, overlay::centered(area, w, h), &title, ctx.theme.bad());
        let [ev_area, pr_area] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(pr_h)]).areas(inner);
        f.render_widget(Paragraph::new(ev), ev_area);
        f.render_widget(Paragraph::new(pr), pr_area);
    }

    /// The evidence: what the key is, what replaces it, where it lives, what to do by hand,
    /// the pre-flight checks and the last use of the old key.
    fn evidence(
        &self,
        c: &CredentialState,
        checks: &[(String, bool)],
        ctx: &Ctx,
        iw: usize,
    ) -> Vec<Line<'static>> {
        if self.is_suspect(ctx.state) {
            return suspect_evidence(c, ctx, iw);
        }
        let t = ctx.theme;
        let cr = &c.credential;
        let verb = self.target.verb();
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
        if let Some(evidence) = cr.blocked_as_leaked() {
            ev.extend(text::wrapped(
                "  ",
                t.warn(),
                &strings::blocked_as_leaked(evidence),
                t.warn(),
                iw,
            ));
        }
        // What else this revocation destroys at the issuer (a service account and every key
        // it holds): read before the word, not after.
        for took in cr.revoke_takes() {
            ev.extend(text::wrapped("  ⚠ ", t.warn(), took, t.warn(), iw));
        }
        if let Some(keep) = cr.restorable_for() {
            ev.extend(text::wrapped(
                "  ",
                t.dim(),
                &strings::restorable(keep.num_days()),
                t.dim(),
                iw,
            ));
        }
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
        let delete = matches!(self.target, Dangerous::Delete { .. });
        ev.extend(locations(c, delete, t, iw));
        let effects = if delete {
            Vec::new()
        } else {
            crate::incident::rules::revoke_effects(c)
        };
        if !effects.is_empty() {
            ev.push(Line::from(Span::styled(strings::REVOKE_ALSO, t.dim())));
            for e in effects {
                ev.extend(text::wrapped("  • ", t.text(), &e, t.text(), iw));
            }
        }
        if let Some(how) = &c.manual_revoke {
            for (prefix, line, style) in [
                ("", strings::manual_revoke_heading(verb), t.warn()),
                ("  ", how.instructions.clone(), t.text()),
                ("  ", strings::MANUAL_REVOKE_THEN.to_string(), t.text()),
            ] {
                ev.extend(text::wrapped(prefix, t.warn(), &line, style, iw));
            }
        }
        ev.push(Line::from(Span::styled(strings::PREFLIGHT, t.dim())));
        let services = if delete {
            Vec::new()
        } else {
            services_on_old(c, ctx)
        };
        let kinds = self.target.preflight(ctx.state);
        for (i, (label, ok)) in checks.iter().enumerate() {
            let (mark, style) = if *ok {
                ("  ✓ ", t.good())
            } else {
                ("  ✗ ", t.bad())
            };
            // A known service still on the old key: the check says which and what to do.
            let services_check = kinds
                .get(i)
                .is_some_and(|p| matches!(p.check, Check::ServicesMoved { .. }));
            if !*ok && services_check && !services.is_empty() {
                for s in &services {
                    ev.extend(text::wrapped(mark, style, s, t.bad(), iw));
                }
                continue;
            }
            ev.extend(text::wrapped(mark, style, label, t.text(), iw));
        }
        ev.extend(last_use(c, delete, ctx, iw));
        ev
    }

    /// The confirmation: never pre-filled, no default.
    fn prompt(
        &self,
        c: &CredentialState,
        needs_override: bool,
        ctx: &Ctx,
        iw: usize,
    ) -> Vec<Line<'static>> {
        let t = ctx.theme;
        let cr = &c.credential;
        let verb = self.target.verb();
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
        pr.push(input(
            strings::WORD_INPUT,
            &self.word,
            self.field == Field::Word,
        ));
        if needs_override {
            pr.extend(text::wrapped(
                "",
                t.warn(),
                &strings::override_prompt(verb, &override_phrase_for(ctx.state, &cr.id)),
                t.warn(),
                iw,
            ));
            pr.push(input(
                strings::OVERRIDE_INPUT,
                &self.override_text,
                self.field == Field::Override,
            ));
        }
        pr.extend(self.status(verb, ctx, iw));
        pr.extend(text::wrapped(
            "",
            t.dim(),
            strings::REVOKE_KEYS,
            t.dim(),
            iw,
        ));
        pr
    }

    /// The last refusal in red, or a spinner while the engine works on it.
    fn status(&self, verb: &str, ctx: &Ctx, iw: usize) -> Vec<Line<'static>> {
        let t = ctx.theme;
        if let Some(e) = &self.error {
            text::wrapped("✗ ", t.bad(), e, t.bad(), iw)
        } else if self.pending {
            vec![Line::from(Span::styled(
                format!("{} {}", ctx.spinner, strings::confirming(verb)),
                t.accent(),
            ))]
        } else {
            Vec::new()
        }
    }

    /// A window too small for its evidence: what size it needs, and no input.
    fn draw_too_small(&self, f: &mut Frame, ctx: &Ctx, need_w: u16, need_h: u16) {
        let t = ctx.theme;
        let area = f.area();
        let w = overlay::width(area, 100);
        let iw = w.saturating_sub(2) as usize;
        let name = ctx
            .state
            .credential(self.target.credential())
            .map(|c| c.credential.name.clone())
            .unwrap_or_default();
        let mut lines = text::wrapped(
            "",
            t.bad(),
            &strings::revoke_heading(&self.target.verb().to_uppercase(), &name),
            t.bad(),
            iw,
        );
        lines.extend(text::wrapped(
            "",
            t.warn(),
            &strings::revoke_too_small(need_w, need_h, area.width, area.height),
            t.warn(),
            iw,
        ));
        lines.extend(text::wrapped(
            "",
            t.dim(),
            strings::REVOKE_TOO_SMALL_KEYS,
            t.dim(),
            iw,
        ));
        overlay::boxed(f, w, strings::REVOKE_TOO_SMALL_TITLE, t.bad(), lines);
    }

    /// The question at an issuer's key limit: delete this inactive key (not the exposed one)
    /// to make room, typed like every other deletion.
    fn draw_make_room(&self, f: &mut Frame, ctx: &Ctx) {
        let t = ctx.theme;
        let w = overlay::width(f.area(), 100);
        let iw = w.saturating_sub(2) as usize;
        let lines = self.make_room_lines(ctx, iw);
        overlay::boxed(f, w, strings::MAKE_ROOM_TITLE, t.bad(), lines);
    }

    fn make_room_lines(&self, ctx: &Ctx, iw: usize) -> Vec<Line<'static>> {
        let t = ctx.theme;
        let Some(c) = ctx.state.credential(self.target.credential()) else {
            return Vec::new();
        };
        let mut lines: Vec<Line> = Vec::new();
        lines.extend(text::wrapped(
            "",
            t.bad(),
            &strings::room_heading(&c.credential.name),
            t.bad(),
            iw,
        ));
        let Some(RoomNeeded { key_id, plan, .. }) = &c.room_needed else {
            lines.extend(text::wrapped("", t.dim(), strings::ROOM_STALE, t.dim(), iw));
            return lines;
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
            Span::styled(format!("{}▏", self.word), t.accent()),
        ]));
        lines.extend(self.status(strings::VERB_DELETING, ctx, iw));
        lines.extend(text::wrapped(
            "",
            t.dim(),
            strings::REVOKE_KEYS,
            t.dim(),
            iw,
        ));
        lines
    }
}

impl RevokeModal {
    /// The question when a pending version breachbook did not put there is in the way:
    /// what it is and whose it looks like, what taking it over does, its own typed word, and
    /// the override phrase when automatic rotation is on for the secret.
    fn draw_take_over(&self, f: &mut Frame, ctx: &Ctx) {
        let t = ctx.theme;
        let Some(c) = ctx.state.credential(self.target.credential()) else {
            return;
        };
        let w = overlay::width(f.area(), 100);
        let iw = w.saturating_sub(2) as usize;
        let mut lines: Vec<Line> = Vec::new();
        lines.extend(text::wrapped(
            "",
            t.bad(),
            &strings::take_over_heading(&c.credential.name),
            t.bad(),
            iw,
        ));
        let Some(found) = &c.pending_found else {
            lines.extend(text::wrapped(
                "",
                t.dim(),
                strings::TAKE_OVER_STALE,
                t.dim(),
                iw,
            ));
            return overlay::boxed(f, w, strings::TAKE_OVER_TITLE, t.bad(), lines);
        };
        lines.extend(text::wrapped(
            "",
            t.text(),
            &strings::take_over_found(&found.location, &found.version, &found.whose),
            t.text(),
            iw,
        ));
        lines.extend(text::wrapped(
            "",
            t.text(),
            strings::TAKE_OVER_WHAT,
            t.text(),
            iw,
        ));
        let checks = dangerous_checks(ctx.state, &self.target);
        lines.push(Line::from(Span::styled(strings::PREFLIGHT, t.dim())));
        for (label, ok) in &checks {
            let (mark, style) = if *ok {
                ("  ✓ ", t.good())
            } else {
                ("  ✗ ", t.bad())
            };
            lines.extend(text::wrapped(mark, style, label, t.text(), iw));
        }
        lines.push(Line::from(""));
        lines.extend(text::wrapped(
            "",
            t.bold(),
            &strings::type_version_word(&id_tail(&found.version)),
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
        lines.push(input(
            strings::WORD_INPUT,
            &self.word,
            self.field == Field::Word,
        ));
        if let Some(failure) = self.target.preflight_failure(ctx.state) {
            lines.extend(text::wrapped(
                "",
                t.warn(),
                &strings::override_prompt(self.target.verb(), &failure.phrase),
                t.warn(),
                iw,
            ));
            lines.push(input(
                strings::OVERRIDE_INPUT,
                &self.override_text,
                self.field == Field::Override,
            ));
        }
        lines.extend(self.status(self.target.verb(), ctx, iw));
        lines.extend(text::wrapped(
            "",
            t.dim(),
            strings::REVOKE_KEYS,
            t.dim(),
            iw,
        ));
        overlay::boxed(f, w, strings::TAKE_OVER_TITLE, t.bad(), lines);
    }
}

/// The evidence for revoking a suspect: that it is one, who made it (when, from where) as
/// far as the audit log tells, that no replacement is minted, where it lives, what the
/// revocation does at the issuer, and its last use.
fn suspect_evidence(c: &CredentialState, ctx: &Ctx, iw: usize) -> Vec<Line<'static>> {
    use crate::incident::provenance::Provenance;
    let t = ctx.theme;
    let cr = &c.credential;
    let mut ev: Vec<Line> = Vec::new();
    let mut say = |prefix: &str, line: &str, style| {
        ev.extend(text::wrapped(prefix, style, line, style, iw));
    };
    say("", &strings::suspect_revoke_heading(&cr.name), t.bad());
    say(
        "",
        &strings::revoke_identity(cr.issuer.label(), &cr.hint, &cr.key_id),
        t.text(),
    );
    let made = match &c.provenance {
        Some(Provenance::Creator { creator }) => {
            strings::suspect_created_by(&creator.describe(), &creator.event)
        }
        Some(Provenance::Unknown { why }) => strings::suspect_creator_unknown(why),
        None => strings::SUSPECT_CREATOR_UNLOOKED.to_string(),
    };
    say("  ", &made, t.bad());
    say("", strings::SUSPECT_NO_REPLACEMENT, t.warn());
    for took in cr.revoke_takes() {
        say("  ⚠ ", took, t.warn());
    }
    ev.extend(locations(c, true, t, iw));
    let effects = crate::incident::rules::revoke_effects(c);
    if !effects.is_empty() {
        ev.push(Line::from(Span::styled(strings::REVOKE_ALSO, t.dim())));
        for e in effects {
            ev.extend(text::wrapped("  • ", t.text(), &e, t.text(), iw));
        }
    }
    if let Some(how) = &c.manual_revoke {
        let verb = strings::VERB_REVOKE;
        for (prefix, line, style) in [
            ("", strings::manual_revoke_heading(verb), t.warn()),
            ("  ", how.instructions.clone(), t.text()),
            ("  ", strings::MANUAL_REVOKE_THEN.to_string(), t.text()),
        ] {
            ev.extend(text::wrapped(prefix, t.warn(), &line, style, iw));
        }
    }
    ev.push(Line::from(Span::styled(
        strings::SUSPECT_NO_PREFLIGHT,
        t.dim(),
    )));
    // Its own last use: it has no old and new generation, it is one key.
    let last = ctx
        .state
        .usage
        .get(&cr.id)
        .and_then(|u| u.last_old_use.as_ref());
    let line = match last {
        Some((when, from)) => strings::last_use(
            &text::clock(when),
            from,
            ctx.state.service_of(from).is_some(),
        ),
        None => strings::SUSPECT_LAST_USE_NONE.to_string(),
    };
    ev.extend(text::wrapped("  • ", t.text(), &line, t.text(), iw));
    ev
}

/// Narrower than this, a revocation window is not drawn at all.
const MIN_COLS: u16 = 50;

/// Every location of the key, and (for a revocation) whether it has the new key yet.
fn locations(c: &CredentialState, delete: bool, t: Theme, iw: usize) -> Vec<Line<'static>> {
    let cr = &c.credential;
    let mut lines = vec![Line::from(Span::styled(
        strings::lives_in_heading(cr.locations.len()),
        t.dim(),
    ))];
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
            } else if l.kind.by_hand() {
                Span::styled(format!("! {}", strings::LOCATION_BY_HAND), t.warn())
            } else if let Some(at) = c.updated_at(l) {
                Span::styled(
                    format!("✓ {}", strings::location_updated(&text::clock(at))),
                    t.good(),
                )
            } else {
                Span::styled(format!("✗ {}", strings::LOCATION_NOT_UPDATED), t.bad())
            });
        }
        lines.push(Line::from(spans));
    }
    lines
}

/// Known services still on the old key after the promotion, each as an instruction, not
/// a question: which service, since when, and to restart it first (naming the step that
/// does) or to type the override phrase to break it anyway.
fn services_on_old(c: &CredentialState, ctx: &Ctx) -> Vec<String> {
    let promoted = c
        .stamps
        .get(&Stage::Promoted)
        .map(text::clock)
        .unwrap_or_default();
    ctx.state
        .still_on_old_key(&c.credential.id)
        .iter()
        .map(|s| {
            let restart = restart_step_for(ctx.state, &s.service);
            strings::service_still_on_old(
                &s.service,
                &text::clock(&s.last),
                &promoted,
                restart
                    .as_ref()
                    .map(|(title, skipped)| (title.as_str(), *skipped)),
            )
        })
        .collect()
}

/// The title of the command step that restarts `service` in drills, and whether it was
/// skipped.
fn restart_step_for(state: &IncidentState, service: &str) -> Option<(String, bool)> {
    use crate::runbook::schema::DrillEffect;
    let def = state.runbook.steps.iter().find(|s| {
        s.command.as_ref().is_some_and(|c| {
            matches!(&c.drill_effect, Some(DrillEffect::RestartConsumers(n)) if n.iter().any(|x| x == service))
        })
    })?;
    let skipped = state.step(&def.id).is_some_and(|s| s.skip.is_some());
    Some((def.title.clone(), skipped))
}

/// The old key's use: the last five minutes split into unknown sources and known services,
/// and its last accepted call and where from.
fn last_use(c: &CredentialState, delete: bool, ctx: &Ctx, iw: usize) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let id = &c.credential.id;
    let u = ctx.state.usage.get(id);
    let mut lines = Vec::new();
    if !delete {
        let (unknown, known) = recent_old_calls(ctx.state, id);
        if unknown.0 + known.0 > 0 {
            lines.extend(text::wrapped(
                "  • ",
                t.text(),
                &strings::recent_split(unknown, known),
                t.text(),
                iw,
            ));
        }
    }
    match u.and_then(|u| u.last_old_use.as_ref()) {
        Some((when, from)) => {
            let known = ctx.state.service_of(from).is_some();
            let line = strings::last_use(&text::clock(when), from, known);
            lines.extend(text::wrapped("  • ", t.text(), &line, t.text(), iw));
        }
        None => lines.push(Line::from(format!("  • {}", strings::LAST_USE_NONE))),
    }
    lines
}

/// The last characters of a key id, enough for a person to read the word in context.
fn id_tail(key_id: &str) -> String {
    // A short form (`AIz…aaG1`) is shown by its visible end only.
    let key_id = key_id.rsplit('…').next().unwrap_or(key_id);
    let chars: Vec<char> = key_id.chars().collect();
    chars[chars.len().saturating_sub(8)..].iter().collect()
}

/// Old-key calls in the five minutes up to the incident clock: (unknown sources, known
/// services), each (accepted, refused).
fn recent_old_calls(state: &IncidentState, id: &str) -> ((u32, u32), (u32, u32)) {
    let Some(u) = state.usage.get(id) else {
        return ((0, 0), (0, 0));
    };
    let since = state.clock - chrono::Duration::minutes(5);
    let sum = |m: &std::collections::BTreeMap<chrono::DateTime<chrono::Utc>, (u32, u32)>| {
        m.range(since..)
            .fold((0, 0), |(a, b), (_, (ok, denied))| (a + ok, b + denied))
    };
    (sum(&u.old_unknown), sum(&u.old_known))
}
