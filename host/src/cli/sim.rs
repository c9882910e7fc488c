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
    /// Port to listen on
    #[arg(long, default_value_t = 8000, help_heading = "Server")]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1", help_heading = "Server")]
    pub host: String,
    /// Model name reported by /v1/models
    #[arg(long, default_value = "volley-sim", help_heading = "Server")]
    pub model: String,
    /// Seed of every random draw (jitter, tool calls), so runs repeat
    #[arg(long, default_value_t = 0, help_heading = "Server")]
    pub seed: u64,
    /// Answer 503 "Loading model" for this long after start, ms
    #[arg(long, default_value_t = 0.0, help_heading = "Server")]
    pub startup_delay_ms: f64,
    /// Time to first token, ms
    #[arg(long, default_value_t = 50.0, help_heading = "Timing")]
    pub ttft_ms: f64,
    /// Time between chunks, ms
    #[arg(long, default_value_t = 10.0, help_heading = "Timing")]
    pub itl_ms: f64,
    /// Relative jitter of every delay, 0 to 1
    #[arg(long, default_value_t = 0.0, help_heading = "Timing")]
    pub jitter: f64,
    /// Tokens per streamed chunk
    #[arg(long, default_value_t = 1, help_heading = "Timing")]
    pub tokens_per_chunk: u32,
    /// Tokens generated when a request sets no max_tokens
    #[arg(long, default_value_t = 64, help_heading = "Timing")]
    pub output_tokens: u32,
    /// Generations running at once; the rest queue (0: unlimited)
    #[arg(long, default_value_t = 0, help_heading = "Timing")]
    pub slots: u32,
    /// Count prompts and make each output token a token of this tokenizer.json
    #[arg(long, help_heading = "Answers")]
    pub tokenizer: Option<PathBuf>,
    /// Never send usage, even when asked (like servers that do not support it)
    #[arg(long, help_heading = "Answers")]
    pub no_usage: bool,
    /// Chat: stream the first N output tokens as reasoning (`reasoning_content`)
    #[arg(long, default_value_t = 0, help_heading = "Answers")]
    pub reasoning_tokens: u32,
    /// Stream each chunk's send instant (Unix microseconds) as its text: ground truth
    /// for a client's per-chunk timestamps
    #[arg(long, help_heading = "Answers")]
    pub stamp_chunks: bool,
    /// Chat requests offering `tools`, tool_choice absent or "auto": probability of
    /// answering with tool calls, 0 to 1 ("required" always does, "none" never)
    #[arg(long, default_value_t = 1.0, help_heading = "Tool calls (agents)")]
    pub tool_call_rate: f64,
    /// Tool calls in one answer: N, or A-B for uniform in A..=B (1 to 128)
    #[arg(long, default_value = "1", value_name = "N|A-B", help_heading = "Tool calls (agents)")]
    pub parallel_tools: String,
    /// Chat requests offering no tools: answer with one `lookup` tool call (its
    /// arguments streamed) instead of text
    #[arg(long, help_heading = "Tool calls (agents)")]
    pub tool_calls: bool,
    /// Prefix KV cache capacity in blocks, LRU (0: no cache); usage reports its hits
    #[arg(long, default_value_t = 0, help_heading = "Prefix cache")]
    pub prefix_cache_blocks: u64,
    /// Tokens per prefix-cache block
    #[arg(long, default_value_t = 16, help_heading = "Prefix cache")]
    pub block_tokens: u32,
    /// Prefill time per prompt token not served from the cache, added to TTFT, µs
    #[arg(long, default_value_t = 0.0, help_heading = "Prefix cache")]
    pub prefill_us_per_token: f64,
    /// Without a cache: report this many prompt tokens as prefix-cache hits
    #[arg(long, default_value_t = 0, help_heading = "Prefix cache")]
    pub cached_tokens: u32,
    /// KServe v2 dynamic batching: largest batch (1: no batching)
    #[arg(long, default_value_t = 1, help_heading = "KServe batching")]
    pub max_batch: u32,
    /// KServe v2 dynamic batching: longest wait for a batch to fill, ms
    #[arg(long, default_value_t = 0.0, help_heading = "KServe batching")]
    pub batch_delay_ms: f64,
    /// KServe execution time per batch (v2) or request (v1), ms
    #[arg(long, default_value_t = 0.0, help_heading = "KServe batching")]
    pub service_ms: f64,
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
    if !(0.0..=1.0).contains(&a.tool_call_rate) {
        bail!("--tool-call-rate must be between 0 and 1 (got {})", a.tool_call_rate);
    }
    let parallel_tools = parallel_tools(&a.parallel_tools)?;
    if a.block_tokens == 0 {
        bail!("--block-tokens must be at least 1");
    }
    if !(a.prefill_us_per_token.is_finite() && a.prefill_us_per_token >= 0.0) {
        bail!("--prefill-us-per-token must be a non-negative number of microseconds (got {})", a.prefill_us_per_token);
    }
    if a.prefix_cache_blocks > 0 && a.cached_tokens > 0 {
        bail!("--cached-tokens and --prefix-cache-blocks exclude each other: the cache reports its own hits");
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
        tool_call_rate: a.tool_call_rate,
        parallel_tools,
        cached_tokens: a.cached_tokens,
        prefix_cache_blocks: a.prefix_cache_blocks,
        block_tokens: a.block_tokens,
        prefill_per_token: Duration::from_secs_f64(a.prefill_us_per_token / 1e6),
        stamp_chunks: a.stamp_chunks,
    })
}

/// Most tool calls in one answer.
const MAX_PARALLEL_TOOLS: u32 = 128;

/// `--parallel-tools`: `N` or `A-B`.
fn parallel_tools(s: &str) -> Result<std::ops::RangeInclusive<u32>> {
    let bad = || anyhow::anyhow!("--parallel-tools must be N or A-B with 1 <= A <= B <= {MAX_PARALLEL_TOOLS} (got '{s}')");
    let (lo, hi) = match s.split_once('-') {
        Some((lo, hi)) => (lo.trim().parse::<u32>().map_err(|_| bad())?, hi.trim().parse::<u32>().map_err(|_| bad())?),
        None => {
            let n = s.trim().parse::<u32>().map_err(|_| bad())?;
            (n, n)
        }
    };
    if lo == 0 || lo > hi || hi > MAX_PARALLEL_TOOLS {
        return Err(bad());
    }
    Ok(lo..=hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_tools_is_n_or_a_range() {
        assert_eq!(parallel_tools("1").unwrap(), 1..=1);
        assert_eq!(parallel_tools("2-4").unwrap(), 2..=4);
        for bad in ["0", "3-2", "1-129", "x", "1-", "-2", ""] {
            let e = parallel_tools(bad).unwrap_err().to_string();
            assert!(e.starts_with("--parallel-tools must be"), "{bad}: {e}");
        }
    }
}
