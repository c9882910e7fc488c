//! `synthetic`: prompts and outputs of token lengths drawn from distributions, the
//! workload of GuideLLM's `prompt_tokens=15900, variance=100, generated_tokens=450,
//! variance=50`. Needs the run's tokenizer (`--tokenizer`): every prompt is a text of
//! exactly the drawn length, and each request carries that length so the report can
//! compare it with the server's own count.
//!
//! Parameters: `prompt_tokens` and `output_tokens` (a count or a distribution, see
//! `volley_sdk::dist`; defaults 128 and 64), `api` (`"completions"`, the default, whose
//! prompt reaches the model verbatim, `"chat"`, `"embeddings"`, or `"tgi"` for TGI's
//! native `/generate_stream`), `exact_output` (default true: ask for exactly the drawn
//! output length with `min_tokens`/`ignore_eos`), `stream` (default true), `model`, or
//! `models` (`{"name": weight, ...}`: each request picks a model or LoRA adapter by
//! weight), and the load keys (`load`, default poisson; `rate`, `n`, `duration_s`,
//! default 30; `requests`).

use volley_sdk::dist::TokenLength;
use volley_sdk::{Message, Next, Params, Plan, Request, RequestContext, STAGE_PARAMS, Scenario, Stage, export_scenario, random, tokenizer};

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Completions,
    Chat,
    Embeddings,
    Tgi,
}

struct Synthetic {
    stage: Stage,
    prompt: TokenLength,
    output: TokenLength,
    api: Api,
    exact_output: bool,
    stream: bool,
    models: Vec<(String, f64)>,
}

impl Scenario for Synthetic {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Synthetic prompts and outputs with token lengths drawn from distributions")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let own = ["prompt_tokens", "output_tokens", "api", "exact_output", "stream", "model", "models"];
        params.allow_only(&[&own[..], STAGE_PARAMS].concat())?;
        if !tokenizer::available() {
            return Err("synthetic needs the model's tokenizer: run with --tokenizer tokenizer.json".into());
        }
        let api = match params.string("api", "completions")?.as_str() {
            "completions" => Api::Completions,
            "chat" => Api::Chat,
            "embeddings" => Api::Embeddings,
            "tgi" => Api::Tgi,
            other => return Err(format!("`api` must be completions, chat, embeddings or tgi, got {other:?}")),
        };
        Ok(Synthetic {
            stage: Stage::from_params("synthetic", params, "poisson", Some(30.0))?,
            prompt: TokenLength::from_params(params, "prompt_tokens", TokenLength::Fixed(128))?,
            output: TokenLength::from_params(params, "output_tokens", TokenLength::Fixed(64))?,
            api,
            exact_output: params.bool("exact_output", true)?,
            stream: params.bool("stream", true)?,
            models: params.model_mix()?,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        let (n_in, n_out) = (self.prompt.sample(), self.output.sample());
        let text = tokenizer::synth_text(n_in, random::u64());
        let mut r = match self.api {
            Api::Completions => Request::completion(text),
            Api::Chat => Request::chat(vec![Message::user(text)]),
            Api::Embeddings => Request::embeddings(text),
            Api::Tgi => Request::tgi(text),
        };
        r = r.prompt_tokens(n_in);
        if self.api != Api::Embeddings {
            r = r.stream(self.stream);
            // TGI takes max_new_tokens only; the others also min_tokens/ignore_eos.
            r = if self.exact_output && self.api != Api::Tgi { r.exact_output(n_out) } else { r.max_tokens(n_out) };
        }
        if let Some(m) = random::weighted(&self.models) {
            r = r.model(m.clone());
        }
        Next::Send(r)
    }
}

export_scenario!(Synthetic);
