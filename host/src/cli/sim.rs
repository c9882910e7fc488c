//! `volley sim`: the built-in server simulator, served until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use volley::report::console::ConsoleWriter;
use volley::sim::{BatchConfig, SimConfig, Simulator};

use super::exit::Exit;

#[derive(Args, Debug)]
pub struct SimArgs {
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Time to first token, ms
    #[arg(long, default_value_t = 50.0)]
    pub ttft_ms: f64,
    /// Time between chunks, ms
    #[arg(long, default_value_t = 10.0)]
    pub itl_ms: f64,
    /// Relative jitter of every delay, 0 to 1
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,
    /// Tokens per streamed chunk
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    /// Tokens generated when a request sets no max_tokens
    #[arg(long, default_value_t = 64)]
    pub output_tokens: u32,
    /// Model name reported by /v1/models
    #[arg(long, default_value = "volley-sim")]
    pub model: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Count prompts and make each output token a token of this tokenizer.json
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Never send usage, even when asked (like servers that do not support it)
    #[arg(long)]
    pub no_usage: bool,
    /// Generations running at once; the rest queue (0: unlimited)
    #[arg(long, default_value_t = 0)]
    pub slots: u32,
    /// KServe v2 dynamic batching: largest batch (1: no batching)
    #[arg(long, default_value_t = 1)]
    pub max_batch: u32,
    /// KServe v2 dynamic batching: longest wait for a batch to fill, ms
    #[arg(long, default_value_t = 0.0)]
    pub batch_delay_ms: f64,
    /// KServe execution time per batch (v2) or request (v1), ms
    #[arg(long, default_value_t = 0.0)]
    pub service_ms: f64,
    /// Answer 503 "Loading model" for this long after start, ms
    #[arg(long, default_value_t = 0.0)]
    pub startup_delay_ms: f64,
    /// Chat: stream the first N output tokens as reasoning (`reasoning_content`)
    #[arg(long, default_value_t = 0)]
    pub reasoning_tokens: u32,
    /// Chat: answer with a tool call (its arguments streamed) instead of text
    #[arg(long)]
    pub tool_calls: bool,
    /// Report this many prompt tokens as prefix-cache hits (at most the prompt)
    #[arg(long, default_value_t = 0)]
    pub cached_tokens: u32,
    /// Stream each chunk's send instant (Unix microseconds) as its text: ground truth
    /// for a client's per-chunk timestamps
    #[arg(long)]
    pub stamp_chunks: bool,
}

pub(super) async fn sim(a: SimArgs) -> Result<Exit> {
    let config = sim_config(&a)?;
    let addr: SocketAddr =
        format!("{}:{}", a.host, a.port).parse().with_context(|| format!("invalid listen address {}:{}", a.host, a.port))?;
    let sim = Simulator::start(config, addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    ConsoleWriter::stderr().line(&format!("volley sim: OpenAI-compatible simulator on {} (Ctrl-C to stop)", sim.url()));
    super::signals::wait_for_signal().await;
    sim.shutdown().await;
    Ok(Exit::Ok)
}

fn sim_config(a: &SimArgs) -> Result<SimConfig> {
    let ms = |name: &str, v: f64| -> Result<Duration> {
        if !(v.is_finite() && v >= 0.0) {
            bail!("--{name} must be a non-negative number of milliseconds");
        }
        Ok(Duration::from_secs_f64(v / 1000.0))
    };
    if !(0.0..=1.0).contains(&a.jitter) {
        bail!("--jitter must be between 0 and 1");
    }
    if a.tokens_per_chunk == 0 {
        bail!("--tokens-per-chunk must be at least 1");
    }
    Ok(SimConfig {
        ttft: ms("ttft-ms", a.ttft_ms)?,
        itl: ms("itl-ms", a.itl_ms)?,
        jitter: a.jitter,
        tokens_per_chunk: a.tokens_per_chunk,
        default_output_tokens: a.output_tokens,
        model: a.model.clone(),
        seed: a.seed,
        tokenizer: match &a.tokenizer {
            Some(p) => Some(Arc::new(volley::data::Tokenizer::from_file(p)?)),
            None => None,
        },
        usage: !a.no_usage,
        slots: a.slots,
        batching: BatchConfig {
            max_batch: a.max_batch.max(1),
            max_queue_delay: ms("batch-delay-ms", a.batch_delay_ms)?,
            service: ms("service-ms", a.service_ms)?,
        },
        startup_delay: ms("startup-delay-ms", a.startup_delay_ms)?,
        reasoning_tokens: a.reasoning_tokens,
        tool_calls: a.tool_calls,
        cached_tokens: a.cached_tokens,
        stamp_chunks: a.stamp_chunks,
    })
}
