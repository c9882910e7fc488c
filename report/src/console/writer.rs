//! The one way a line reaches the operator's terminal. Names that a scenario, a server
//! or a report file chose (stage names, tags, models, error messages, threshold
//! expressions read back from a file) travel inside lines; every line goes through
//! [`ConsoleWriter`], which writes it through [`printable`] one line at a time. A newline
//! inside a name is shown as `\n` within its own line, so it cannot forge a line of its
//! own, and no control character (an OSC 52 clipboard write, an OSC 8 hyperlink, a CSI
//! that moves the cursor or erases a line) is ever emitted.
//!
//! Callers build lines as a list (`Vec<String>`), never as one string split afterwards:
//! splitting a joined string is what would turn a name's newline into a forged line.

use std::io::Write;

use volley_core::text::printable;

/// Longest line written, in characters; the rest is cut with `…`.
pub const MAX_LINE_CHARS: usize = 10_000;

/// Clears the terminal line and returns to its start: the live progress line redraws
/// itself with it. Volley's own bytes, never a name's.
const REDRAW: &str = "\r\x1b[2K";

/// Writes lines to stdout, stderr or any writer, each made printable.
///
/// Write errors (a closed pipe, a full disk behind a redirect) are ignored: the run's
/// outputs are files, and a terminal that went away must not end a run that is still
/// measuring, nor panic as `println!` would.
pub struct ConsoleWriter<W: Write> {
    out: W,
}

impl ConsoleWriter<std::io::Stdout> {
    /// The process's standard output (summaries, tables: what a script may capture).
    pub fn stdout() -> Self {
        ConsoleWriter { out: std::io::stdout() }
    }
}

impl ConsoleWriter<std::io::Stderr> {
    /// The process's standard error (progress, warnings, verdicts, errors).
    pub fn stderr() -> Self {
        ConsoleWriter { out: std::io::stderr() }
    }
}

impl<W: Write> ConsoleWriter<W> {
    /// A writer over `out` (a buffer, in tests).
    pub fn new(out: W) -> Self {
        ConsoleWriter { out }
    }

    /// Writes `line` and a newline, in one write (lines from two threads never mix).
    pub fn line(&mut self, line: &str) {
        let mut shown = printable(line, MAX_LINE_CHARS);
        shown.push('\n');
        let _ = self.out.write_all(shown.as_bytes());
        let _ = self.out.flush();
    }

    /// Writes each of `lines` as [`ConsoleWriter::line`] does, in one write.
    pub fn lines<I, S>(&mut self, lines: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all = String::new();
        for line in lines {
            all.push_str(&printable(line.as_ref(), MAX_LINE_CHARS));
            all.push('\n');
        }
        if all.is_empty() {
            return;
        }
        let _ = self.out.write_all(all.as_bytes());
        let _ = self.out.flush();
    }

    /// Replaces the terminal's current line with `line` (no newline): the live progress
    /// line. Only Volley's own erase sequence is emitted; `line` is made printable.
    pub fn redraw(&mut self, line: &str) {
        let shown = format!("{REDRAW}{}", printable(line, MAX_LINE_CHARS));
        let _ = self.out.write_all(shown.as_bytes());
        let _ = self.out.flush();
    }

    /// Ends a redrawn line, leaving it on screen.
    pub fn end_redraw(&mut self) {
        let _ = self.out.write_all(b"\n");
        let _ = self.out.flush();
    }

    /// The writer, back (a test reads what was written).
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut ConsoleWriter<Vec<u8>>)) -> String {
        let mut w = ConsoleWriter::new(Vec::new());
        f(&mut w);
        String::from_utf8(w.into_inner()).unwrap()
    }

    #[test]
    fn a_name_with_a_newline_stays_inside_its_line() {
        let stage = "x\nALL CHECKS PASSED";
        let text = written(|w| w.lines([format!("stage '{stage}': 3 sent"), "next".to_string()]));
        assert_eq!(text, "stage 'x\\nALL CHECKS PASSED': 3 sent\nnext\n");
        assert!(!text.lines().any(|l| l.starts_with("ALL CHECKS PASSED")), "{text}");
    }

    #[test]
    fn no_control_byte_is_emitted() {
        // OSC 52 (clipboard write), OSC 8 (a hyperlink), a CSI erase, CR, BEL, DEL.
        let hostile = "a\x1b]52;c;aGk=\x07b\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\c\x1b[2K\rd\x7f";
        let text = written(|w| {
            w.line(hostile);
            w.lines([hostile]);
        });
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(text.bytes().all(|b| b == b'\n' || !(b < 0x20 || b == 0x7f)), "{text:?}");
        assert!(text.starts_with(r"a\u{1b}]52;c;aGk=\u{7}b"), "{text}");
    }

    #[test]
    fn a_redrawn_line_emits_only_its_own_erase_sequence() {
        let text = written(|w| {
            w.redraw("stage \x1b[31mred\r [####] 3/5");
            w.end_redraw();
        });
        assert_eq!(text, "\r\x1b[2Kstage \\u{1b}[31mred\\r [####] 3/5\n");
    }

    #[test]
    fn a_line_is_bounded() {
        let text = written(|w| w.line(&"y".repeat(MAX_LINE_CHARS * 2)));
        assert_eq!(text.chars().count(), MAX_LINE_CHARS + 2, "the cut mark and the newline");
        assert!(text.ends_with("…\n"));
    }
}
