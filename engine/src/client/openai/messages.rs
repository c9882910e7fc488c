//! OpenAI chat messages on the wire, and the model's answer as the chat message a kept
//! conversation adds ([`answer`]).

use serde::Serialize;

use volley_core::{ContentPart, Media, Message, ToolCall};

/// A chat message on the wire: a tool's result names the call it answers; an assistant
/// message that made tool calls carries them, its content null when it had no text.
#[derive(Serialize)]
pub(crate) struct WireMessage<'a> {
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    /// `None`: JSON `null`.
    content: Option<WireContent<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
}

/// A tool call an assistant message carries back, as OpenAI's chat API has it.
#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireCalled<'a>,
}

#[derive(Serialize)]
struct WireCalled<'a> {
    name: &'a str,
    /// The JSON text of the arguments, as a string.
    arguments: &'a str,
}

impl<'a> WireToolCall<'a> {
    fn of(c: &'a ToolCall) -> Self {
        WireToolCall { id: &c.id, kind: "function", function: WireCalled { name: &c.name, arguments: &c.arguments } }
    }
}

/// A message's content: a string, or (with content parts) a list of typed parts.
#[derive(Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(&'a str),
    Parts(Vec<WirePart<'a>>),
}

/// One content part as OpenAI's chat API has it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: WireImage<'a> },
    InputAudio { input_audio: WireAudio<'a> },
}

#[derive(Serialize)]
struct WireImage<'a> {
    url: DataUrl<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct WireAudio<'a> {
    data: &'a str,
    format: &'a str,
}

/// `data:MIME;base64,DATA`, written straight into the body.
struct DataUrl<'a>(&'a Media);

impl Serialize for DataUrl<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("data:{};base64,{}", self.0.mime, self.0.base64))
    }
}

impl<'a> WireMessage<'a> {
    pub(crate) fn of(m: &'a Message) -> Self {
        let tool_calls = m.tool_calls.iter().map(WireToolCall::of).collect::<Vec<_>>();
        let content = if !m.parts.is_empty() {
            Some(Self::parts(m))
        } else if m.content.is_empty() && !tool_calls.is_empty() {
            None
        } else {
            Some(WireContent::Text(&m.content))
        };
        WireMessage { role: &m.role, tool_call_id: m.tool_call_id.as_deref(), content, tool_calls }
    }

    /// About how many bytes the message takes on the wire (its texts and their keys;
    /// escapes and media aside), to size a body.
    pub(crate) fn len_hint(&self) -> usize {
        let content = match &self.content {
            Some(WireContent::Text(t)) => t.len(),
            Some(WireContent::Parts(parts)) => parts.len() * 32,
            None => 0,
        };
        let calls: usize = self.tool_calls.iter().map(|c| 64 + c.id.len() + c.function.name.len() + c.function.arguments.len()).sum();
        48 + content + calls + self.tool_call_id.map_or(0, str::len)
    }

    /// The content of a message with parts: its text first, then the parts.
    fn parts(m: &'a Message) -> WireContent<'a> {
        let text = (!m.content.is_empty()).then_some(WirePart::Text { text: &m.content });
        let parts = text.into_iter().chain(m.parts.iter().map(|p| match p {
            ContentPart::Text(t) => WirePart::Text { text: t },
            ContentPart::Image { media, detail } => {
                WirePart::ImageUrl { image_url: WireImage { url: DataUrl(media), detail: detail.as_deref() } }
            }
            ContentPart::Audio(media) => {
                WirePart::InputAudio { input_audio: WireAudio { data: &media.base64, format: media.audio_format() } }
            }
        }));
        WireContent::Parts(parts.collect())
    }

    /// [`Self::text`], borrowed when the message has no parts (most).
    pub(crate) fn text_of(m: &Message) -> std::borrow::Cow<'_, str> {
        if m.parts.is_empty() { std::borrow::Cow::Borrowed(&m.content) } else { std::borrow::Cow::Owned(Self::text(m)) }
    }

    /// The message's text: its content and text parts, for APIs that take one string.
    pub(crate) fn text(m: &Message) -> String {
        let parts = m.parts.iter().filter_map(|p| match p {
            ContentPart::Text(t) => Some(t.as_str()),
            _ => None,
        });
        std::iter::once(m.content.as_str()).chain(parts).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n")
    }
}

/// The model's answer (its text and tool calls) as the assistant message a kept
/// conversation adds; `None` if it cannot be written (nothing a message holds fails).
pub(crate) fn answer(text: &str, calls: &[ToolCall]) -> Option<Vec<u8>> {
    let message = Message::assistant_calls(text, calls.to_vec());
    serde_json::to_vec(&WireMessage::of(&message)).ok()
}
