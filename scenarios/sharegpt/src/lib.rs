//! `sharegpt`: replays conversations from a dataset the operator grants, e.g.
//! `--dataset sharegpt=ShareGPT_V3_unfiltered_cleaned_split.json` (any format Volley
//! reads: ShareGPT JSON, JSONL with `messages`/`prompt`, text lines).
//!
//! Each request sends a row's conversation up to and including its first user message
//! (a system message before it is kept). Its output length is the token length of the
//! row's first assistant reply when the run has a tokenizer (as `vllm bench` does), else
//! `max_tokens`.
//!
//! Parameters: `dataset` (default "sharegpt"), `order` (`"random"`, the default, or
//! `"sequential"`), `max_tokens` (default 256; also the cap on replayed output
//! lengths), `exact_output` (default false), `stream` (default true), `model`, and the
//! load keys (`load`, default poisson; `rate`, `n`, `duration_s`, default 30; `requests`).

use volley_sdk::datasets::Dataset;
use volley_sdk::{Message, Next, Params, Plan, Request, RequestContext, STAGE_PARAMS, Scenario, Stage, export_scenario, random, tokenizer};

struct ShareGpt {
    stage: Stage,
    dataset: Dataset,
    rows: u64,
    sequential: bool,
    max_tokens: u32,
    exact_output: bool,
    stream: bool,
    model: Option<String>,
}

impl Scenario for ShareGpt {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Replay of conversations from a granted dataset (ShareGPT, JSONL, text)")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let own = ["dataset", "order", "max_tokens", "exact_output", "stream", "model"];
        params.allow_only(&[&own[..], STAGE_PARAMS].concat())?;
        let name = params.string("dataset", "sharegpt")?;
        let dataset = Dataset::open(&name)?;
        let sequential = match params.string("order", "random")?.as_str() {
            "random" => false,
            "sequential" => true,
            other => return Err(format!("`order` must be \"random\" or \"sequential\", got {other:?}")),
        };
        Ok(ShareGpt {
            stage: Stage::from_params("replay", params, "poisson", Some(30.0))?,
            rows: dataset.len(),
            dataset,
            sequential,
            max_tokens: params.u32("max_tokens", 256)?,
            exact_output: params.bool("exact_output", false)?,
            stream: params.bool("stream", true)?,
            model: params.opt_string("model")?,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        if self.sequential && ctx.seq >= self.rows {
            return Next::Done;
        }
        let index = if self.sequential { ctx.seq } else { random::below(self.rows) };
        let Some(row) = self.dataset.row(index) else { return Next::Done };
        let Some(first_user) = row.messages.iter().position(|m| m.role == "user") else {
            // No user turn: send the first message as the prompt.
            return Next::Send(self.request(vec![row.messages[0].clone()], None));
        };
        let prompt: Vec<Message> = row.messages[..=first_user].to_vec();
        let reply = row.messages[first_user + 1..].iter().find(|m| m.role == "assistant");
        let output = reply.filter(|_| tokenizer::available()).map(|m| tokenizer::count(&m.content).max(1));
        Next::Send(self.request(prompt, output).tag(format!("row-{}", index % 16)))
    }
}

impl ShareGpt {
    fn request(&self, messages: Vec<Message>, output: Option<u32>) -> Request {
        let n = output.unwrap_or(self.max_tokens).min(self.max_tokens);
        let mut r = Request::chat(messages).stream(self.stream);
        r = if self.exact_output { r.exact_output(n) } else { r.max_tokens(n) };
        match &self.model {
            Some(m) => r.model(m.clone()),
            None => r,
        }
    }
}

export_scenario!(ShareGpt);
