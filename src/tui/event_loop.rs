//! The terminal and the loop: raw mode and the alternate screen on the way in, always
//! restored on the way out (a guard, and the panic hook); one tokio `select!` over terminal
//! events, a tick, engine updates and the signals `kill` sends, redrawing after each.
//!
//! Depends on `app`, `layout`, `action` and the engine's channels. Never blocks on the engine:
//! commands go out on an unbounded channel.

use std::io::{Stdout, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream,
};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};

use super::action::Action;
use super::app::App;
use super::layout::render;
use super::signals::Signals;
use super::strings;
use super::{Exit, TuiConfig};
use crate::incident::command::Update;

/// How often spinners and the header clock move.
const TICK: Duration = Duration::from_millis(250);

/// Whether this process has the terminal in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Raw mode off, main screen back, cursor shown — if the screen had set them up. Safe to call
/// more than once, and from the panic hook.
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(
            stdout(),
            DisableBracketedPaste,
            LeaveAlternateScreen,
            cursor::Show
        );
    }
}

/// Restores the terminal before the default panic message prints. Installed once.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}

/// Restores the terminal when dropped, on every way out of `run`.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore_terminal();
    }
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Keys arriving together, at least this many with text in them, are a paste into a
/// terminal without bracketed paste, not a person typing.
const PASTE_BURST: usize = 4;

/// Sets up the terminal, runs the screen until the operator quits, restores the terminal.
pub async fn run(config: TuiConfig) -> anyhow::Result<Exit> {
    install_panic_hook();
    // Listening before the terminal changes: a signal from then on restores it.
    let signals = Signals::listen();
    let _restore = Restore;
    let mut terminal = open().map_err(|e| anyhow::anyhow!(strings::no_terminal(&e.to_string())))?;
    event_loop(&mut terminal, config, signals).await
}

fn open() -> std::io::Result<Term> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    // Bracketed paste: a pasted key arrives as one event, not as keystrokes.
    execute!(
        stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    let mut t = Terminal::new(CrosstermBackend::new(stdout()))?;
    t.clear()?;
    Ok(t)
}

async fn event_loop(
    terminal: &mut Term,
    config: TuiConfig,
    mut signals: Signals,
) -> anyhow::Result<Exit> {
    let TuiConfig {
        state,
        commands,
        mut updates,
        onboarding,
        read_only,
        journal_dir,
    } = config;
    let mut app = App::new(state, onboarding, read_only);
    app.journal_dir = journal_dir;
    app.live_clock = true;
    if let Ok(size) = terminal.size() {
        app.size = (size.width, size.height);
    }
    for c in app.start() {
        let _ = commands.send(c);
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut updates_open = true;
    loop {
        if let Ok(size) = terminal.size() {
            app.size = (size.width, size.height);
        }
        // `draw` resizes the buffers to the terminal first: a resize is one more redraw.
        terminal.draw(|f| render(&app, f))?;
        if app.quit {
            let open = !app.state.is_complete() && app.state.score.is_none();
            return Ok(Exit {
                id: app.state.id.clone(),
                open,
                signal: None,
            });
        }
        let out = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(key))) => {
                    // Everything that arrived with it: a burst is a paste, not typing.
                    let mut burst = vec![TermEvent::Key(key)];
                    while burst.len() < 512 {
                        match events.next().now_or_never() {
                            Some(Some(Ok(ev))) => burst.push(ev),
                            _ => break,
                        }
                    }
                    take_events(&mut app, burst)
                }
                Some(Ok(TermEvent::Paste(text))) => app.update(Action::PasteText(
                    super::action::Pasted(zeroize::Zeroizing::new(text)),
                )),
                Some(Ok(TermEvent::Resize(w, h))) => {
                    app.size = (w, h);
                    Vec::new()
                }
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Ok(Exit {
                        id: app.state.id.clone(),
                        open: !app.state.is_complete(),
                        signal: None,
                    });
                }
            },
            // `kill`: leave the screen at once; the caller stops the engine (its work in
            // flight finishes and is journaled) with the stop recorded as this signal's.
            caught = signals.next() => {
                return Ok(Exit {
                    id: app.state.id.clone(),
                    open: !app.state.is_complete() && app.state.score.is_none(),
                    signal: Some(caught),
                });
            }
            _ = tick.tick() => app.update(Action::Tick),
            u = updates.recv(), if updates_open => match u {
                Some(u) => {
                    let mut out = app.on_update(u);
                    // Take everything already waiting before drawing again.
                    while let Ok(u) = updates.try_recv() {
                        out.extend(app.on_update(u));
                    }
                    out
                }
                None => {
                    updates_open = false;
                    if app.stopped.is_none() {
                        app.on_update(Update::Stopped {
                            why: Some(strings::ENGINE_GONE.to_string()),
                        });
                    }
                    Vec::new()
                }
            },
        };
        for c in out {
            if commands.send(c).is_err() && app.stopped.is_none() {
                app.on_update(Update::Stopped {
                    why: Some(strings::ENGINE_GONE.to_string()),
                });
            }
        }
    }
}

/// Terminal events read together. Keys that arrive in a burst with text in them, on the
/// screen (no window takes text), are a paste without bracketed paste: they are not acted
/// on one by one — a pasted line must not tick items and run a step.
fn take_events(app: &mut App, events: Vec<TermEvent>) -> Vec<crate::incident::command::Command> {
    use ratatui::crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
    let typed = events
        .iter()
        .filter(|e| match e {
            TermEvent::Key(k) => {
                k.kind != KeyEventKind::Release
                    && !k
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && matches!(k.code, KeyCode::Char(_) | KeyCode::Enter)
            }
            _ => false,
        })
        .count();
    let texty = events.iter().any(|e| {
        matches!(e, TermEvent::Key(k) if matches!(k.code, KeyCode::Char(c) if c.is_alphanumeric()))
    });
    if typed >= PASTE_BURST && texty && !app.takes_text() {
        app.toast = Some(strings::paste_ignored(typed));
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in events {
        match e {
            TermEvent::Key(k) => out.extend(app.handle_key(k)),
            TermEvent::Paste(text) => out.extend(app.update(Action::PasteText(
                super::action::Pasted(zeroize::Zeroizing::new(text)),
            ))),
            TermEvent::Resize(w, h) => app.size = (w, h),
            _ => {}
        }
    }
    out
}
