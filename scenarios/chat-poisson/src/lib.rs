//! `chat-poisson`: streaming chat requests with Poisson arrivals.
//!
//! Parameters (all optional):
//! - `rate` (requests/s, default 5), `duration_s` (default 10), `max_requests` (no default)
//! - `max_tokens` (default 64), `stream` (default true), `api` (`"chat"` or `"completions"`)
//! - `model` (default: the operator's `--model`, else the target's first model)
//! - `prompts` (a list of strings; default: a built-in set of short questions)

use std::time::Duration;

use volley_sdk::{Load, Message, Next, Params, Plan, Request, RequestContext, Scenario, Stage, export_scenario, random};

const DEFAULT_PROMPTS: &[&str] = &[
    "Explain in two sentences why the sky is blue.",
    "Write a haiku about load testing.",
    "What is the difference between latency and throughput?",
    "Give three tips for writing clear error messages.",
    "Summarise the plot of Hamlet in one paragraph.",
    "How does a hash map handle collisions?",
    "Describe the water cycle for a ten-year-old.",
    "List five prime numbers greater than one hundred.",
    "Why do cats purr?",
    "Translate 'good morning, how are you?' into French and Spanish.",
    "What is a Poisson process?",
    "Suggest a name for a benchmarking tool and explain it.",
];

struct ChatPoisson {
    rate: f64,
    duration: Duration,
    max_requests: Option<u64>,
    max_tokens: u32,
    stream: bool,
    chat: bool,
    model: Option<String>,
    prompts: Vec<String>,
}

impl Scenario for ChatPoisson {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Streaming chat requests with Poisson arrivals")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        params.allow_only(&["rate", "duration_s", "max_requests", "max_tokens", "stream", "api", "model", "prompts"])?;
        let rate = params.f64("rate", 5.0)?;
        if rate <= 0.0 {
            return Err(format!("`rate` must be positive, got {rate}"));
        }
        let duration_s = params.f64("duration_s", 10.0)?;
        if duration_s <= 0.0 {
            return Err(format!("`duration_s` must be positive, got {duration_s}"));
        }
        let chat = match params.string("api", "chat")?.as_str() {
            "chat" => true,
            "completions" => false,
            other => return Err(format!("`api` must be \"chat\" or \"completions\", got {other:?}")),
        };
        let prompts = match params.strings("prompts")? {
            Some(p) if p.is_empty() => return Err("`prompts` must not be empty".into()),
            Some(p) => p,
            None => DEFAULT_PROMPTS.iter().map(|s| s.to_string()).collect(),
        };
        Ok(ChatPoisson {
            rate,
            duration: Duration::from_secs_f64(duration_s),
            max_requests: params.opt_u64("max_requests")?,
            max_tokens: params.u32("max_tokens", 64)?,
            stream: params.bool("stream", true)?,
            chat,
            model: params.opt_string("model")?,
            prompts,
        })
    }

    fn plan(&self) -> Plan {
        let mut stage = Stage::new("poisson", Load::poisson(self.rate)).duration(self.duration);
        if let Some(n) = self.max_requests {
            stage = stage.max_requests(n);
        }
        Plan::new().stage(stage)
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        let Some(prompt) = random::choose(&self.prompts).cloned() else { return Next::Done };
        let mut request = if self.chat { Request::chat(vec![Message::user(prompt)]) } else { Request::completion(prompt) };
        request = request.max_tokens(self.max_tokens).stream(self.stream);
        if let Some(model) = &self.model {
            request = request.model(model.clone());
        }
        Next::Send(request)
    }
}

export_scenario!(ChatPoisson);
