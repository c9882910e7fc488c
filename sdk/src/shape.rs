//! [`RequestShape`]: the simple synthetic request most load studies use — a prompt of N
//! tokens and exactly M output tokens — read from the common parameters, so sweeps and
//! searches share one definition of "the request" and differ only in load.

use crate::{Message, Params, Request, random, tokenizer};

/// Parameter keys read by [`RequestShape::from_params`].
pub const SHAPE_PARAMS: &[&str] = &["api", "prompt_tokens", "output_tokens", "stream", "model"];

#[derive(Debug, Clone)]
pub struct RequestShape {
    pub chat: bool,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub stream: bool,
    pub model: Option<String>,
}

impl RequestShape {
    /// `api` ("chat" or "completions", default completions), `prompt_tokens` (default
    /// 128), `output_tokens` (default 64), `stream` (default true), `model`.
    pub fn from_params(params: &Params) -> Result<Self, String> {
        Ok(RequestShape {
            chat: params.chat_api("completions")?,
            prompt_tokens: params.u32("prompt_tokens", 128)?,
            output_tokens: params.u32("output_tokens", 64)?,
            stream: params.bool("stream", true)?,
            model: params.opt_string("model")?,
        })
    }

    /// One request: a fresh prompt of exactly `prompt_tokens` tokens when the run has a
    /// tokenizer (else as many words), and exactly `output_tokens` tokens out.
    pub fn request(&self) -> Request {
        self.sized(self.prompt_tokens, self.output_tokens)
    }

    /// [`RequestShape::request`] with other lengths (a trace's, say).
    pub fn sized(&self, prompt_tokens: u32, output_tokens: u32) -> Request {
        if tokenizer::available() {
            let text = tokenizer::synth_text(prompt_tokens, random::u64());
            self.with_text(text, Some(prompt_tokens), output_tokens)
        } else {
            self.with_text(hello_words(prompt_tokens), None, output_tokens)
        }
    }

    /// A request of this shape with its own prompt text (`prompt_tokens`: its length, when
    /// known exactly) and exactly `output_tokens` tokens out.
    pub fn with_text(&self, text: String, prompt_tokens: Option<u32>, output_tokens: u32) -> Request {
        let mut r = if self.chat { Request::chat(vec![Message::user(text)]) } else { Request::completion(text) };
        if let Some(n) = prompt_tokens {
            r = r.prompt_tokens(n);
        }
        r = r.exact_output(output_tokens).stream(self.stream);
        match &self.model {
            Some(m) => r.model(m.clone()),
            None => r,
        }
    }
}

/// `n` words "hello" joined by spaces, in one allocation.
fn hello_words(n: u32) -> String {
    let mut text = String::with_capacity(6 * n as usize);
    for i in 0..n {
        if i > 0 {
            text.push(' ');
        }
        text.push_str("hello");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::hello_words;

    #[test]
    fn hello_words_are_the_words_joined_by_single_spaces() {
        assert_eq!(hello_words(0), "");
        assert_eq!(hello_words(1), "hello");
        for n in 0..64 {
            assert_eq!(hello_words(n), "hello ".repeat(n as usize).trim_end(), "{n} words");
        }
    }
}
