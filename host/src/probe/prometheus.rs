//! Scraping a Prometheus text endpoint during the run (vLLM `vllm:*`, TGI `tgi_*`,
//! Triton `nv_inference_*`, llama.cpp `llamacpp:*`, SGLang `sglang:*`, the simulator's
//! `volley_sim:*`): a time series per selected sample, and per-stage start/end/delta
//! and peaks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::get::get;

/// Metric name prefixes kept when the operator names none.
pub const DEFAULT_PREFIXES: &[&str] = &["vllm:", "tgi_", "nv_inference_", "llamacpp:", "sglang:", "volley_sim:"];

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

#[derive(Debug, Clone, Default, Serialize)]
pub struct Scrapes {
    pub url: String,
    pub interval_ms: u64,
    pub scrapes: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// Series key → [(ms since the run's start when the scrape was sent, value)].
    pub series: BTreeMap<String, Vec<(f64, f64)>>,
    /// Each successful scrape: (sent, answered), ms since the run's start. The server
    /// took its values somewhere in between.
    pub scrape_times: Vec<(f64, f64)>,
}

/// A series over one stage.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesWindow {
    pub first: f64,
    pub last: f64,
    /// last − first (the increase of a counter).
    pub delta: f64,
    /// Over the finite samples; None when there were none (NaN quantiles of an idle
    /// summary).
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub samples: usize,
}

impl SeriesWindow {
    /// The series moved during the window.
    pub fn changed(&self) -> bool {
        self.min.zip(self.max).is_some_and(|(lo, hi)| hi > lo) || (self.delta.is_finite() && self.delta != 0.0)
    }
}

impl Scrapes {
    /// When the scrape sent at `sent` was answered.
    fn answered(&self, sent: f64) -> f64 {
        match self.scrape_times.binary_search_by(|(s, _)| s.total_cmp(&sent)) {
            Ok(i) => self.scrape_times[i].1,
            Err(_) => sent,
        }
    }

    /// Each series over a stage from `from_ms` to `to_ms` (ms since the run's start):
    /// from the last sample answered before the stage began (the baseline) to the first
    /// sample sent after it ended, so a counter's delta covers exactly the stage even
    /// when a scrape is slow.
    pub fn window(&self, from_ms: f64, to_ms: f64) -> BTreeMap<String, SeriesWindow> {
        let mut out = BTreeMap::new();
        for (key, points) in &self.series {
            let start = points.iter().rposition(|(t, _)| self.answered(*t) <= from_ms).unwrap_or(0);
            let end = points.iter().position(|(t, _)| *t >= to_ms).unwrap_or(points.len().saturating_sub(1));
            let inside: Vec<f64> = points.get(start..=end).unwrap_or(&[]).iter().map(|p| p.1).collect();
            let (Some(first), Some(last)) = (inside.first(), inside.last()) else { continue };
            let finite: Vec<f64> = inside.iter().copied().filter(|v| v.is_finite()).collect();
            let (min, max, mean) = match finite.is_empty() {
                true => (None, None, None),
                false => (
                    Some(finite.iter().copied().fold(f64::INFINITY, f64::min)),
                    Some(finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                    Some(finite.iter().sum::<f64>() / finite.len() as f64),
                ),
            };
            out.insert(
                key.clone(),
                SeriesWindow { first: *first, last: *last, delta: last - first, min, max, mean, samples: inside.len() },
            );
        }
        out
    }
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
            s.last_error = Some(format!("{e:#}"));
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

    #[test]
    fn windows() {
        let mut s = Scrapes::default();
        s.series.insert("c".into(), vec![(0.0, 1.0), (100.0, 5.0), (200.0, 9.0), (300.0, 10.0)]);
        // Baseline at 0 (last before 50), end at 300 (first after 250).
        let w = &s.window(50.0, 250.0)["c"];
        assert_eq!((w.first, w.last, w.delta, w.max, w.samples), (1.0, 10.0, 9.0, Some(10.0), 4));
        let w = &s.window(100.0, 200.0)["c"];
        assert_eq!((w.first, w.last, w.delta), (5.0, 9.0, 4.0));
        // A scrape sent at 100 but answered at 130, after a stage began at 120, may
        // already count the stage's work: the baseline is the one before it.
        s.scrape_times = vec![(0.0, 5.0), (100.0, 130.0), (200.0, 205.0), (300.0, 301.0)];
        let w = &s.window(120.0, 250.0)["c"];
        assert_eq!((w.first, w.last), (1.0, 10.0));
        assert!(w.changed());
    }
}
