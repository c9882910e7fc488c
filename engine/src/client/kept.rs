//! The conversations the host keeps for a session (a request's `history`), for the chat,
//! Responses and Messages APIs alike: the conversation as the API's array of messages
//! (or input items) already encoded, so a session's next turn sends it again as bytes,
//! never re-encoded. Each API's module writes its own items; this one only holds them.

use bytes::Bytes;
use volley_core::Api;

/// A conversation the host keeps for a session: the messages its last request sent, as
/// that request's body has them (a slice of it: shared, not copied), and the answer that
/// came after. A request of its history sends these first, then its own messages
/// ([`Self::keep`] then holds all of them); the answer to it follows once it arrives
/// ([`Self::keep_answer`]). So a session holds about one body (the policy bounds its
/// size) and one answer.
#[derive(Debug, Default)]
pub(crate) struct KeptConversation {
    /// The API it is kept for (its first request's): its items are that API's.
    api: Option<Api>,
    /// The inside of the last request's array of messages (or input items).
    sent: Bytes,
    /// The messages since (the answer), as the inside of a JSON array.
    after: Vec<u8>,
    /// The Messages API's system text, which is not one of its messages.
    system: Option<String>,
    /// The request of this history whose answer is awaited (by its `seq`).
    awaiting: Option<u64>,
}

impl KeptConversation {
    /// Writes the messages kept so far, as the inside of a JSON array.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sent);
        if !self.sent.is_empty() && !self.after.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(&self.after);
    }

    /// At most how many bytes [`Self::write_to`] writes.
    pub(crate) fn size_hint(&self) -> usize {
        self.sent.len() + self.after.len() + 1
    }

    /// The API it is kept for; `None` before its first request.
    pub(crate) fn api(&self) -> Option<Api> {
        self.api
    }

    /// The Messages API's system text kept so far.
    pub(crate) fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    /// Keeps `messages` (the inside of the array of request `seq`'s body, of `api`, which
    /// began with what was kept) as the conversation so far, and `system` (Messages); `seq`
    /// now awaits its answer.
    pub(crate) fn keep(&mut self, api: Api, messages: Bytes, system: Option<String>, seq: u64) {
        self.api = Some(api);
        self.sent = messages;
        self.after.clear();
        self.system = system;
        self.awaiting = Some(seq);
    }

    /// Whether the answer to request `seq` is what this conversation awaits.
    pub(crate) fn awaits(&self, seq: u64) -> bool {
        self.awaiting == Some(seq)
    }

    /// Keeps the model's answer to the awaited request, written by its API's module as
    /// the inside of a JSON array (`None`: the request failed, and nothing is kept).
    pub(crate) fn keep_answer(&mut self, answer: Option<Vec<u8>>) {
        self.awaiting = None;
        let Some(answer) = answer.filter(|a| !a.is_empty()) else { return };
        if !self.after.is_empty() {
            self.after.push(b',');
        }
        self.after.extend_from_slice(&answer);
    }
}
