//! Tests of the key table: every binding reachable, help generated from it, windows' keys.

use super::*;

fn press(code: KeyCode) -> KeyEvent {
    KeyEvent::from(code)
}

#[test]
fn no_key_is_bound_twice() {
    // Where keys are read: the screen, and each window with its layers.
    let mut places: Vec<&[Group]> = vec![&Group::SCREEN];
    places.extend(
        Group::ALL
            .iter()
            .filter(|g| !g.on_screen())
            .map(|g| g.layers()),
    );
    for groups in places {
        let mut seen = Vec::new();
        for b in BINDINGS.iter().filter(|b| groups.contains(&b.group)) {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }
}

#[test]
fn read_only_registers_no_mutating_key() {
    let r = press(KeyCode::Char('r'));
    assert_eq!(action_for(&r, false), Some(Action::Retry));
    assert_eq!(action_for(&r, true), None);
    assert!(is_disabled_in_read_only(&r));
    assert!(active(true).all(|b| !b.mutating));
    for p in Panel::ALL {
        assert!(hints(true, p).iter().all(|(l, _)| *l != "r"));
    }
}

#[test]
fn vim_and_arrow_keys_move() {
    assert_eq!(
        action_for(&press(KeyCode::Char('j')), false),
        Some(Action::Down)
    );
    assert_eq!(action_for(&press(KeyCode::Down), false), Some(Action::Down));
    assert_eq!(
        action_for(&press(KeyCode::Char('k')), false),
        Some(Action::Up)
    );
    assert_eq!(action_for(&press(KeyCode::Up), false), Some(Action::Up));
    assert_eq!(
        action_for(&press(KeyCode::BackTab), false),
        Some(Action::PrevPanel)
    );
}

#[test]
fn ctrl_c_quits_but_plain_c_does_nothing() {
    let cc = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(action_for(&cc, true), Some(Action::Quit));
    assert_eq!(action_for(&press(KeyCode::Char('c')), false), None);
    // Ctrl-r is not r.
    let cr = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL);
    assert_eq!(action_for(&cr, false), None);
}

#[test]
fn every_group_has_a_binding_and_the_footer_has_help_and_quit() {
    for g in Group::ALL {
        assert!(BINDINGS.iter().any(|b| b.group == g), "{g:?} is empty");
    }
    for p in Panel::ALL {
        let h = hints(false, p);
        assert!(h.contains(&("?", strings::HINT_HELP)), "{p:?}");
        assert!(h.contains(&("q", strings::HINT_QUIT)), "{p:?}");
    }
}

#[test]
fn enter_and_space_act_on_the_steps_only_and_say_where_elsewhere() {
    let enter = press(KeyCode::Enter);
    let space = press(KeyCode::Char(' '));
    for key in [&enter, &space] {
        assert!(matches!(
            screen_key(key, false, Panel::Checklist),
            ScreenKey::Act(_)
        ));
        assert!(matches!(
            screen_key(key, false, Panel::Step),
            ScreenKey::Act(_)
        ));
        for p in [
            Panel::Inventory,
            Panel::Rotation,
            Panel::Usage,
            Panel::Timeline,
        ] {
            assert!(
                matches!(
                    screen_key(key, false, p),
                    ScreenKey::ElsewhereOnly { panels, .. }
                        if panels == [Panel::Checklist, Panel::Step]
                ),
                "{p:?}"
            );
        }
    }
    // The footer of each panel shows only what acts there.
    assert!(hints(false, Panel::Checklist).contains(&("Enter", strings::HINT_RUN)));
    assert!(!hints(false, Panel::Inventory).contains(&("Enter", strings::HINT_RUN)));
    assert!(hints(false, Panel::Inventory).contains(&("s", strings::HINT_SORT)));
    assert!(!hints(false, Panel::Timeline).contains(&("s", strings::HINT_SORT)));
    assert_eq!(
        screen_key(&press(KeyCode::Char('z')), false, Panel::Step),
        ScreenKey::Unbound
    );
    assert_eq!(
        screen_key(&press(KeyCode::Char('r')), true, Panel::Rotation),
        ScreenKey::ReadOnly
    );
}

#[test]
fn every_list_pages_and_jumps_and_help_scrolls() {
    for (code, action) in [
        (KeyCode::PageUp, Action::PageUp),
        (KeyCode::PageDown, Action::PageDown),
        (KeyCode::Char('g'), Action::First),
        (KeyCode::Home, Action::First),
        (KeyCode::Char('G'), Action::Last),
        (KeyCode::End, Action::Last),
        (KeyCode::Char(':'), Action::Command),
        (KeyCode::Char('n'), Action::Note),
    ] {
        for p in Panel::ALL {
            assert_eq!(
                screen_key(&press(code), false, p),
                ScreenKey::Act(action.clone()),
                "{code:?} in {p:?}"
            );
        }
    }
    assert_eq!(
        in_window(Group::Help, &press(KeyCode::PageDown)),
        KeyOutcome::Consumed(Some(Action::Scroll(Scroll::PageDown)))
    );
    assert_eq!(
        in_window(Group::Help, &press(KeyCode::Char('k'))),
        KeyOutcome::Consumed(Some(Action::Scroll(Scroll::Up)))
    );
    assert_eq!(
        in_window(Group::Help, &press(KeyCode::Esc)),
        KeyOutcome::Consumed(Some(Action::Close))
    );
}

#[test]
fn a_window_reads_its_own_keys_and_lets_only_ctrl_c_through() {
    let enter = press(KeyCode::Enter);
    let cc = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let typed = press(KeyCode::Char('z'));
    assert_eq!(
        in_window(Group::Revoke, &enter),
        KeyOutcome::Consumed(Some(Action::Submit))
    );
    assert_eq!(
        in_window(Group::Revoke, &typed),
        KeyOutcome::Consumed(Some(Action::Type('z')))
    );
    // Ctrl held does not type, and does not stop Enter.
    let ctrl_z = KeyEvent::new(KeyCode::Char('z'), KeyModifiers::CONTROL);
    assert_eq!(in_window(Group::Skip, &ctrl_z), KeyOutcome::Consumed(None));
    let ctrl_enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::CONTROL);
    assert_eq!(
        in_window(Group::Skip, &ctrl_enter),
        KeyOutcome::Consumed(Some(Action::Submit))
    );
    // Only the revocation window has a second field.
    assert_eq!(
        in_window(Group::Paste, &press(KeyCode::Tab)),
        KeyOutcome::Consumed(None)
    );
    // Ctrl-C reaches the screen's quit, except where the window asks about quitting.
    assert_eq!(in_window(Group::Revoke, &cc), KeyOutcome::Ignored);
    assert_eq!(in_window(Group::Tip, &cc), KeyOutcome::Ignored);
    assert_eq!(
        in_window(Group::Quit, &cc),
        KeyOutcome::Consumed(Some(Action::Answer(true)))
    );
    // A window's keys are not the screen's.
    assert_eq!(action_for(&press(KeyCode::Char('y')), false), None);
}

#[test]
fn every_window_footer_fits_a_small_terminal() {
    for g in Group::ALL.iter().filter(|g| !g.on_screen()) {
        let keys: Vec<String> = window_hints(*g)
            .iter()
            .map(|(l, h)| format!("{l} {h}"))
            .collect();
        let footer = keys.join(" · ");
        // Room for the longest prompt before it on an 80-column screen.
        assert!(footer.chars().count() <= 60, "{g:?}: {footer}");
        assert!(
            g.layers().first() == Some(g),
            "{g:?} reads its own keys first"
        );
    }
}
