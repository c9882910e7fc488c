//! `burst`: N requests at the same instant, as in the Tensorizer "burst of 100 requests
//! against a cold service" test.
//!
//! Parameters (all optional): `n` (default 100), `max_tokens` (default 32),
//! `stream` (default true), `api` (`"chat"` or `"completions"`, default chat),
//! `model`, `prompt`.

use volley_sdk::{Load, Message, Next, Params, Plan, Request, RequestContext, Scenario, Stage, export_scenario};

struct Burst {
    n: u32,
    max_tokens: u32,
    stream: bool,
    chat: bool,
    model: Option<String>,
    prompt: String,
}

impl Scenario for Burst {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("N requests sent at the same instant (default 100)")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        params.allow_only(&["n", "max_tokens", "stream", "api", "model", "prompt"])?;
        let n = params.u32("n", 100)?;
        if n == 0 {
            return Err("`n` must be at least 1".into());
        }
        let chat = params.chat_api("chat")?;
        Ok(Burst {
            n,
            max_tokens: params.u32("max_tokens", 32)?,
            stream: params.bool("stream", true)?,
            chat,
            model: params.opt_string("model")?,
            prompt: params.string("prompt", "Write a short story about a lighthouse keeper.")?,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(Stage::new("burst", Load::burst(self.n)).max_requests(u64::from(self.n)))
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        // Each request is made distinct so no server-side prompt cache serves it.
        let prompt = format!("[{}] {}", ctx.seq, self.prompt);
        let request = if self.chat { Request::chat(vec![Message::user(prompt)]) } else { Request::completion(prompt) };
        let request = request.max_tokens(self.max_tokens).stream(self.stream);
        Next::Send(match &self.model {
            Some(m) => request.model(m.clone()),
            None => request,
        })
    }
}

export_scenario!(Burst);
