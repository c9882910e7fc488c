//! `synthetic`: prompts and outputs of token lengths drawn from distributions, the
//! workload of GuideLLM's `prompt_tokens=15900, variance=100, generated_tokens=450,
//! variance=50`. Needs the run's tokenizer (`--tokenizer`): every prompt is a text of
//! exactly the drawn length, and each request carries that length so the report can
//! compare it with the server's own count.
//!
//! Parameters: `prompt_tokens` and `output_tokens` (a count or a distribution, see
//! `volley_sdk::dist`; defaults 128 and 64), `api` (`"completions"`, the default, whose
//! prompt reaches the model verbatim, or `"chat"`), `exact_output` (default true: ask
//! for exactly the drawn output length with `min_tokens`/`ignore_eos`), `stream`
//! (default true), `model`, and the load keys (`load`, default poisson; `rate`, `n`,
//! `duration_s`, default 30; `requests`).

use volley_sdk::dist::TokenLength;
use volley_sdk::{
    Message, Next, Params, Plan, Request, RequestContext, STAGE_PARAMS, Scenario, Stage, export_scenario, random,
    tokenizer,
};

struct Synthetic {
    stage: Stage,
    prompt: TokenLength,
    output: TokenLength,
    chat: bool,
    exact_output: bool,
    stream: bool,
    model: Option<String>,
}

impl Scenario for Synthetic {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Synthetic prompts and outputs with token lengths drawn from distributions")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let own = ["prompt_tokens", "output_tokens", "api", "exact_output", "stream", "model"];
        params.allow_only(&[&own[..], STAGE_PARAMS].concat())?;
        if !tokenizer::available() {
            return Err("synthetic needs the model's tokenizer: run with --tokenizer tokenizer.json".into());
        }
        let chat = match params.string("api", "completions")?.as_str() {
            "completions" => false,
            "chat" => true,
            other => return Err(format!("`api` must be \"completions\" or \"chat\", got {other:?}")),
        };
        Ok(Synthetic {
            stage: Stage::from_params("synthetic", params, "poisson", Some(30.0))?,
            prompt: TokenLength::from_params(params, "prompt_tokens", TokenLength::Fixed(128))?,
            output: TokenLength::from_params(params, "output_tokens", TokenLength::Fixed(64))?,
            chat,
            exact_output: params.bool("exact_output", true)?,
            stream: params.bool("stream", true)?,
            model: params.opt_string("model")?,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        let (n_in, n_out) = (self.prompt.sample(), self.output.sample());
        let text = tokenizer::synth_text(n_in, random::u64());
        let mut r = if self.chat { Request::chat(vec![Message::user(text)]) } else { Request::completion(text) };
        r = r.prompt_tokens(n_in).stream(self.stream);
        r = if self.exact_output { r.exact_output(n_out) } else { r.max_tokens(n_out) };
        if let Some(m) = &self.model {
            r = r.model(m.clone());
        }
        Next::Send(r)
    }
}

export_scenario!(Synthetic);
