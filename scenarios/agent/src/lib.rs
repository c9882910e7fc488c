//! `agent`: tool-using agent sessions. Each task is a session: a plan turn that offers
//! tools, the model's tool calls answered with tool results after the tools' sampled
//! latency (and the user's think time) — kept by the host's clock, never slept — then
//! more rounds, optional sub-agents fanned out and joined, and a final answer. Every turn
//! sends the whole conversation, so contexts grow with each result; the host keeps it
//! (the request's `history`), so each turn hands over only what is new. The system
//! prompt and tool list are the same for every task, a long common prefix for prefix
//! caches.
//!
//! A task ends completed when the model answers without tool calls or after its last
//! round's final answer; failed when one of its requests fails.
//!
//! Parameters: `tasks` (default 100, the sessions opened), `sessions` (default 10 in
//! flight; or `rate`, sessions per second, Poisson), `steps` (tool rounds, default 1),
//! `tool_ms` and `think_ms` (`[min, max]` uniform, defaults `[50, 200]` and `[0, 0]`;
//! the tools of one round run in parallel, so a round waits for the slowest),
//! `sub_agents` (default 0: fanned out after the last round, joined before the final
//! answer), `system_tokens` (default 1000), `task_tokens` (default 100), `result_tokens`
//! (per tool result, default 200), `max_tokens` (default 64), `stream` (default true),
//! `tool_choice` (`auto` or `required`, default `auto`), `model`, `duration_s`,
//! `api` (`chat_completions`, the default; `responses`, OpenAI's Responses API;
//! `messages`, Anthropic's Messages API), `history` (default true: the host keeps each
//! task's conversation; false: the scenario sends the whole of it every turn).
//! Synthetic texts need `--tokenizer` for exact lengths; without one they are words.

use std::collections::HashMap;
use std::time::Duration;

use volley_sdk::{
    Api, Load, Message, Next, Outcome, Params, Plan, Reaction, Request, RequestContext, Scenario, Stage, TaskEnd, Tool, ToolCall,
    ToolChoice, export_scenario, random, tokenizer,
};

/// The tools every task offers: (name, description, parameters schema).
const TOOLS: &[(&str, &str, &str)] = &[
    ("search", "Search the code base", r#"{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}"#),
    ("read_file", "Read a file", r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#),
    ("run_tests", "Run the test suite", r#"{"type":"object","properties":{"filter":{"type":"string"}}}"#),
    (
        "edit_file",
        "Replace text in a file",
        r#"{"type":"object","properties":{"path":{"type":"string"},"old":{"type":"string"},"new":{"type":"string"}},"required":["path"]}"#,
    ),
];

/// A uniform range of milliseconds.
#[derive(Clone, Copy)]
struct Millis(f64, f64);

impl Millis {
    fn from_params(params: &Params, key: &str, default: Millis) -> Result<Self, String> {
        let Some(v) = params.get(key) else { return Ok(default) };
        let pair = v.as_array().filter(|a| a.len() == 2).and_then(|a| Some((a[0].as_f64()?, a[1].as_f64()?)));
        match pair {
            Some((lo, hi)) if lo >= 0.0 && hi >= lo && hi < 3.6e6 => Ok(Millis(lo, hi)),
            _ => Err(format!("`{key}` must be [min, max] milliseconds with 0 <= min <= max < 3600000")),
        }
    }

    fn sample(self) -> Duration {
        Duration::from_secs_f64(if self.1 > self.0 { random::range(self.0, self.1) } else { self.0 } / 1000.0)
    }
}

/// Where a task stands.
enum Phase {
    /// The main conversation: tool rounds done so far.
    Main { rounds: u32 },
    /// Sub-agents out: how many are still out, and their answers so far.
    SubAgents { pending: u32, answers: Vec<String> },
    /// The final answer is out.
    Final,
}

struct Task {
    /// What the task's next turn sends: the whole conversation, or (the host keeping it)
    /// what is new since the last turn.
    messages: Vec<Message>,
    phase: Phase,
}

struct Agent {
    tasks: u64,
    load: Load,
    duration: Option<Duration>,
    steps: u32,
    tool_ms: Millis,
    think_ms: Millis,
    sub_agents: u32,
    task_tokens: u32,
    result_tokens: u32,
    max_tokens: u32,
    stream: bool,
    tool_choice: ToolChoice,
    model: Option<String>,
    history: bool,
    api: Api,
    system: String,
    tools: Vec<Tool>,
    opened: u64,
    open: HashMap<u64, Task>,
}

/// A text of about `tokens` tokens: exact with the run's tokenizer, else words.
fn text(tokens: u32, seed: u64) -> String {
    if tokenizer::available() {
        return tokenizer::synth_text(tokens, seed);
    }
    const WORDS: &[&str] = &["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    (0..u64::from(tokens)).map(|i| WORDS[((i ^ seed) % WORDS.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
}

impl Scenario for Agent {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Tool-using agent sessions: plan, parallel tool calls after sampled latency, results, answer")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        params.allow_only(&[
            "tasks",
            "sessions",
            "rate",
            "steps",
            "tool_ms",
            "think_ms",
            "sub_agents",
            "system_tokens",
            "task_tokens",
            "result_tokens",
            "max_tokens",
            "stream",
            "tool_choice",
            "model",
            "duration_s",
            "history",
            "api",
        ])?;
        let api = match params.choice("api", &["chat_completions", "responses", "messages"], "chat_completions")?.as_str() {
            "responses" => Api::Responses,
            "messages" => Api::Messages,
            _ => Api::ChatCompletions,
        };
        let tasks = params.u64("tasks", 100)?;
        let sessions = params.u32("sessions", 10)?;
        if tasks == 0 || sessions == 0 {
            return Err("`tasks` and `sessions` must be at least 1".into());
        }
        let load = match params.get("rate") {
            Some(_) => {
                let rate = params.f64("rate", 1.0)?;
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(format!("`rate` must be a positive number of sessions per second, got {rate}"));
                }
                Load::poisson(rate)
            }
            None => Load::sessions(sessions),
        };
        let tool_choice = match params.choice("tool_choice", &["auto", "required"], "auto")?.as_str() {
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        };
        let duration = params.get("duration_s").map(|_| params.f64("duration_s", 0.0)).transpose()?.map(Duration::from_secs_f64);
        Ok(Agent {
            tasks,
            load,
            duration,
            steps: params.u32("steps", 1)?,
            tool_ms: Millis::from_params(params, "tool_ms", Millis(50.0, 200.0))?,
            think_ms: Millis::from_params(params, "think_ms", Millis(0.0, 0.0))?,
            sub_agents: params.u32("sub_agents", 0)?.min(64),
            task_tokens: params.u32("task_tokens", 100)?,
            result_tokens: params.u32("result_tokens", 200)?,
            max_tokens: params.u32("max_tokens", 64)?,
            stream: params.bool("stream", true)?,
            tool_choice,
            model: params.opt_string("model")?,
            history: params.bool("history", true)?,
            api,
            // One seed for every task: the shared prefix is byte-identical.
            system: format!("You are a coding agent. Use the tools to do the task. {}", text(params.u32("system_tokens", 1000)?, 7)),
            tools: TOOLS.iter().map(|(n, d, p)| Tool::new(*n, *d, *p)).collect(),
            opened: 0,
            open: HashMap::new(),
        })
    }

    fn plan(&self) -> Plan {
        let mut stage = Stage::new("tasks", self.load).max_requests(self.tasks);
        if let Some(d) = self.duration {
            stage = stage.duration(d);
        }
        Plan::new().stage(stage).observe_outcomes(true)
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        if self.opened >= self.tasks {
            return Next::Done;
        }
        let id = self.opened;
        self.opened += 1;
        let mut messages = vec![Message::system(self.system.clone()), Message::user(text(self.task_tokens, 1000 + id))];
        let request = self.turn(id, &mut messages, Some(self.tool_choice.clone()));
        self.open.insert(id, Task { messages, phase: Phase::Main { rounds: 0 } });
        Next::Send(request)
    }

    fn react(&mut self, outcome: Outcome) -> Reaction {
        let Some(id) = outcome.session else { return Reaction::none() };
        if !outcome.ok {
            self.open.remove(&id);
            return Reaction::end(TaskEnd::Failed);
        }
        let Some(mut task) = self.open.remove(&id) else { return Reaction::none() };
        let reaction = match task.phase {
            Phase::Main { rounds } if !outcome.tool_calls.is_empty() && rounds < self.steps => {
                let rounds = rounds + 1;
                let tool_time = self.answer_calls(&mut task.messages, &outcome.tool_calls, outcome.text.unwrap_or_default());
                let think = self.think_ms.sample();
                if rounds == self.steps && self.sub_agents > 0 {
                    task.phase = Phase::SubAgents { pending: self.sub_agents, answers: Vec::new() };
                    Reaction::follow((0..self.sub_agents).map(|k| self.sub_agent(id, k).delay(tool_time, think)).collect())
                } else {
                    task.phase = if rounds == self.steps { Phase::Final } else { Phase::Main { rounds } };
                    let choice = if rounds == self.steps { ToolChoice::None } else { self.tool_choice.clone() };
                    Reaction::follow(vec![self.turn(id, &mut task.messages, Some(choice)).delay(tool_time, think)])
                }
            }
            Phase::SubAgents { pending, mut answers } => {
                answers.push(outcome.text.unwrap_or_default());
                if pending > 1 {
                    task.phase = Phase::SubAgents { pending: pending - 1, answers };
                    Reaction::none()
                } else {
                    task.messages.push(Message::user(format!("The sub-agents report:\n{}", answers.join("\n"))));
                    task.phase = Phase::Final;
                    Reaction::follow(vec![
                        self.turn(id, &mut task.messages, Some(ToolChoice::None)).delay(Duration::ZERO, self.think_ms.sample()),
                    ])
                }
            }
            // An answer without tool calls, or the final answer: done.
            _ => return Reaction::end(TaskEnd::Completed),
        };
        self.open.insert(id, task);
        reaction
    }
}

impl Agent {
    /// A turn of task `id` carrying `messages`, offering the tools. With the host keeping
    /// the conversation, the messages are handed over (the next turn's start empty).
    fn turn(&self, id: u64, messages: &mut Vec<Message>, choice: Option<ToolChoice>) -> Request {
        let messages = if self.history { std::mem::take(messages) } else { messages.clone() };
        let mut r =
            Request::chat(messages).api(self.api).session(id).max_tokens(self.max_tokens).stream(self.stream).tools(self.tools.clone());
        if self.history {
            r = r.history(0);
        }
        if let Some(c) = choice {
            r = r.tool_choice(c);
        }
        if let Some(m) = &self.model {
            r = r.model(m.clone());
        }
        r
    }

    /// Sub-agent `k` of task `id`: a short context of its own, in the task's session.
    fn sub_agent(&self, id: u64, k: u32) -> Request {
        let messages = vec![
            Message::system("You are a sub-agent. Answer briefly."),
            Message::user(text(self.task_tokens, 5000 + id * 64 + u64::from(k))),
        ];
        let mut r = Request::chat(messages).api(self.api).session(id).max_tokens(self.max_tokens).stream(self.stream).tag("sub-agent");
        if let Some(m) = &self.model {
            r = r.model(m.clone());
        }
        r
    }

    /// Appends the model's turn (unless the host keeps it) and a result per call; the
    /// round's tool time, the slowest of its calls (they run in parallel).
    fn answer_calls(&self, messages: &mut Vec<Message>, calls: &[ToolCall], said: String) -> Duration {
        if !self.history {
            messages.push(Message::assistant_calls(said, calls.to_vec()));
        }
        let mut slowest = Duration::ZERO;
        for call in calls {
            slowest = slowest.max(self.tool_ms.sample());
            messages.push(Message::tool_result(call.id.clone(), text(self.result_tokens, random::u64())));
        }
        slowest
    }
}

export_scenario!(Agent);
