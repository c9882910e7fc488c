//! What one response event (or a whole non-streamed body) carried, as every protocol's
//! reader reports it: output bytes by kind, tool calls, the end, usage, an error. The
//! OpenAI reader, its one-pass scanner and the reader by difference all fill it in.

use serde::Deserialize;
use volley_core::ToolCall;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub completion_tokens: Option<u32>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

impl Usage {
    /// `newer` over `self`, count by count: what `newer` leaves out stays (Anthropic
    /// streams the input's counts in its first event, the output's in a later one).
    pub fn merge(self, newer: Usage) -> Usage {
        Usage {
            prompt_tokens: newer.prompt_tokens.or(self.prompt_tokens),
            completion_tokens: newer.completion_tokens.or(self.completion_tokens),
            prompt_tokens_details: match (self.prompt_tokens_details, newer.prompt_tokens_details) {
                (Some(a), Some(b)) => Some(PromptTokensDetails { cached_tokens: b.cached_tokens.or(a.cached_tokens) }),
                (a, b) => b.or(a),
            },
            completion_tokens_details: match (self.completion_tokens_details, newer.completion_tokens_details) {
                (Some(a), Some(b)) => Some(CompletionTokensDetails { reasoning_tokens: b.reasoning_tokens.or(a.reasoning_tokens) }),
                (a, b) => b.or(a),
            },
        }
    }
}

/// OpenAI, vLLM and SGLang count the thinking part of the output here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u32>,
}

/// vLLM, SGLang and llama.cpp report prefix-cache hits here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: Option<u32>,
}

/// What one event (or a whole non-streamed body) carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes of generated text (answer and reasoning) in this event.
    pub text_bytes: usize,
    /// Of those, bytes of reasoning (`reasoning_content`, `reasoning`).
    pub reasoning_bytes: usize,
    /// Bytes of tool-call names and arguments.
    pub tool_bytes: usize,
    /// Tool-call entries in this event, and of those, how many carried an id.
    pub tool_call_entries: u32,
    pub tool_calls_started: u32,
    /// The highest tool-call `index` seen, plus one (0: none had an index).
    pub tool_call_slots: u32,
    pub finished: bool,
    pub usage: Option<Usage>,
    /// The server reported an error in the body.
    pub error: Option<String>,
    /// Tokens the event is known to carry (TGI: one per event); 0 when unknown.
    pub tokens: u32,
}

impl Parsed {
    /// The event carried generated output of any kind: answer or reasoning text, a
    /// tool call, or a token without text. A role-only or empty chunk carries none.
    pub fn has_output(&self) -> bool {
        self.text_bytes > 0 || self.tool_bytes > 0 || self.tokens > 0
    }

    /// The output was (partly) answer: not reasoning only.
    pub fn has_answer(&self) -> bool {
        self.text_bytes > self.reasoning_bytes || self.tool_bytes > 0 || (self.tokens > 0 && self.reasoning_bytes == 0)
    }

    /// Counts a piece of generated text (reasoning or answer), appended to `text` when
    /// the response's text is kept.
    #[inline]
    pub(crate) fn add_text(&mut self, text: &mut Option<&mut String>, piece: &str, reasoning: bool) {
        self.text_bytes += piece.len();
        if reasoning {
            self.reasoning_bytes += piece.len();
        }
        if let Some(t) = text.as_deref_mut() {
            t.push_str(piece);
        }
    }

    /// More of the output was reasoning than answer.
    pub fn mostly_reasoning(&self) -> bool {
        self.reasoning_bytes > 0 && 2 * self.reasoning_bytes >= self.text_bytes + self.tool_bytes
    }
}

/// Why a response's JSON could not be read: the parser's words and the start of the JSON.
pub(crate) fn unexpected_json(json: &[u8], e: impl std::fmt::Display) -> String {
    format!("unexpected response JSON ({e}): {}", String::from_utf8_lossy(&json[..json.len().min(120)]))
}

/// Most bytes of tool calls one response keeps (ids, names and arguments, and
/// [`SLOT_BYTES`] a call): the bound of a stream's kept text.
/// Most bytes of recorded text one response keeps (`--record-text`).
pub(crate) const MAX_TEXT: usize = 16 << 20;

pub(crate) const MAX_KEPT_CALLS_BYTES: usize = MAX_TEXT;
/// Most tool calls one response keeps.
pub(crate) const MAX_KEPT_CALLS: usize = 1024;
/// What each call kept counts toward [`MAX_KEPT_CALLS_BYTES`] beside its text.
const SLOT_BYTES: usize = 64;
/// Longest finish reason kept (bytes; a longer one is clipped at a character).
const MAX_FINISH_REASON: usize = 128;

/// One piece of a tool call as a response carried it: a streamed delta, or a whole
/// call of a non-streamed message.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallPiece<'a> {
    /// The server's `index`.
    pub index: Option<u32>,
    /// The entry's place in its `tool_calls` list.
    pub position: usize,
    /// From a whole message (not streamed): each entry is a call of its own.
    pub whole: bool,
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub arguments: Option<&'a str>,
}

/// What a response gives back beyond its text, for requests whose outcome keeps it (a
/// session's, or `keep_text`): the model's tool calls, joined from their pieces, and the
/// last finish reason. Only those requests' readers fill one in.
#[derive(Debug, Default)]
pub(crate) struct KeptReply {
    /// The calls, sorted by key: the server's index, else their place.
    slots: Vec<Slot>,
    /// The slot the last piece went to: a streamed piece with neither index nor a new
    /// id continues it.
    last: Option<usize>,
    finish_reason: Option<String>,
    /// Bytes kept so far, and whether the bound was reached (nothing more is kept).
    bytes: usize,
    full: bool,
}

#[derive(Debug)]
struct Slot {
    key: u32,
    call: ToolCall,
    /// A piece of it came past the bound: it is not handed back.
    cut: bool,
}

impl KeptReply {
    /// Joins `piece` to its call. Streamed, a piece with an index goes to that index's
    /// call (the first piece with an id gives the id, the first with a name the name;
    /// arguments are appended in order); one without goes to the last call, or starts
    /// one when it brings another id. Not streamed, an entry without index is the call
    /// at its place in the list.
    pub(crate) fn add(&mut self, piece: CallPiece<'_>) {
        let last = self.last.map(|i| &self.slots[i]);
        let key = match (piece.index, piece.whole, last) {
            (Some(index), _, _) => index,
            (None, true, _) => u32::try_from(piece.position).unwrap_or(u32::MAX),
            (None, false, Some(s)) if piece.id.is_none_or(|id| id.is_empty() || s.call.id == id) => s.key,
            (None, false, _) => self.slots.last().map_or(0, |s| s.key.saturating_add(1)),
        };
        let found = match self.last.filter(|&i| self.slots[i].key == key) {
            Some(i) => Ok(i),
            None => self.slots.binary_search_by_key(&key, |s| s.key),
        };
        let at = match found {
            Ok(i) => i,
            Err(_) if self.full || self.slots.len() >= MAX_KEPT_CALLS || self.bytes + SLOT_BYTES > MAX_KEPT_CALLS_BYTES => {
                self.full = true;
                return;
            }
            Err(i) => {
                self.bytes += SLOT_BYTES;
                self.slots.insert(i, Slot { key, call: ToolCall::default(), cut: false });
                i
            }
        };
        self.last = Some(at);
        let slot = &mut self.slots[at];
        let id = piece.id.filter(|s| !s.is_empty() && slot.call.id.is_empty());
        let name = piece.name.filter(|s| !s.is_empty() && slot.call.name.is_empty());
        let arguments = piece.arguments.filter(|s| !s.is_empty());
        let len = [id, name, arguments].iter().map(|s| s.map_or(0, str::len)).sum::<usize>();
        if len == 0 {
            return;
        }
        if self.full || self.bytes + len > MAX_KEPT_CALLS_BYTES {
            // Past the bound: this call would be handed back cut, so it is not at all.
            self.full = true;
            slot.cut = true;
            return;
        }
        self.bytes += len;
        if let Some(id) = id {
            slot.call.id.push_str(id);
        }
        if let Some(name) = name {
            slot.call.name.push_str(name);
        }
        if let Some(arguments) = arguments {
            slot.call.arguments.push_str(arguments);
        }
    }

    /// A finish reason: the last one seen is kept.
    pub(crate) fn finish(&mut self, reason: &str) {
        let mut end = reason.len().min(MAX_FINISH_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let kept = self.finish_reason.get_or_insert_with(String::new);
        kept.clear();
        kept.push_str(&reason[..end]);
    }

    /// The calls, in index order (those cut by the bound left out), and the finish reason.
    pub(crate) fn into_parts(self) -> (Vec<ToolCall>, Option<String>) {
        let calls = self.slots.into_iter().filter(|s| !s.cut).map(|s| s.call).collect();
        (calls, self.finish_reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece<'a>(index: Option<u32>, id: Option<&'a str>, name: Option<&'a str>, arguments: &'a str) -> CallPiece<'a> {
        CallPiece { index, id, name, arguments: Some(arguments), ..CallPiece::default() }
    }

    #[test]
    fn calls_come_back_in_index_order_with_the_first_id_and_name() {
        let mut r = KeptReply::default();
        r.add(piece(Some(2), Some("c"), Some("h"), "{}"));
        r.add(piece(Some(0), Some("a"), Some("f"), "[1"));
        r.add(piece(Some(0), Some("other"), Some("other"), ",2]"));
        r.add(piece(Some(1), None, None, ""));
        r.finish("stop");
        r.finish("tool_calls");
        let (calls, finish) = r.into_parts();
        let got: Vec<_> = calls.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str())).collect();
        assert_eq!(got, [("a", "f", "[1,2]"), ("", "", ""), ("c", "h", "{}")]);
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        // Not streamed: entries without index are the calls at their places.
        let mut r = KeptReply::default();
        for (position, id) in ["x", "y"].into_iter().enumerate() {
            r.add(CallPiece { position, whole: true, id: Some(id), name: Some("f"), arguments: Some("{}"), index: None });
        }
        assert_eq!(r.into_parts().0.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn past_the_bound_nothing_more_is_kept_and_no_call_comes_back_cut() {
        let big = "x".repeat(MAX_KEPT_CALLS_BYTES / 2);
        let mut r = KeptReply::default();
        r.add(piece(Some(0), Some("a"), Some("f"), &big));
        r.add(piece(Some(1), Some("b"), Some("g"), "{"));
        // This piece crosses the bound: call 1 would be cut, so it is dropped.
        r.add(piece(Some(1), None, None, &big));
        // Nothing after it is kept: neither new calls nor more of call 0.
        r.add(piece(Some(2), Some("c"), Some("h"), "{}"));
        r.add(piece(Some(0), None, None, ""));
        let (calls, _) = r.into_parts();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].id.as_str(), calls[0].arguments.len()), ("a", big.len()));
        // More of a call that was whole before the bound cuts it too.
        let mut r = KeptReply::default();
        r.add(piece(Some(0), Some("a"), Some("f"), &big));
        r.add(piece(Some(1), Some("b"), Some("g"), &big));
        r.add(piece(Some(0), None, None, "}"));
        assert!(r.into_parts().0.is_empty());
        // So many calls: the first MAX_KEPT_CALLS are kept.
        let mut r = KeptReply::default();
        for i in 0..MAX_KEPT_CALLS as u32 + 10 {
            r.add(piece(Some(i), Some("id"), Some("f"), "{}"));
        }
        assert_eq!(r.into_parts().0.len(), MAX_KEPT_CALLS);
    }

    #[test]
    fn a_long_finish_reason_is_clipped_at_a_character() {
        let mut r = KeptReply::default();
        r.finish(&"é".repeat(100));
        let (_, finish) = r.into_parts();
        assert_eq!(finish.unwrap().len(), MAX_FINISH_REASON);
    }
}

/// What protocol readers' tests share: a stream read event by event as the exchange
/// reads it.
#[cfg(test)]
pub(crate) mod testing {
    use super::{KeptReply, Parsed, Usage};
    use volley_core::ToolCall;

    /// A stream as the exchange reads it: each event's output counted, usage merged
    /// across events, the reply's calls and finish reason joined.
    pub(crate) struct StreamRead {
        pub text: String,
        pub outputs: usize,
        pub tool_bytes: usize,
        pub reasoning_bytes: usize,
        pub started: u32,
        pub finished: bool,
        pub usage: Option<Usage>,
        pub error: Option<String>,
        pub calls: Vec<ToolCall>,
        pub finish: Option<String>,
    }

    /// A protocol's streamed-event reader.
    pub(crate) type EventReader = fn(&[u8], Option<&mut String>, Option<&mut KeptReply>) -> Result<Parsed, String>;

    /// `events` read by `parse`, each also read without text or reply (the same answer).
    pub(crate) fn read_stream(events: &[&str], parse: EventReader) -> StreamRead {
        let (mut text, mut reply) = (String::new(), KeptReply::default());
        let mut r = StreamRead {
            text: String::new(),
            outputs: 0,
            tool_bytes: 0,
            reasoning_bytes: 0,
            started: 0,
            finished: false,
            usage: None,
            error: None,
            calls: vec![],
            finish: None,
        };
        for e in events {
            let p = parse(e.as_bytes(), Some(&mut text), Some(&mut reply)).unwrap();
            assert_eq!(parse(e.as_bytes(), None, None).unwrap(), p);
            r.outputs += usize::from(p.has_output());
            r.tool_bytes += p.tool_bytes;
            r.reasoning_bytes += p.reasoning_bytes;
            r.started += p.tool_calls_started;
            r.finished |= p.finished;
            if let Some(u) = p.usage {
                r.usage = Some(r.usage.map_or(u, |before| before.merge(u)));
            }
            r.error = p.error.or(r.error);
        }
        r.text = text;
        (r.calls, r.finish) = reply.into_parts();
        r
    }

    pub(crate) fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
    }
}
