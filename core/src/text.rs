//! Text that someone else chose (a scenario, a server, a file), made safe to show:
//! control characters (escape sequences, line erases, carriage returns and line feeds
//! that would forge or overwrite a line, bidirectional overrides that reorder it) are
//! made visible as escapes, never emitted, and the text is bounded in length.

use std::fmt::Write as _;

/// `s` with every control character written as a visible escape (`\n`, `\r`, `\t`,
/// `\u{1b}`, …), at most `max_chars` characters of it (then `…`).
pub fn printable(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars + 3));
    for (n, c) in s.chars().enumerate() {
        if n == max_chars {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// At most `max_chars` characters of `s`, then `…`; control characters left for the
/// console writer to make visible (the one place that does, for lines it prints).
pub fn clip(s: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &s[..at]).into(),
        None => s.into(),
    }
}

/// Whether `s` is already printable (no control character), so it can be shown as is.
pub fn is_printable(s: &str) -> bool {
    !s.chars().any(is_control)
}

/// C0 and C1 controls and DEL, and the bidirectional overrides that reorder what is
/// shown; a tab counts too, so columns stay columns.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A number as a person reads it: plain when it is of an ordinary size, else in
/// scientific notation (Rust prints 1e-200 with two hundred zeros).
pub fn num(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || (1e-4..1e15).contains(&a) || !x.is_finite() { format!("{x}") } else { format!("{x:e}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_line_tricks_are_made_visible() {
        let hostile = "ok\x1b]0;owned\x07\r\x1b[2KALL CHECKS PASSED\u{202e}\nforged";
        let shown = printable(hostile, 200);
        assert!(!shown.contains('\x1b') && !shown.contains('\r') && !shown.contains('\n') && !shown.contains('\u{202e}'));
        assert_eq!(shown, r"ok\u{1b}]0;owned\u{7}\r\u{1b}[2KALL CHECKS PASSED\u{202e}\nforged");
        assert!(is_printable(&shown));
        assert_eq!(printable("ééééé", 3), "ééé…");
        assert!(is_printable("plain text") && !is_printable("a\tb"));
    }
}
