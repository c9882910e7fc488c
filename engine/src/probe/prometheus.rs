//! Scraping a Prometheus text endpoint during the run (vLLM `vllm:*`, TGI `tgi_*`,
//! Triton `nv_inference_*`, llama.cpp `llamacpp:*`, SGLang `sglang:*`, the simulator's
//! `volley_sim:*`): a time series per selected sample, and per-stage start/end/delta
//! and peaks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use volley_net::http::get;
use volley_report::server::Scrapes;

/// Metric name prefixes kept when the operator names none.
/// DCGM exporter series (`DCGM_FI_DEV_GPU_UTIL`, …) are kept too: GPU telemetry of the
/// server's own machine when it runs one.
pub const DEFAULT_PREFIXES: &[&str] = &["vllm:", "tgi_", "nv_inference_", "llamacpp:", "sglang:", "volley_sim:", "DCGM_FI_"];

/// One sample line: `name{labels} value [timestamp]`, as (series key, value).
pub fn parse_line(line: &str) -> Option<(&str, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // The key runs to the end of the labels (if any), else to the first space.
    let key_end = match (line.find('{'), line.find(' ')) {
        (Some(brace), Some(space)) if brace < space => line[brace..].find('}').map(|i| brace + i + 1)?,
        (_, Some(space)) => space,
        _ => return None,
    };
    let (key, rest) = line.split_at(key_end);
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((key, value))
}

/// The scraper task; [`Scraper::sample`] takes a sample now (at stage boundaries),
/// [`Scraper::finish`] takes one last sample and returns them all.
pub struct Scraper {
    stop: Arc<Notify>,
    now: mpsc::Sender<oneshot::Sender<()>>,
    task: JoinHandle<Scrapes>,
}

impl Scraper {
    pub fn start(url: String, interval: Duration, prefixes: Vec<String>, epoch: Instant) -> Scraper {
        let stop = Arc::new(Notify::new());
        let (now, mut now_rx) = mpsc::channel::<oneshot::Sender<()>>(4);
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut s = Scrapes { url: url.clone(), interval_ms: interval.as_millis() as u64, ..Scrapes::default() };
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    let (stopping, ack) = tokio::select! {
                        _ = tick.tick() => (false, None),
                        Some(ack) = now_rx.recv() => (false, Some(ack)),
                        _ = stop.notified() => (true, None),
                    };
                    scrape_once(&mut s, &prefixes, epoch).await;
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                    if stopping {
                        return s;
                    }
                }
            })
        };
        Scraper { stop, now, task }
    }

    /// Takes a sample now and waits for it.
    pub async fn sample(&self) {
        let (ack, done) = oneshot::channel();
        if self.now.send(ack).await.is_ok() {
            let _ = done.await;
        }
    }

    pub async fn finish(self) -> Scrapes {
        self.stop.notify_one();
        self.task.await.unwrap_or_default()
    }
}

async fn scrape_once(s: &mut Scrapes, prefixes: &[String], epoch: Instant) {
    let ms = |t: f64| (t * 1000.0).round() / 1000.0;
    let at = ms(epoch.elapsed().as_secs_f64() * 1000.0);
    match get(&s.url, Duration::from_secs(5)).await {
        Ok((200, body)) => {
            s.scrapes += 1;
            s.scrape_times.push((at, ms(epoch.elapsed().as_secs_f64() * 1000.0)));
            for (key, value) in String::from_utf8_lossy(&body).lines().filter_map(parse_line) {
                if prefixes.iter().any(|p| key.starts_with(p.as_str())) {
                    s.series.entry(key.to_string()).or_default().push((at, value));
                }
            }
        }
        Ok((status, _)) => {
            s.errors += 1;
            s.last_error = Some(format!("HTTP {status}"));
        }
        Err(e) => {
            s.errors += 1;
            s.last_error = Some(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exposition_lines() {
        assert_eq!(parse_line("llamacpp:requests_processing 3"), Some(("llamacpp:requests_processing", 3.0)));
        assert_eq!(
            parse_line(r#"nv_inference_count{model="sum_fp32",version="1"} 4103 1700000000000"#),
            Some((r#"nv_inference_count{model="sum_fp32",version="1"}"#, 4103.0))
        );
        assert_eq!(parse_line(r#"vllm:x{a="b c"} 1.5e3"#), Some((r#"vllm:x{a="b c"}"#, 1500.0)));
        assert_eq!(parse_line("# HELP x y"), None);
        assert!(parse_line("m NaN").unwrap().1.is_nan());
    }
}
