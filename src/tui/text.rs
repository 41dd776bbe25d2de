//! Small text helpers for drawing: display width, fitting to a column, word wrap, and the
//! time formats of the screen. Pure functions; depend on ratatui's text types only.

use chrono::{DateTime, Utc};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Display width of a string in terminal cells.
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
}

fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    width(c.encode_utf8(&mut buf))
}

/// Cuts `s` to at most `w` cells, ending in `…` when something was cut.
pub fn truncate(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if used + cw > w - 1 {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

/// Exactly `w` cells: cut with `…` or padded with spaces.
pub fn fit(s: &str, w: usize) -> String {
    let mut out = truncate(s, w);
    let pad = w.saturating_sub(width(&out));
    out.extend(std::iter::repeat_n(' ', pad));
    out
}

/// Greedy word wrap to `w` cells; a word longer than a line is split.
pub fn wrap(s: &str, w: usize) -> Vec<String> {
    wrap_hanging(s, w, w)
}

/// Word wrap with the first line `first` cells wide and the others `rest` cells wide.
pub fn wrap_hanging(s: &str, first: usize, rest: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        let line_w = |lines: &Vec<String>| if lines.is_empty() { first } else { rest }.max(1);
        for word in para.split(' ') {
            let w = line_w(&lines);
            let ww = width(word);
            let gap = usize::from(!line.is_empty());
            if used + gap + ww <= w {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                used += gap + ww;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            // A word wider than the line: split it.
            for c in word.chars() {
                let cw = char_width(c);
                if used + cw > line_w(&lines) {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        }
        lines.push(line);
    }
    lines
}

/// `text` wrapped to `w` cells after `prefix`; continuation lines are indented under the text.
pub fn wrapped(
    prefix: &str,
    prefix_style: Style,
    text: &str,
    style: Style,
    w: usize,
) -> Vec<Line<'static>> {
    let pw = width(prefix);
    wrap(text, w.saturating_sub(pw).max(1))
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let head = if i == 0 {
                Span::styled(prefix.to_string(), prefix_style)
            } else {
                Span::raw(" ".repeat(pw))
            };
            Line::from(vec![head, Span::styled(l, style)])
        })
        .collect()
}

/// `text` after `prefix`, wrapped to `w` cells; continuation lines are indented by `indent`.
pub fn hanging(
    prefix: &str,
    prefix_style: Style,
    text: &str,
    style: Style,
    w: usize,
    indent: usize,
) -> Vec<Line<'static>> {
    let pw = width(prefix);
    wrap_hanging(
        text,
        w.saturating_sub(pw).max(1),
        w.saturating_sub(indent).max(1),
    )
    .into_iter()
    .enumerate()
    .map(|(i, l)| {
        let head = if i == 0 {
            Span::styled(prefix.to_string(), prefix_style)
        } else {
            Span::raw(" ".repeat(indent))
        };
        Line::from(vec![head, Span::styled(l, style)])
    })
    .collect()
}

/// How many rows `lines` take when wrapped to `w` cells (an estimate for mixed styles).
pub fn height(lines: &[Line], w: usize) -> usize {
    let w = w.max(1);
    lines.iter().map(|l| l.width().div_ceil(w).max(1)).sum()
}

/// `HH:MM:SS` of a time.
pub fn clock(t: &DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// `HH:MM` of a time.
pub fn hm(t: &DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// A length of time as `HH:MM:SS`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// A short age: `45s`, `12m`, `3h`, `200d`.
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_with_an_ellipsis_and_pads() {
        assert_eq!(fit("anthropic-prod", 8), "anthrop…");
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(fit("✓09:03", 7), "✓09:03 ");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn wrap_keeps_words_and_splits_long_ones() {
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        assert_eq!(wrap_hanging("aa bb cc dd", 2, 5), vec!["aa", "bb cc", "dd"]);
        for l in wrap("sm:prod/ai/providers#OPENAI_API_KEY is long", 10) {
            assert!(width(&l) <= 10, "{l}");
        }
    }

    #[test]
    fn ages_read_like_people_say_them() {
        assert_eq!(age(30), "30s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(200 * 86_400), "200d");
        assert_eq!(duration(3725), "01:02:05");
    }
}
