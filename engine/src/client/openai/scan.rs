//! The fast path for OpenAI-compatible streamed events: a single forward pass over the
//! event's JSON that reads only what a chunk's timing needs (each choice's text, delta
//! content and reasoning, finish reason) and skips everything else without building
//! anything. Strings without escapes are borrowed as they are.
//!
//! It handles the common event and whole body only, usage counts included. Anything
//! else — tool calls, an error, a repeated key, a number that is not a plain count, a
//! shape it does not expect, or JSON it finds malformed — returns `None`, and the
//! caller parses the event in full with serde (which also words the error).

use crate::client::parsed::{CompletionTokensDetails, Parsed, PromptTokensDetails, Usage};

/// Bytes of a string looked at eight at a time before the vector search takes over.
const SHORT: usize = 32;

/// Where the first `"`, `\` or control character (below 0x20, which a JSON string may
/// not hold raw) is. Keys and most streamed values are a few bytes long: words of eight
/// bytes tested at once (SWAR) are cheaper than setting up a vector search, which takes
/// over past [`SHORT`].
#[inline(always)]
fn special(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A word's lowest byte below `n` has its high bit set here (higher bytes may be
    // wrong, but only above a right one, so the lowest of several tests is right too).
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    let words = b[..b.len().min(SHORT)].chunks_exact(8);
    let mut i = 0;
    for word in words {
        let w = u64::from_le_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
        let hits = below(w ^ u64::from_ne_bytes([b'"'; 8]), 1) | below(w ^ u64::from_ne_bytes([b'\\'; 8]), 1) | below(w, 0x20);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i == SHORT {
        let at = memchr::memchr2(b'"', b'\\', &b[i..]).map_or(b.len(), |n| n + i);
        // Control characters in what the search passed over: checked without an early
        // exit first, which folds into a vector loop.
        let passed = &b[i..at];
        if passed.iter().fold(false, |any, &c| any | (c < 0x20)) {
            return passed.iter().position(|&c| c < 0x20).map(|n| n + i);
        }
        return (at < b.len()).then_some(at);
    }
    b[i..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|n| n + i)
}

/// Containers nested in a skipped value before the fast path gives up.
const SKIP_DEPTH: u32 = 64;

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

/// A string value: borrowed when it has no escapes, else decoded.
enum Text<'a> {
    Plain(&'a str),
    Escaped(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Plain(s) => s,
            Text::Escaped(s) => s,
        }
    }
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        // Most tokens follow no white space: one comparison passes them.
        while let Some(&c) = self.b.get(self.i) {
            if c > b' ' || !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return;
            }
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// The raw bytes of a string (at its opening quote), without its quotes, and whether
    /// it has escapes; `None` if it has a raw control character (which JSON forbids).
    #[inline(always)]
    fn raw_string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let at = self.i + special(&self.b[self.i..])?;
            match self.b[at] {
                b'"' => {
                    self.i = at + 1;
                    return Some((&self.b[start..at], escaped));
                }
                b'\\' => {}
                _ => return None,
            }
            // An escape: one of JSON's, or `\u` and four hex digits (what serde_json
            // checks of a string it skips; the strings read are decoded by serde_json).
            escaped = true;
            self.i = match self.b.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at + 2,
                b'u' if self.b.get(at + 2..at + 6)?.iter().all(u8::is_ascii_hexdigit) => at + 6,
                _ => return None,
            };
        }
    }

    /// A string, or `None` for JSON `null`; `Err` for anything else.
    fn text_or_null(&mut self, source: &'a str) -> Result<Option<Text<'a>>, ()> {
        if self.peek() == Some(b'n') {
            return self.literal(b"null").map(|()| None).ok_or(());
        }
        let start = self.i;
        let (raw, escaped) = self.raw_string().ok_or(())?;
        if !escaped {
            // The event was checked as UTF-8 whole, and quotes are ASCII.
            return Ok(Some(Text::Plain(&source[start + 1..start + 1 + raw.len()])));
        }
        serde_json::from_str::<String>(&source[start..self.i]).map(|s| Some(Text::Escaped(s))).map_err(|_| ())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        self.b[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    /// Skips one value of any kind, checking its grammar; containers nested deeper than
    /// [`SKIP_DEPTH`] go to the full parser (which has its own limit).
    fn skip(&mut self) -> Option<()> {
        // Open containers, innermost in the lowest bit: 1 for an object, 0 for an array.
        let (mut open, mut depth) = (0u64, 0u32);
        let mut at_value = true;
        loop {
            if at_value {
                match self.peek()? {
                    c @ (b'{' | b'[') => {
                        self.i += 1;
                        let object = c == b'{';
                        if self.eat(if object { b'}' } else { b']' }).is_none() {
                            if depth == SKIP_DEPTH {
                                return None;
                            }
                            (open, depth) = (open << 1 | u64::from(object), depth + 1);
                            if object {
                                self.key()?;
                            }
                            continue;
                        }
                    }
                    b'"' => {
                        self.raw_string()?;
                    }
                    _ => self.scalar()?,
                }
            }
            // A value ended: another follows in its container, or the container ends.
            if depth == 0 {
                return Some(());
            }
            let object = open & 1 == 1;
            at_value = self.more(if object { b'}' } else { b']' })?;
            if !at_value {
                (open, depth) = (open >> 1, depth - 1);
            } else if object {
                self.key()?;
            }
        }
    }

    /// An object's key and its colon.
    fn key(&mut self) -> Option<()> {
        self.raw_string()?;
        self.eat(b':')
    }

    /// A number or a literal.
    fn scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A number, as JSON's grammar has it: `-`, `0` or digits not led by `0`, then an
    /// optional fraction and exponent.
    fn number(&mut self) -> Option<()> {
        let digits = |c: &mut Self| {
            let n = c.b[c.i..].iter().take_while(|d| d.is_ascii_digit()).count();
            c.i += n;
            n
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            (digits(self) > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            (digits(self) > 0).then_some(())?;
        }
        Some(())
    }

    /// Calls `each` for every key of an object (at its `{`), with the cursor at the
    /// value; `each` must consume the value. `None` if malformed or `each` gave up.
    fn object(&mut self, mut each: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let (key, escaped) = self.raw_string()?;
            if escaped {
                return None;
            }
            self.eat(b':')?;
            each(self, key)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// After a member or an element: `true` past a `,` (another follows), `false` past the
    /// `close`r, `None` at anything else.
    fn more(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }
}

/// One choice's pieces, as the full parser orders them: reasoning first, then answer.
#[derive(Default)]
struct Choice<'a> {
    reasoning_content: Option<Text<'a>>,
    reasoning: Option<Text<'a>>,
    text: Option<Text<'a>>,
    content: Option<Text<'a>>,
    finished: bool,
}

/// The one piece of text an event carried, where it has no escapes: the byte range of
/// its content in the event (inside its quotes), and whether it is reasoning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece {
    pub span: std::ops::Range<usize>,
    pub reasoning: bool,
}

/// A streamed OpenAI event, read on the fast path; `None` to take the full parser.
/// Appends its text to `text` if given, in the full parser's order. With it, the event's
/// [`Piece`] where it carried exactly one and that one unescaped (what
/// [`super::repeat`] reads the stream's next events against).
pub(crate) fn parse_event(json: &str, mut text: Option<&mut String>) -> Option<(Parsed, Option<Piece>)> {
    let mut c = Cursor { b: json.as_bytes(), i: 0 };
    let mut out = Parsed::default();
    let (mut seen_choices, mut seen_usage) = (false, false);
    let (mut pieces_seen, mut only) = (0usize, None);
    c.object(|c, key| match key {
        b"choices" => {
            once(&mut seen_choices)?;
            c.eat(b'[')?;
            if c.eat(b']').is_some() {
                return Some(());
            }
            loop {
                let one = choice(c, json)?;
                out.finished |= one.finished;
                let pieces = [(true, &one.reasoning_content), (true, &one.reasoning), (false, &one.text), (false, &one.content)];
                for (is_reasoning, piece) in pieces {
                    let Some(piece) = piece else { continue };
                    pieces_seen += 1;
                    if let Text::Plain(plain) = piece {
                        let start = plain.as_ptr() as usize - json.as_ptr() as usize;
                        only = Some(Piece { span: start..start + plain.len(), reasoning: is_reasoning });
                    }
                    let piece = piece.as_str();
                    out.text_bytes += piece.len();
                    if is_reasoning {
                        out.reasoning_bytes += piece.len();
                    }
                    if let Some(t) = text.as_deref_mut() {
                        t.push_str(piece);
                    }
                }
                if !c.more(b']')? {
                    return Some(());
                }
            }
        }
        b"usage" => {
            once(&mut seen_usage)?;
            out.usage = nullable(c, usage)?;
            Some(())
        }
        // This needs the full parser.
        b"error" => None,
        _ => c.skip(),
    })?;
    // Trailing bytes: the full parser words the error.
    if c.peek().is_some() {
        return None;
    }
    let piece = if pieces_seen == 1 { only } else { None };
    Some((out, piece))
}

fn choice<'a>(c: &mut Cursor<'a>, json: &'a str) -> Option<Choice<'a>> {
    let mut one = Choice::default();
    // serde refuses a key given twice, even when the first was null, and reads only
    // `delta` where a choice has both it and `message`: the full parser decides those.
    let mut seen = [false; 7];
    let [text, delta_or_message, finish_reason, content, reasoning_content, reasoning, index] = &mut seen;
    c.object(|c, key| match key {
        b"text" => set(c, json, &mut one.text, text),
        // Read by the full parser (which refuses it twice), skipped here.
        b"index" => {
            once(index)?;
            c.skip()
        }
        b"delta" | b"message" => {
            once(delta_or_message)?;
            nullable(c, |c| {
                c.object(|c, key| match key {
                    b"content" => set(c, json, &mut one.content, content),
                    b"reasoning_content" => set(c, json, &mut one.reasoning_content, reasoning_content),
                    b"reasoning" => set(c, json, &mut one.reasoning, reasoning),
                    b"tool_calls" => None,
                    _ => c.skip(),
                })
            })
            .map(drop)
        }
        b"finish_reason" => {
            once(finish_reason)?;
            one.finished |= c.text_or_null(json).ok()?.is_some();
            Some(())
        }
        _ => c.skip(),
    })?;
    Some(one)
}

/// A key's first time; `None` (the full parser, which refuses it) the second.
fn once(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

/// `null`, or what `read` reads.
fn nullable<'a, T>(c: &mut Cursor<'a>, read: impl FnOnce(&mut Cursor<'a>) -> Option<T>) -> Option<Option<T>> {
    if c.peek()? == b'n' {
        return c.literal(b"null").map(|()| None);
    }
    read(c).map(Some)
}

/// A token count: `null` or a plain non-negative integer that fits in 32 bits (the full
/// parser refuses fractions, exponents and signs, and so does it by giving up).
fn count(c: &mut Cursor<'_>, seen: &mut bool) -> Option<Option<u32>> {
    once(seen)?;
    nullable(c, |c| {
        let digits = c.b[c.i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let raw = &c.b[c.i..c.i + digits];
        if digits == 0 || digits > 10 || (digits > 1 && raw[0] == b'0') {
            return None;
        }
        c.i += digits;
        u32::try_from(raw.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))).ok()
    })
}

/// The `usage` object: prompt and completion counts and their details; other keys
/// (`total_tokens`, ...) skipped.
fn usage(c: &mut Cursor<'_>) -> Option<Usage> {
    let mut u = Usage::default();
    let mut seen = [false; 4];
    let [prompt, completion, prompt_details, completion_details] = &mut seen;
    c.object(|c, key| match key {
        b"prompt_tokens" => count(c, prompt).map(|n| u.prompt_tokens = n),
        b"completion_tokens" => count(c, completion).map(|n| u.completion_tokens = n),
        b"prompt_tokens_details" => {
            once(prompt_details)?;
            u.prompt_tokens_details = details(c, b"cached_tokens")?.map(|cached_tokens| PromptTokensDetails { cached_tokens });
            Some(())
        }
        b"completion_tokens_details" => {
            once(completion_details)?;
            u.completion_tokens_details =
                details(c, b"reasoning_tokens")?.map(|reasoning_tokens| CompletionTokensDetails { reasoning_tokens });
            Some(())
        }
        _ => c.skip(),
    })?;
    Some(u)
}

/// A details object: `null`, or an object of which only the count `field` is read.
fn details(c: &mut Cursor<'_>, field: &[u8]) -> Option<Option<Option<u32>>> {
    let mut seen = false;
    nullable(c, |c| {
        let mut n = None;
        c.object(|c, key| if key == field { count(c, &mut seen).map(|v| n = v) } else { c.skip() })?;
        Some(n)
    })
}

/// Reads a string-or-null field; a field given twice (also after a null) goes to the
/// full parser (which refuses it).
fn set<'a>(c: &mut Cursor<'a>, json: &'a str, slot: &mut Option<Text<'a>>, seen: &mut bool) -> Option<()> {
    once(seen)?;
    *slot = c.text_or_null(json).ok()?;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::openai;

    /// The first FAST events take the fast path; the rest go to the full parser.
    const FAST: usize = 16;
    const EVENTS: &[&str] = &[
        r#"{"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "tiny", "choices": [{"index": 0, "text": " t", "finish_reason": null}]}"#,
        r#"{"choices":[{"text":" 5, 6","index":0,"finish_reason":null,"logprobs":{"tokens":["a]","}"],"x":[1.5e-3,-2,0,-0.0,10E+2,3e7,true,false,null]}}]}"#,
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"delta":{"reasoning_content":"a\"b","content":"\u00e9\n"}}]}"#,
        r#"{"choices":[{"delta":{"content":"The answer","reasoning":"ok"}},{"delta":{"content":"two"},"finish_reason":"stop"}]}"#,
        r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
        r#"{"choices":[],"created":1,"x":[[],{},[{"a":[1,{"b":{}}]}],"s"],"y":{"k":[],"l":{"m":null}}}"#,
        r#"{"choices":[{"delta":null}]}"#,
        r#"{"choices":[{"text":"ünï😀"}]}"#,
        " \n{ \"choices\" : [ { \"text\" : \"x\" , \"finish_reason\" : \"stop\" } ] }\t",
        r#"{"choices":[{"text":"a\u0001"}]}"#,
        r#"{"choices":[],"usage":{"completion_tokens":7,"prompt_tokens":12}}"#,
        r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi","reasoning_content":null},"finish_reason":"length"}],"usage":{"prompt_tokens":8,"completion_tokens":4,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":null},"completion_tokens_details":{"reasoning_tokens":3}}}"#,
        r#"{"usage":{"prompt_tokens":null,"completion_tokens":4294967295,"prompt_tokens_details":null,"completion_tokens_details":{}},"choices":[]}"#,
        r#"{"usage":null,"choices":[{"text":"x"}]}"#,
        r#"{"choices":[],"usage":{}}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"choices":[],"usage":{"completion_tokens":4294967296}}"#,
        r#"{"choices":[],"usage":{"completion_tokens":-1}}"#,
        r#"{"choices":[],"usage":{"completion_tokens":1.5}}"#,
        r#"{"choices":[],"usage":{"completion_tokens":1e3}}"#,
        r#"{"choices":[],"usage":{"completion_tokens":01}}"#,
        r#"{"choices":[],"usage":{"completion_tokens":1,"completion_tokens":2}}"#,
        r#"{"choices":[],"usage":{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":1}}}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":"7"}}"#,
        r#"{"choices":[],"usage":[]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":1}}"#,
        r#"{"choices":[],"choices":[]}"#,
        r#"{"error":{"message":"boom"}}"#,
        r#"{"choices":[{"text":"a","text":"b"}]}"#,
        // Found by fuzz/fuzz_targets/openai_events.rs: keys given twice after a null, and
        // `delta` beside `message` (serde reads only `delta`).
        r#"{"choices":[{"text":null,"text":"b"}]}"#,
        r#"{"choices":[{"delta":{},"delta":{"content":"x"}}]}"#,
        r#"{"choices":[{"delta":{"content":null,"content":"x"}}]}"#,
        r#"{"choices":[{"delta":{"content":"a"},"message":{"reasoning":"b"}}]}"#,
        r#"{"choices":[{"finish_reason":null,"finish_reason":"stop"}]}"#,
        r#"{"choices":[{"index":0,"text":"a","index":1}]}"#,
        r#"{"choices":[{"text":"a"}]} trailing"#,
        "{\"choices\":[{\"text\":\"raw\u{1}control\"}]}",
        r#"{"ch\u006fices":[{"text":"escaped key"}]}"#,
        "{\"id\":\"raw\ncontrol in a skipped string\",\"choices\":[]}",
        r#"{"id":"bad \# escape","choices":[]}"#,
        r#"{"id":"bad \u12g4 escape","choices":[]}"#,
        r#"{"created":0-1,"choices":[]}"#,
        r#"{"created":01,"choices":[]}"#,
        r#"{"created":1.,"choices":[]}"#,
        r#"{"created":1e+,"choices":[]}"#,
        r#"{"created":-,"choices":[]}"#,
        r#"{"x":[1,,2],"choices":[]}"#,
        r#"{"x":[1 2],"choices":[]}"#,
        r#"{"x":{"a" 1},"choices":[]}"#,
        r#"{"x":{"a":1,},"choices":[]}"#,
        r#"{"x":[:],"choices":[]}"#,
        r#"{"x":{1:2},"choices":[]}"#,
        r#"{"choices":[{"text":12}]}"#,
        r#"{"choices":{"text":"x"}}"#,
        r#"[1,2]"#,
        "",
    ];

    /// The fast path with its fallback gives what the full parser gives, text included.
    fn same_as_full(event: &str) {
        let (mut fast_text, mut full_text) = (String::from("kept:"), String::from("kept:"));
        let fast = openai::parse(event.as_bytes(), Some(&mut fast_text));
        let full = openai::parse_full(event.as_bytes(), Some(&mut full_text));
        match (&fast, &full) {
            (Ok(a), Ok(b)) => assert_eq!((a, &fast_text), (b, &full_text), "{event}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{event}: fast {fast:?}, full {full:?}"),
        }
    }

    #[test]
    fn the_fast_path_reads_what_the_full_parser_reads() {
        for event in EVENTS {
            same_as_full(event);
        }
        // The common events take the fast path.
        for event in &EVENTS[..FAST] {
            assert!(parse_event(event, None).is_some(), "{event}");
        }
        for event in &EVENTS[FAST..] {
            assert!(parse_event(event, None).is_none(), "{event}");
        }
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_found_wherever_they_are() {
        for len in 0..80 {
            for at in 0..=len {
                for c in [b'"', b'\\', 0x00, 0x01, 0x1f] {
                    let mut b = vec![b'a'; len];
                    // Bytes that differ from the targets by one bit, and high bytes.
                    for (i, x) in b.iter_mut().enumerate() {
                        *x = [b'#', b'!', b'\x5d', 0xa2, 0xdc, b' ', 0x7f, b'a'][i % 8];
                    }
                    if at < len {
                        b[at] = c;
                        if at + 1 < len {
                            b[at + 1] = b'"';
                        }
                    }
                    let want = (at < len).then_some(at);
                    assert_eq!(special(&b), want, "len {len}, at {at}, {c}");
                }
            }
        }
    }

    proptest::proptest! {
        /// Any edit of an event (bytes replaced, inserted or cut anywhere) reads on the
        /// fast path as the full parser reads it, or goes to it.
        #[test]
        fn an_edited_event_reads_as_the_full_parser_reads_it(
            which in 0..EVENTS.len(),
            at in 0usize..300,
            cut in 0usize..4,
            insert in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'"'), proptest::strategy::Just(b'\\'), proptest::strategy::Just(b'{'),
                proptest::strategy::Just(b'\n'), proptest::strategy::Just(0xe9u8), 0x20u8..0x7f,
            ], 0..4),
        ) {
            let event = EVENTS[which].as_bytes();
            let at = at.min(event.len());
            let edited = [&event[..at], &insert[..], &event[(at + cut).min(event.len())..]].concat();
            if let Ok(edited) = std::str::from_utf8(&edited) {
                same_as_full(edited);
            }
        }
    }

    #[test]
    fn no_prefix_of_an_event_is_taken_as_a_whole() {
        for event in EVENTS {
            for end in (0..event.len()).filter(|&e| event.is_char_boundary(e)) {
                same_as_full(&event[..end]);
            }
        }
    }
}
