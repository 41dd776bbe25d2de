//! Text fit for a terminal: control characters and escape sequences removed from strings a
//! runbook or a provider wrote, before headless output, reports and logs show them. An OSC
//! sequence in a step title would otherwise retitle the pane, a CSI one move the cursor or
//! rewrite what is already on the screen. Pure; a leaf any layer may use (`check` prints
//! runbook text too).

/// One line of text: every control character and escape sequence removed, line breaks and
/// tabs turned into spaces.
pub fn printable(text: &str) -> String {
    clean(text, false)
}

/// Text of several lines (a report): as [`printable`], but line breaks are kept (`\r\n`
/// becomes `\n`) and tabs too.
pub fn printable_text(text: &str) -> String {
    clean(text, true)
}

/// Text whose byte offsets must not move (a source shown with carets under it): a carriage
/// return becomes a space (alone it would move the cursor back over what is shown), and each
/// other control character but line breaks and tabs, and each bidirectional control, becomes
/// as many `?` as it has bytes.
pub fn printable_in_place(text: &str) -> String {
    if !text
        .chars()
        .any(|c| (c.is_control() && !matches!(c, '\n' | '\t')) || is_bidi_control(c))
    {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c {
            '\r' => " ".to_string(),
            c if (c.is_control() && !matches!(c, '\n' | '\t')) || is_bidi_control(c) => {
                "?".repeat(c.len_utf8())
            }
            c => c.to_string(),
        })
        .collect()
}

/// Bidirectional embeddings, overrides and isolates: they reorder what a reader sees
/// ("Trojan Source", CVE-2021-42574).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

fn clean(text: &str, multiline: bool) -> String {
    // Fast path: most text has nothing to remove.
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' if multiline => out.push('\n'),
            '\t' if multiline => out.push('\t'),
            '\r' if multiline => {
                // `\r\n` is a line break; a lone `\r` would return the cursor.
                if chars.peek() != Some(&'\n') {
                    out.push(' ');
                }
            }
            '\n' | '\r' | '\t' => out.push(' '),
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Any other escape: ESC and the one character it introduces.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// A CSI sequence after its introducer: parameter and intermediate bytes, then one final
/// byte (`@` to `~`). Stops early at anything else, which is then dropped with it.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) || !('\u{20}'..='\u{3f}').contains(&c) {
            return;
        }
    }
}

/// An OSC, DCS, SOS, PM or APC string after its introducer, up to its terminator (BEL,
/// ESC `\` or ST). Unterminated, it runs to the end of the text, as a terminal would take it.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        assert_eq!(printable("a\u{1b}]0;pwned\u{7}b"), "ab", "OSC retitle");
        assert_eq!(printable("a\u{1b}]8;;http://x\u{1b}\\link"), "alink");
        assert_eq!(printable("\u{1b}[2J\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(printable("x\u{9b}31my"), "xy", "8-bit CSI");
        assert_eq!(printable("a\u{1b}Pq#0;2;0\u{1b}\\b"), "ab", "DCS");
        assert_eq!(printable("a\u{1b}]0;never ends"), "a");
        assert_eq!(printable("bell\u{7}\u{8}\u{7f}!"), "bell!");
        assert_eq!(printable("two\nlines\r\tx"), "two lines  x");
        assert_eq!(printable("\u{202e}evil\u{2066}"), "evil");
        assert_eq!(printable("plain é ✓"), "plain é ✓");
    }

    #[test]
    fn in_place_keeps_every_offset() {
        let t = "a\u{1b}]0;x\u{7}\u{9b}b\r\n\u{202e}c\rd";
        let p = printable_in_place(t);
        assert_eq!(p.len(), t.len());
        assert!(!p.contains('\u{1b}') && !p.contains('\u{9b}') && !p.contains('\u{202e}'));
        assert!(!p.contains('\r'), "{p:?}");
        assert!(p.ends_with('d') && p.contains("c d") && p.contains('\n'));
    }

    #[test]
    fn text_keeps_its_lines() {
        assert_eq!(
            printable_text("a\r\nb\n\u{1b}[1mc\u{1b}[0m\rd"),
            "a\nb\nc d"
        );
    }
}
