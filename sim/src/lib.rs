//! # volley-sim
//!
//! `volley sim`: a built-in OpenAI-compatible server simulator, for dry runs before a
//! GPU is involved and for Volley's own tests.
//!
//! It serves `/v1/completions` and `/v1/chat/completions` (streamed and not, with
//! `usage`, honouring `stream_options.include_usage`), `/v1/embeddings`, TGI's
//! `/generate` and `/generate_stream`, KServe v1 `:predict`, KServe v2 `infer` with
//! Triton-style `stats`, `/predict` (the plain-HTTP seeds), `/v1/models`, `/health`,
//! `/v2/health/*`, Prometheus `/metrics`, and `/sim/stats` (requests seen, in flight
//! now, most in flight at once, requests per model).
//!
//! Queueing: with `slots`, at most that many generations run at once and the rest wait
//! in arrival order, so queueing delay shows up in TTFT as on a real server. KServe v2
//! requests go through a dynamic batcher ([`batcher`]): see how batching trades
//! queueing delay for throughput before touching a GPU. Timing: the
//! first chunk at TTFT, then one chunk every ITL, each chunk carrying
//! `tokens_per_chunk` tokens; `jitter` scales every delay by a uniform factor in
//! [1 − jitter, 1 + jitter]. Each request generates `max_tokens` tokens (or the
//! configured default), so token counts are exact; with a tokenizer, each generated
//! token is one token of that tokenizer and prompts are counted with it, so usage
//! matches what a real server with that tokenizer would report. `usage: false` never
//! sends usage (like llama-cpp-python's server), for testing client-side counting.
//! Chat can stream reasoning first (`reasoning_tokens`), answer with a tool call
//! instead of text (`tool_calls`), and report prefix-cache hits (`cached_tokens`);
//! content parts (text, `image_url`, `input_audio`) are accepted and image parts counted.
//!
//! Agents (`agents.rs`): a chat request offering `tools` is answered with tool calls
//! (`tool_call_rate`, `parallel_tools`, `tool_choice`; seeded), streamed as OpenAI
//! does (a delta opening each call, then its arguments in pieces, one output chunk
//! each); every id issued is remembered, and the ids requests send back (`tool`
//! messages, assistant `tool_calls`) are counted as matched or unknown in `/sim/stats`.
//!
//! Responses and Messages (`responses_api.rs`, `messages_api.rs`): OpenAI's
//! `/v1/responses` and Anthropic's `/v1/messages`, each request read as the chat request
//! it amounts to and served by the same generation (`serve.rs`): the same prompt
//! counts, timing, tool calls, id ledger and prefix cache, written in that API's wire
//! format (a `stream::Wire`).
//!
//! Prefix cache (`prefix_cache.rs`): with `prefix_cache_blocks`, prompts are cut into
//! hash-chained blocks of `block_tokens` in a shared LRU cache, usage reports
//! `prompt_tokens_details.cached_tokens`, and `prefill_per_token` × the uncached prompt
//! tokens adds to TTFT. `/sim/stats` keeps the ground truth of both.

mod agents;
#[cfg(test)]
mod agents_over_http;
mod batcher;
mod content;
mod generation;
mod handler;
mod kserve;
mod messages_api;
mod prefix_cache;
mod response;
#[cfg(test)]
mod responses_and_messages_over_http;
mod responses_api;
mod serve;
mod stream;

pub use batcher::BatchConfig;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use volley_data::Tokenizer;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub ttft: Duration,
    /// Gap between chunks.
    pub itl: Duration,
    /// Relative jitter of each delay, 0 to 1.
    pub jitter: f64,
    pub tokens_per_chunk: u32,
    /// Tokens generated when a request sets no `max_tokens`.
    pub default_output_tokens: u32,
    pub model: String,
    pub seed: u64,
    /// Count prompts and make output tokens with this tokenizer.
    pub tokenizer: Option<Arc<Tokenizer>>,
    /// Send usage when asked (`stream_options.include_usage`, non-streamed bodies).
    pub usage: bool,
    /// Generations running at once (0: unlimited); the rest queue.
    pub slots: u32,
    /// KServe v2 dynamic batching.
    pub batching: BatchConfig,
    /// Answer 503 "Loading model" to everything for this long after the process
    /// started, as llama-server does while it loads (for testing readiness probes).
    pub startup_delay: Duration,
    /// Chat: the first this many output tokens stream as `reasoning_content` (and
    /// usage says so in `completion_tokens_details.reasoning_tokens`).
    pub reasoning_tokens: u32,
    /// Chat requests that offer no `tools`: the answer streams as one tool call's
    /// arguments (of a tool named `lookup`) instead of content.
    pub tool_calls: bool,
    /// Chat requests that offer `tools` with `tool_choice` absent or `"auto"`: the
    /// probability of answering with tool calls (0 to 1). `"required"` or a named
    /// function always does, `"none"` never, nor does a request whose last message is
    /// a tool result (unless `"required"`).
    pub tool_call_rate: f64,
    /// Tool calls in one answer: uniform in this range (at least 1).
    pub parallel_tools: std::ops::RangeInclusive<u32>,
    /// Prompt tokens reported as served from the prefix cache (at most the prompt);
    /// ignored when `prefix_cache_blocks` is set.
    pub cached_tokens: u32,
    /// Prefix KV cache capacity in blocks (0: no cache).
    pub prefix_cache_blocks: u64,
    /// Tokens per prefix-cache block.
    pub block_tokens: u32,
    /// Prefill time per prompt token not served from the prefix cache, added to TTFT.
    pub prefill_per_token: Duration,
    /// Each streamed chunk's text is its send instant instead (" " and microseconds since
    /// the Unix epoch, read just before the chunk is handed to the connection): ground
    /// truth for measuring a client's TTFT/ITL timestamps (`scripts/bench.sh`).
    pub stamp_chunks: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
            jitter: 0.0,
            tokens_per_chunk: 1,
            default_output_tokens: 64,
            model: "volley-sim".into(),
            seed: 0,
            tokenizer: None,
            usage: true,
            slots: 0,
            batching: BatchConfig { max_batch: 1, max_queue_delay: Duration::ZERO, service: Duration::ZERO },
            startup_delay: Duration::ZERO,
            reasoning_tokens: 0,
            tool_calls: false,
            tool_call_rate: 1.0,
            parallel_tools: 1..=1,
            cached_tokens: 0,
            prefix_cache_blocks: 0,
            block_tokens: 16,
            prefill_per_token: Duration::ZERO,
            stamp_chunks: false,
        }
    }
}

/// Counters the simulator keeps, served at `/sim/stats`.
#[derive(Debug, Default)]
pub struct SimStats {
    pub requests: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
    /// Generations waiting for a slot.
    pub waiting: AtomicU64,
    pub tokens_generated: AtomicU64,
    /// Image content parts received in chat messages.
    pub image_parts: AtomicU64,
    /// Requests per model named in the request (the simulator's own stats endpoint, not
    /// a hot path).
    pub by_model: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// Tool-call ids issued (each call of each answer).
    pub tool_calls_issued: AtomicU64,
    /// Requests answered with tool calls.
    pub tool_call_answers: AtomicU64,
    /// `tool` messages received (every request, every such message in its history).
    pub tool_results_received: AtomicU64,
    /// ... whose `tool_call_id` this simulator issued.
    pub tool_results_matched: AtomicU64,
    /// ... whose `tool_call_id` it did not (or has forgotten).
    pub tool_results_unknown: AtomicU64,
    /// Ids of assistant messages' `tool_calls` received (every request's history).
    pub assistant_tool_calls_received: AtomicU64,
    pub assistant_tool_calls_matched: AtomicU64,
    pub assistant_tool_calls_unknown: AtomicU64,
    /// Prompt tokens looked up in the prefix cache.
    pub prefix_cache_prompt_tokens: AtomicU64,
    /// Of those, tokens served from it.
    pub prefix_cache_hit_tokens: AtomicU64,
    /// Blocks evicted.
    pub prefix_cache_evictions: AtomicU64,
    /// Held while the two prefix-cache token counters change, and while a snapshot
    /// reads them, so a snapshot's ratio is of one consistent pair.
    prefix_cache_pair: std::sync::Mutex<()>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimStatsSnapshot {
    pub requests: u64,
    pub in_flight: u64,
    pub max_in_flight: u64,
    pub waiting: u64,
    pub tokens_generated: u64,
    pub image_parts: u64,
    pub by_model: std::collections::BTreeMap<String, u64>,
    pub tool_calls_issued: u64,
    pub tool_call_answers: u64,
    pub tool_results_received: u64,
    pub tool_results_matched: u64,
    pub tool_results_unknown: u64,
    pub assistant_tool_calls_received: u64,
    pub assistant_tool_calls_matched: u64,
    pub assistant_tool_calls_unknown: u64,
    pub prefix_cache_prompt_tokens: u64,
    pub prefix_cache_hit_tokens: u64,
    /// `prefix_cache_hit_tokens / prefix_cache_prompt_tokens`, 0 when nothing was looked up.
    pub prefix_cache_hit_ratio: f64,
    pub prefix_cache_evictions: u64,
}

impl SimStats {
    pub fn snapshot(&self) -> SimStatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (prompt, hit) = {
            // Read together with their updates, so the ratio is of one consistent pair.
            let _pair = self.prefix_cache_pair.lock().unwrap_or_else(|p| p.into_inner());
            (load(&self.prefix_cache_prompt_tokens), load(&self.prefix_cache_hit_tokens))
        };
        SimStatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            tokens_generated: self.tokens_generated.load(Ordering::Relaxed),
            image_parts: self.image_parts.load(Ordering::Relaxed),
            by_model: self.by_model.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            tool_calls_issued: load(&self.tool_calls_issued),
            tool_call_answers: load(&self.tool_call_answers),
            tool_results_received: load(&self.tool_results_received),
            tool_results_matched: load(&self.tool_results_matched),
            tool_results_unknown: load(&self.tool_results_unknown),
            assistant_tool_calls_received: load(&self.assistant_tool_calls_received),
            assistant_tool_calls_matched: load(&self.assistant_tool_calls_matched),
            assistant_tool_calls_unknown: load(&self.assistant_tool_calls_unknown),
            prefix_cache_prompt_tokens: prompt,
            prefix_cache_hit_tokens: hit,
            prefix_cache_hit_ratio: if prompt == 0 { 0.0 } else { hit as f64 / prompt as f64 },
            prefix_cache_evictions: load(&self.prefix_cache_evictions),
        }
    }

    fn count_prefix_lookup(&self, prompt_tokens: u32, hit_tokens: u32, evictions: u64) {
        {
            let _pair = self.prefix_cache_pair.lock().unwrap_or_else(|p| p.into_inner());
            self.prefix_cache_prompt_tokens.fetch_add(u64::from(prompt_tokens), Ordering::Relaxed);
            self.prefix_cache_hit_tokens.fetch_add(u64::from(hit_tokens), Ordering::Relaxed);
        }
        self.prefix_cache_evictions.fetch_add(evictions, Ordering::Relaxed);
    }

    fn count_model(&self, model: &str) {
        *self.by_model.lock().unwrap_or_else(|p| p.into_inner()).entry(model.to_string()).or_default() += 1;
    }
}

/// Counts a generation as in flight from its start until its response is complete.
pub(crate) struct InFlight(Arc<SimStats>);

impl InFlight {
    fn new(stats: &Arc<SimStats>) -> Self {
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) struct Shared {
    config: SimConfig,
    stats: Arc<SimStats>,
    next_id: AtomicU64,
    slots: Option<Arc<tokio::sync::Semaphore>>,
    batcher: batcher::Batcher,
    /// Until when everything answers 503.
    loading_until: std::time::Instant,
    /// The prefix KV cache, when configured.
    prefix_cache: Option<std::sync::Mutex<prefix_cache::PrefixCache>>,
    /// Tool-call ids issued.
    issued_ids: agents::IssuedIds,
}

impl Shared {
    /// Tokens of a text: the configured tokenizer's count, else whitespace words.
    fn count_tokens(&self, text: &str) -> u32 {
        match &self.config.tokenizer {
            Some(t) => t.count(text) as u32,
            None => text.split_whitespace().count() as u32,
        }
    }
}

/// A running simulator; stops when [`Simulator::shutdown`] is called or it is dropped.
pub struct Simulator {
    addr: SocketAddr,
    stats: Arc<SimStats>,
    stop: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Binds `addr` (port 0 picks a free one) and serves in the background.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(SimStats::default());
        let slots = (config.slots > 0).then(|| Arc::new(tokio::sync::Semaphore::new(config.slots as usize)));
        let batcher = batcher::Batcher::start(config.batching);
        let loading_until = volley_core::time::process_start() + config.startup_delay;
        let prefix_cache = (config.prefix_cache_blocks > 0)
            .then(|| std::sync::Mutex::new(prefix_cache::PrefixCache::new(config.prefix_cache_blocks, config.block_tokens)));
        let shared = Arc::new(Shared {
            config,
            stats: stats.clone(),
            next_id: AtomicU64::new(0),
            slots,
            batcher,
            loading_until,
            prefix_cache,
            issued_ids: agents::IssuedIds::default(),
        });
        let stop = Arc::new(Notify::new());
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    let accepted = tokio::select! {
                        a = listener.accept() => a,
                        _ = stop.notified() => break,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(handler::handle(req, &shared).await) }
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
            })
        };
        Ok(Simulator { addr, stats, stop, task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, usable as a `--target`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> SimStatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops accepting connections (open ones finish on their own).
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}
