//! `shared-prefix`: N groups of M prompts, every prompt of a group starting with the
//! same prefix of exactly `prefix_tokens` tokens, for prefix-cache studies. Prefixes
//! differ between groups; suffixes differ within a group. Requests are tagged by group
//! (`group-0`, ...) so the report breaks latency down per group. Needs `--tokenizer`.
//!
//! Parameters: `groups` (N, default 4), `prompts_per_group` (M, default 8),
//! `prefix_tokens` (default 512), `suffix_tokens` (default 32), `output_tokens`
//! (default 16), `order` (`"round-robin"`, the default, interleaving groups, or
//! `"grouped"`, all of group 0 first), `stream` (default true), `model`, and the load
//! keys (`load`, default constant; `rate`, `n`, `duration_s`; `requests`, default N·M).

use volley_sdk::{Next, Params, Plan, Request, RequestContext, STAGE_PARAMS, Scenario, Stage, export_scenario, random, tokenizer};

struct SharedPrefix {
    stage: Stage,
    prefixes: Vec<String>,
    per_group: u64,
    suffix_tokens: u32,
    prefix_tokens: u32,
    output_tokens: u32,
    grouped: bool,
    stream: bool,
    model: Option<String>,
}

impl Scenario for SharedPrefix {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Groups of prompts sharing an exact-length prefix, for prefix-cache studies")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let own = ["groups", "prompts_per_group", "prefix_tokens", "suffix_tokens", "output_tokens", "order", "stream", "model"];
        params.allow_only(&[&own[..], STAGE_PARAMS].concat())?;
        if !tokenizer::available() {
            return Err("shared-prefix needs the model's tokenizer: run with --tokenizer tokenizer.json".into());
        }
        let groups = params.u32("groups", 4)?;
        let per_group = params.u64("prompts_per_group", 8)?;
        if groups == 0 || per_group == 0 {
            return Err("`groups` and `prompts_per_group` must be at least 1".into());
        }
        let prefix_tokens = params.u32("prefix_tokens", 512)?;
        let grouped = match params.string("order", "round-robin")?.as_str() {
            "round-robin" => false,
            "grouped" => true,
            other => return Err(format!("`order` must be \"round-robin\" or \"grouped\", got {other:?}")),
        };
        let mut stage = Stage::from_params("shared-prefix", params, "constant", None)?;
        let total = u64::from(groups) * per_group;
        stage.max_requests = Some(stage.max_requests.map_or(total, |n| n.min(total)));
        Ok(SharedPrefix {
            stage,
            prefixes: (0..groups).map(|_| tokenizer::synth_text(prefix_tokens, random::u64())).collect(),
            per_group,
            suffix_tokens: params.u32("suffix_tokens", 32)?,
            prefix_tokens,
            output_tokens: params.u32("output_tokens", 16)?,
            grouped,
            stream: params.bool("stream", true)?,
            model: params.opt_string("model")?,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        let groups = self.prefixes.len() as u64;
        if ctx.seq >= groups * self.per_group {
            return Next::Done;
        }
        let group = if self.grouped { ctx.seq / self.per_group } else { ctx.seq % groups };
        let suffix = tokenizer::synth_text(self.suffix_tokens, random::u64());
        let prompt = format!("{}{suffix}", self.prefixes[group as usize]);
        let mut r = Request::completion(prompt)
            .prompt_tokens(self.prefix_tokens + self.suffix_tokens)
            .exact_output(self.output_tokens)
            .stream(self.stream)
            .tag(format!("group-{group}"));
        if let Some(m) = &self.model {
            r = r.model(m.clone());
        }
        Next::Send(r)
    }
}

export_scenario!(SharedPrefix);
