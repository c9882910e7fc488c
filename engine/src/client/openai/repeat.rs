//! Reading a stream's events by difference. A server writes every chunk of one response
//! the same way: the same id, model, creation time and keys, around a different piece
//! of text. So an event that is the last scanned one with only that text replaced is
//! read from two comparisons and a check of the new text, instead of a scan of the
//! whole event (about 20 times fewer instructions for a 130-byte chunk).
//!
//! Why it is exact: the kept event was valid JSON whose one piece of text (a string
//! without escapes) sat between `prefix` and `suffix`. A new event made of the same
//! `prefix`, a text without quotes, backslashes or control characters, and the same
//! `suffix` reads token for token like the kept one: the string still ends at the
//! suffix's first byte, its quote. Every other value, and so every other field of the
//! result, is the same; the text is the new one. UTF-8: prefix and suffix end and start
//! at ASCII quotes, so the event is valid if the new text is.
//!
//! Anything else (another key, a finish reason, usage, an escaped text) takes the scan
//! and, from there, the full parser, as before.

use std::ops::Range;

use super::scan::Piece;
use crate::client::parsed::{Parsed, Usage};

/// Longest event kept to read the next ones against; a longer one is scanned each time.
const MAX_KEPT: usize = 16 << 10;

/// The last scanned event of a stream that had a single piece of text.
#[derive(Debug, Default)]
pub(crate) struct Repeat {
    /// The event; empty when there is none to read against.
    event: Vec<u8>,
    /// Its text's content, inside the quotes.
    text: Range<usize>,
    reasoning: bool,
    finished: bool,
    usage: Option<Usage>,
}

impl Repeat {
    /// Keeps `event`, scanned as `parsed` with its one piece of text at `piece`.
    pub(crate) fn remember(&mut self, event: &[u8], piece: Piece, parsed: &Parsed) {
        self.event.clear();
        if event.len() > MAX_KEPT || piece.span.end > event.len() {
            return;
        }
        self.event.extend_from_slice(event);
        self.text = piece.span;
        self.reasoning = piece.reasoning;
        self.finished = parsed.finished;
        self.usage = parsed.usage;
    }

    /// `event` read against the kept one: its text and what it carried, if it is the kept
    /// event with only its text changed; `None` to scan it.
    pub(crate) fn read<'a>(&self, event: &'a [u8]) -> Option<(&'a str, Parsed)> {
        if self.event.is_empty() {
            return None;
        }
        let Range { start, end } = self.text;
        let end_now = event.len().checked_sub(self.event.len() - end)?;
        if end_now < start || event[..start] != self.event[..start] || event[end_now..] != self.event[end..] {
            return None;
        }
        let text = &event[start..end_now];
        // No early exit: this folds into a vector loop over a text of any length.
        let (plain, ascii) =
            text.iter().fold((true, true), |(ok, ascii), &b| (ok & (b >= 0x20) & (b != b'"') & (b != b'\\'), ascii & (b < 0x80)));
        if !plain {
            return None;
        }
        let text = if ascii {
            // SAFETY: bytes below 0x80 are ASCII, which is valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(text) }
        } else {
            std::str::from_utf8(text).ok()?
        };
        let n = text.len();
        let parsed = Parsed {
            text_bytes: n,
            reasoning_bytes: if self.reasoning { n } else { 0 },
            finished: self.finished,
            usage: self.usage,
            ..Parsed::default()
        };
        Some((text, parsed))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::client::openai;

    /// Events with one piece of text each, as servers stream them.
    const KEPT: &[&str] = &[
        r#"{"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "tiny", "choices": [{"index": 0, "text": " tok", "finish_reason": null}]}"#,
        r#"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1733000000,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"choices":[{"delta":{"reasoning_content":"think","content":null}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        r#"{"choices":[{"text":"","finish_reason":"stop"}]}"#,
        r#"{"choices":[{"text":"ünï"}],"x":"tail \"quoted\""}"#,
    ];

    /// What `event` gives read against `kept`: the result and the text, and whether it
    /// was read by difference.
    fn streamed(kept: &str, event: &[u8]) -> (Result<(Parsed, String), ()>, bool) {
        let mut repeat = Repeat::default();
        openai::parse_streamed(kept.as_bytes(), None, &mut repeat).unwrap();
        assert!(!repeat.event.is_empty(), "{kept} is kept");
        let by_difference = repeat.read(event).is_some();
        let mut text = String::from("kept:");
        let parsed = openai::parse_streamed(event, Some(&mut text), &mut repeat).map(|p| (p, text)).map_err(drop);
        (parsed, by_difference)
    }

    fn full(event: &[u8]) -> Result<(Parsed, String), ()> {
        let mut text = String::from("kept:");
        openai::parse_full(event, Some(&mut text)).map(|p| (p, text)).map_err(drop)
    }

    /// `kept` with its text replaced by `text`.
    fn with_text(kept: &str, text: &[u8]) -> Vec<u8> {
        let mut repeat = Repeat::default();
        openai::parse_streamed(kept.as_bytes(), None, &mut repeat).unwrap();
        [&kept.as_bytes()[..repeat.text.start], text, &kept.as_bytes()[repeat.text.end..]].concat()
    }

    #[test]
    fn a_new_text_in_the_same_event_is_read_by_difference() {
        for kept in KEPT {
            for text in ["", " next", "a longer piece of text than before, with } and ] and :", "é😀", " tok"] {
                let event = with_text(kept, text.as_bytes());
                let (got, by_difference) = streamed(kept, &event);
                assert!(by_difference, "{kept} / {text}");
                assert_eq!(got, full(&event), "{kept} / {text}");
            }
        }
    }

    #[test]
    fn anything_but_a_plain_new_text_is_scanned() {
        for kept in KEPT {
            for text in [&b"a\"b"[..], b"a\\nb", b"\\", b"\"", b"tab\t", b"\xff", b"\xc3", b"\",\"text\":\"x"] {
                let event = with_text(kept, text);
                let (got, by_difference) = streamed(kept, &event);
                assert!(!by_difference, "{kept} / {:?}", String::from_utf8_lossy(text));
                assert_eq!(got, full(&event), "{kept} / {:?}", String::from_utf8_lossy(text));
            }
        }
        // A changed key, finish reason or count elsewhere in the event.
        let kept = KEPT[0];
        for event in [kept.replace("null", "\"length\""), kept.replace("tiny", "tinz"), kept.replace(" tok", " tok\"")] {
            let (got, by_difference) = streamed(kept, event.as_bytes());
            assert!(!by_difference, "{event}");
            assert_eq!(got, full(event.as_bytes()), "{event}");
        }
    }

    #[test]
    fn events_with_other_than_one_plain_text_are_not_kept() {
        let mut repeat = Repeat::default();
        for event in [
            r#"{"choices":[{"text":"a"},{"text":"b"}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"a","content":"b"}}]}"#,
            r#"{"choices":[{"text":"a\"b"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
            r#"{"choices":[{"text":null}]}"#,
        ] {
            openai::parse_streamed(event.as_bytes(), None, &mut repeat).unwrap();
            assert!(repeat.event.is_empty(), "{event}");
        }
    }

    proptest! {
        /// Any edit of a kept event (bytes replaced, inserted or cut anywhere) reads the
        /// same by difference as in full.
        #[test]
        fn an_edited_event_reads_as_the_full_parser_reads_it(
            which in 0..KEPT.len(),
            at in 0usize..200,
            cut in 0usize..6,
            insert in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'}'), Just(b'\n'), Just(0xc3u8), Just(0xa9u8), 0x20u8..0x7f], 0..6),
        ) {
            let kept = KEPT[which].as_bytes();
            let at = at.min(kept.len());
            let event = [&kept[..at], &insert[..], &kept[(at + cut).min(kept.len())..]].concat();
            let (got, _) = streamed(KEPT[which], &event);
            prop_assert_eq!(got, full(&event));
        }
    }
}
