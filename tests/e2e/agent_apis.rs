//! OpenAI's Responses API and Anthropic's Messages API, end to end: against the real
//! llama-server (streamed text with its own token counts, and tool calls parsed and
//! answered), against the simulator (TTFT and ITL as configured, for each API), and the
//! server hooks that reset llama-server's prefix cache between two identical trials.

use std::time::Duration;

use volley::core::hooks::{HookAction, HookWhen, ServerHook, ServerKind};
use volley::core::{
    Api, Batch, Info, Load, Message, Plan, Prompt, RequestRecord, ScenarioRequest, Stage, TokenSource, Workload, WorkloadError,
};
use volley::report::MemorySink;
use volley::sim::SimConfig;
use volley::{Run, Target};

use crate::support::*;

/// One stage of `requests`, sent one at a time.
#[derive(Clone)]
struct Fixed {
    requests: Vec<ScenarioRequest>,
    sent: usize,
}

impl Fixed {
    fn new(requests: Vec<ScenarioRequest>) -> Self {
        Fixed { requests, sent: 0 }
    }
}

impl Workload for Fixed {
    fn describe(&mut self) -> Result<Info, WorkloadError> {
        Ok(Info::new("fixed", "0.1.0", "the same requests, one at a time"))
    }

    fn configure(&mut self, _params: &serde_json::Value) -> Result<Plan, WorkloadError> {
        Ok(Plan::new(vec![Stage::new("fixed", Load::Concurrency { n: 1 }, None, Some(self.requests.len() as u64))]))
    }

    fn next_requests(&mut self, _stage: u32, _seq: u64, max: u32) -> Result<Batch, WorkloadError> {
        let end = (self.sent + max as usize).min(self.requests.len());
        let requests = self.requests[self.sent..end].to_vec();
        self.sent = end;
        Ok(Batch { requests, done: self.sent == self.requests.len() })
    }
}

fn request(api: Api, messages: Vec<Message>, max_tokens: u32) -> ScenarioRequest {
    ScenarioRequest::new(api, Prompt::Chat(messages)).stream(true).max_tokens(max_tokens)
}

async fn run(url: &str, requests: Vec<ScenarioRequest>, hooks: &[ServerHook]) -> Vec<RequestRecord> {
    let records = MemorySink::new();
    let mut run =
        Run::new(Target::parse(url).unwrap(), Fixed::new(requests)).request_timeout(Duration::from_secs(120)).sink(records.clone());
    for h in hooks {
        run = run.hook(h.clone()).server_kind(ServerKind::LlamaCpp);
    }
    let outcome = run.execute().await.expect("the run starts");
    assert!(outcome.fault.is_none(), "{:?}", outcome.fault);
    for h in &outcome.report.hooks {
        eprintln!("hook {}:{} {} {} -> {:?} in {} ms", h.when, h.action, h.method, h.url, h.status, h.ms);
        assert_eq!(h.status, Some(200), "{h:?}");
    }
    let mut records: Vec<_> = records.records().into_iter().map(|r| r.record).collect();
    records.sort_by_key(|r| r.seq);
    records
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::test]
async fn the_real_server_streams_both_apis_with_its_own_token_counts() {
    let lease = Lease::start_with(8108, &["--jinja"]);
    let messages = vec![Message::new("system", "You are terse."), Message::user("Name three colours of the rainbow.")];
    let mut by_api = Vec::new();
    for api in [Api::ChatCompletions, Api::Responses, Api::Messages] {
        // ignore_eos: a request generates its max_tokens (llama-server's Messages
        // endpoint does not take it: there the model may stop sooner).
        let mut r = request(api, messages.clone(), 16);
        r.body_extra = Some(r#"{"ignore_eos": true, "temperature": 0}"#.into());
        let records = run(&lease.server.url(), vec![r.clone(), r], &[]).await;
        for rec in &records {
            eprintln!(
                "llama-server {}: status {} ttft {:?} chunks {} output {} ({:?}) prompt {:?} cached {:?} finish {:?} err {:?}",
                api.as_str(),
                rec.status,
                rec.ttft(),
                rec.text_chunks,
                rec.output_tokens,
                rec.token_source,
                rec.prompt_tokens,
                rec.cached_tokens,
                rec.finish_reason,
                rec.error_message
            );
            assert!(rec.ok() && rec.stream, "{}: {:?}", api.as_str(), rec.error_message);
            assert!(rec.ttft().is_some_and(|t| t > Duration::ZERO), "{}: a time to first token", api.as_str());
            // The server's own usage, read from its stream's events.
            assert_eq!(rec.token_source, TokenSource::Usage, "{}", api.as_str());
            let n = rec.output_tokens;
            assert!((1..=16).contains(&n), "{}: {n} output tokens", api.as_str());
            if api != Api::Messages {
                assert_eq!(n, 16, "{}: ignore_eos", api.as_str());
            }
            // One token an event on llama-server (a few may share one while it holds back
            // text that could start a stop string): every token's event is read.
            assert!(rec.text_chunks <= n && rec.text_chunks + 3 >= n, "{}: {} text events for {n} tokens", api.as_str(), rec.text_chunks);
            assert_eq!(rec.itl_us.len() as u32 + 1, rec.text_chunks, "{}", api.as_str());
        }
        by_api.push((api, records[1].prompt_tokens));
    }
    // The same conversation is the same prompt, whichever API carried it.
    let chat = by_api[0].1.expect("the server counted the prompt");
    for (api, prompt) in &by_api {
        assert_eq!(*prompt, Some(chat), "{} counts the prompt as chat does", api.as_str());
    }
}

#[tokio::test]
async fn the_real_server_s_tool_calls_come_back_over_responses_and_messages() {
    // The Hermes 2 Pro template knows tools; SmolLM2's own does not (../shared/realserver/TOOLS.md).
    let home = std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/realserver");
    let template = home.join("src/llama.cpp-0.3.36/models/templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja");
    assert!(template.is_file(), "{} is missing: run ../shared/realserver/setup.sh llama-server", template.display());
    let lease = Lease::start_with(8109, &["--jinja", "--chat-template-file", template.to_str().unwrap()]);
    for api in [Api::Responses, Api::Messages] {
        let (tasks, sessions) = crate::agents::weather_run(&lease.server.url(), api, 3).await;
        let answered: Vec<_> = sessions.values().filter(|reqs| reqs.len() == 2).collect();
        assert!(
            !answered.is_empty(),
            "{}: no first turn came back with a parsed tool call: {:?}",
            api.as_str(),
            sessions.values().map(|r| (&r[0].text, &r[0].error_message)).collect::<Vec<_>>()
        );
        for reqs in &answered {
            let (first, follow) = (&reqs[0], &reqs[1]);
            eprintln!(
                "llama-server {}: {} call(s) {:?}, finish {:?}; follow-up status {}",
                api.as_str(),
                first.calls.len(),
                first.calls.iter().map(|c| format!("{}({}) id {}", c.name, c.arguments, c.id)).collect::<Vec<_>>(),
                first.finish_reason,
                follow.status
            );
            assert_eq!(first.finish_reason.as_deref(), Some("tool_calls"), "{}", api.as_str());
            let call = &first.calls[0];
            assert_eq!(call.name, "get_weather");
            let args: serde_json::Value = serde_json::from_str(&call.arguments).expect("the streamed pieces join into JSON");
            assert!(args.get("city").is_some_and(serde_json::Value::is_string), "{args}");
            assert_eq!((follow.status, follow.ok()), (200, true), "{}: the tool result answered: {:?}", api.as_str(), follow.error_message);
        }
        assert_eq!(tasks.started, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_s_ttft_and_itl_are_as_configured_on_each_api() {
    let (ttft, itl) = (20.0, 5.0);
    let s =
        start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(5), jitter: 0.0, ..SimConfig::default() }).await;
    for api in [Api::ChatCompletions, Api::Responses, Api::Messages] {
        let r = request(api, vec![Message::new("system", "s"), Message::user("count to ten")], 12);
        let records = run(&s.url(), vec![r; 15], &[]).await;
        assert!(records.iter().all(|r| r.ok() && r.output_tokens == 12 && r.itl_us.len() == 11), "{}", api.as_str());
        let t = median(records.iter().map(|r| r.ttft().unwrap().as_secs_f64() * 1e3).collect());
        let i = median(records.iter().flat_map(|r| r.itl_us.iter().map(|&g| f64::from(g) / 1e3)).collect());
        eprintln!("simulator {}: TTFT p50 {t:.3} ms (configured {ttft}), ITL p50 {i:.3} ms (configured {itl})", api.as_str());
        assert!((t - ttft).abs() < 1.0, "{}: TTFT p50 {t:.3} ms", api.as_str());
        assert!((i - itl).abs() < 1.0, "{}: ITL p50 {i:.3} ms", api.as_str());
    }
}

#[tokio::test]
async fn a_prefix_cache_reset_between_two_identical_trials_leaves_nothing_cached() {
    // llama.cpp erases a slot's cache only when started with a slot save path.
    let slots = TempDir::new("slots");
    let lease = Lease::start_with(8110, &["--slot-save-path", slots.path().to_str().unwrap()]);
    let long = "Here is a long shared context about the history of the bicycle. ".repeat(20);
    let trial = || vec![request(Api::ChatCompletions, vec![Message::new("system", long.clone()), Message::user("Summarise it.")], 4)];
    let reset = [ServerHook { when: HookWhen::BeforeRun, action: HookAction::ResetPrefixCache }];
    // Without the hook the second trial's request finds its prompt cached.
    run(&lease.server.url(), trial(), &[]).await;
    let second = run(&lease.server.url(), trial(), &[]).await;
    let cached = second[0].cached_tokens.unwrap_or(0);
    eprintln!("llama-server: second trial without a reset: {cached} of {:?} prompt tokens cached", second[0].prompt_tokens);
    assert!(cached > 100, "without a reset the second trial's prompt is cached ({cached} tokens)");
    // With it, nothing is.
    let second = run(&lease.server.url(), trial(), &reset).await;
    let cached = second[0].cached_tokens.unwrap_or(0);
    eprintln!("llama-server: second trial after a reset: {cached} of {:?} prompt tokens cached", second[0].prompt_tokens);
    assert_eq!(cached, 0, "the reset hook emptied the prefix cache");
}
