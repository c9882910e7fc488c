//! `multi-turn`: conversations in which every turn carries the conversation so far —
//! the previous user messages and the model's actual answers, fed back through
//! `react`. `concurrency` conversations are open at once (a closed loop of sessions);
//! each is a task whose next turn follows its previous answer at once, by the host's
//! clock, and which ends completed after its last turn, or failed with a failed turn.
//! Requests are tagged by turn (`turn-1`, ...), so the report shows how latency grows
//! with the context.
//!
//! User messages come from a granted dataset's user turns (`dataset`, any format), or
//! are synthetic texts of `user_tokens` tokens (needs `--tokenizer`), or, without
//! either, short built-in questions.
//!
//! Parameters: `conversations` (default 8), `turns` (default 4), `concurrency`
//! (default 4), `user_tokens` (default 32), `output_tokens` (default 32), `system`
//! (a system prompt), `dataset`, `stream` (default true), `model`, `duration_s`.

use std::time::Duration;

use volley_sdk::datasets::Dataset;
use volley_sdk::{
    ErrorClass, Load, Message, Next, Outcome, Params, Plan, Reaction, Request, RequestContext, Scenario, Stage, TaskEnd, export_scenario,
    log, random, tokenizer,
};

const QUESTIONS: &[&str] = &[
    "What is a good name for a cat?",
    "Why is that a good name?",
    "Give me another one.",
    "Which of them do you prefer?",
    "Write a short poem using it.",
    "Make the poem rhyme.",
];

struct Conversation {
    messages: Vec<Message>,
    /// Turns answered so far.
    answered: u32,
    /// From the dataset, when one is used.
    user_turns: Vec<String>,
}

struct MultiTurn {
    conversations: Vec<Conversation>,
    total: usize,
    turns: u32,
    concurrency: usize,
    user_tokens: u32,
    output_tokens: u32,
    system: Option<String>,
    dataset: Option<Dataset>,
    stream: bool,
    model: Option<String>,
    duration: Option<Duration>,
}

impl Scenario for MultiTurn {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Multi-turn conversations carrying their history, answers fed back from outcomes")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        params.allow_only(&[
            "conversations",
            "turns",
            "concurrency",
            "user_tokens",
            "output_tokens",
            "system",
            "dataset",
            "stream",
            "model",
            "duration_s",
        ])?;
        let total = params.u64("conversations", 8)? as usize;
        let turns = params.u32("turns", 4)?;
        let concurrency = params.u32("concurrency", 4)? as usize;
        if total == 0 || turns == 0 || concurrency == 0 {
            return Err("`conversations`, `turns` and `concurrency` must be at least 1".into());
        }
        let dataset = params.opt_string("dataset")?.map(|name| Dataset::open(&name)).transpose()?;
        Ok(MultiTurn {
            conversations: Vec::new(),
            total,
            turns,
            concurrency,
            user_tokens: params.u32("user_tokens", 32)?,
            output_tokens: params.u32("output_tokens", 32)?,
            system: params.opt_string("system")?,
            dataset,
            stream: params.bool("stream", true)?,
            model: params.opt_string("model")?,
            duration: params.get("duration_s").map(|_| params.f64("duration_s", 0.0)).transpose()?.map(Duration::from_secs_f64),
        })
    }

    fn plan(&self) -> Plan {
        // The stage's `max_requests` counts the conversations opened.
        let mut stage = Stage::new("conversations", Load::sessions(self.concurrency as u32)).max_requests(self.total as u64);
        if let Some(d) = self.duration {
            stage = stage.duration(d);
        }
        Plan::new().stage(stage).observe_outcomes(true)
    }

    /// A new conversation's first turn; its later turns follow from `react`.
    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        if self.conversations.len() >= self.total {
            return Next::Done;
        }
        let index = self.start_conversation();
        Next::Send(self.turn(index))
    }

    fn react(&mut self, outcome: Outcome) -> Reaction {
        let Some(index) = outcome.session else { return Reaction::none() };
        let turns = self.turns;
        let Some(c) = self.conversations.get_mut(index as usize) else { return Reaction::none() };
        match (outcome.ok, outcome.text) {
            (true, Some(text)) => {
                c.messages.push(Message::assistant(text));
                c.answered += 1;
                if c.answered >= turns { Reaction::end(TaskEnd::Completed) } else { Reaction::follow(vec![self.turn(index as usize)]) }
            }
            // Not sent by this process (another shard's conversation, or the run was
            // interrupted): the conversation ends here without a word.
            _ if outcome.error == Some(ErrorClass::Cancelled) => {
                c.answered = turns;
                Reaction::end(TaskEnd::Failed)
            }
            _ => {
                log::warn(&format!("conversation {index} ended early: turn {} failed", c.answered + 1));
                c.answered = turns;
                Reaction::end(TaskEnd::Failed)
            }
        }
    }
}

impl MultiTurn {
    fn start_conversation(&mut self) -> usize {
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(Message::system(system.clone()));
        }
        let user_turns = match &self.dataset {
            Some(ds) => ds
                .row(random::below(ds.len()))
                .map(|row| row.messages.into_iter().filter(|m| m.role == "user").map(|m| m.content).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        self.conversations.push(Conversation { messages, answered: 0, user_turns });
        self.conversations.len() - 1
    }

    /// Conversation `index`'s next turn: its history and a new user message.
    fn turn(&mut self, index: usize) -> Request {
        let user = self.user_message(index);
        let conversation = &mut self.conversations[index];
        conversation.messages.push(Message::user(user));
        let turn = conversation.answered + 1;
        let mut r = Request::chat(conversation.messages.clone())
            .session(index as u64)
            .exact_output(self.output_tokens)
            .stream(self.stream)
            .tag(format!("turn-{turn}"));
        if let Some(m) = &self.model {
            r = r.model(m.clone());
        }
        r
    }

    fn user_message(&self, index: usize) -> String {
        let c = &self.conversations[index];
        let turn = c.answered as usize;
        if let Some(text) = c.user_turns.get(turn) {
            return text.clone();
        }
        if tokenizer::available() {
            return tokenizer::synth_text(self.user_tokens, random::u64());
        }
        QUESTIONS[turn % QUESTIONS.len()].to_string()
    }
}

export_scenario!(MultiTurn);
