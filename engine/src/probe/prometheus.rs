//! Scraping a Prometheus text endpoint during the run (vLLM `vllm:*`, TGI `tgi_*`,
//! Triton `nv_inference_*`, llama.cpp `llamacpp:*`, SGLang `sglang:*`, the simulator's
//! `volley_sim:*`): a time series per selected sample, and per-stage start/end/delta
//! and peaks. Each answer is read through the bounded reader ([`super::answer`], at most
//! [`METRICS_BYTES`]) and kept within the bounds of [`super::series`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use volley_net::Checked;
use volley_report::server::Scrapes;

use super::answer::{self, METRICS_BYTES};
use super::series::SeriesStore;

/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Metric name prefixes kept when the operator names none.
/// DCGM exporter series (`DCGM_FI_DEV_GPU_UTIL`, …) are kept too: GPU telemetry of the
/// server's own machine when it runs one.
pub const DEFAULT_PREFIXES: &[&str] = &["vllm:", "tgi_", "nv_inference_", "llamacpp:", "sglang:", "volley_sim:", "DCGM_FI_"];

/// The scraper task; [`Scraper::sample`] takes a sample now (at stage boundaries),
/// [`Scraper::finish`] takes one last sample and returns them all.
pub struct Scraper {
    stop: Arc<Notify>,
    now: mpsc::Sender<oneshot::Sender<()>>,
    task: JoinHandle<Scrapes>,
}

impl Scraper {
    pub fn start(to: Checked, interval: Duration, prefixes: Vec<String>, epoch: Instant) -> Scraper {
        let stop = Arc::new(Notify::new());
        let (now, mut now_rx) = mpsc::channel::<oneshot::Sender<()>>(4);
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let url = to.to_string();
                let start = Scrapes { url, interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX), ..Scrapes::default() };
                let mut store = SeriesStore::new(start, prefixes);
                let mut every = interval;
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    let (stopping, ack) = tokio::select! {
                        _ = tick.tick() => (false, None),
                        Some(ack) = now_rx.recv() => (false, Some(ack)),
                        _ = stop.notified() => (true, None),
                    };
                    // A sample at a stage boundary (asked for) is kept through thinning.
                    if scrape_once(&to, &mut store, epoch, ack.is_some() || stopping).await {
                        every = every.saturating_mul(2);
                        tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    }
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                    if stopping {
                        return store.scrapes;
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

/// The warnings a run's scrapes call for (samples not kept, thinning).
pub fn warnings(s: &Scrapes) -> Vec<String> {
    SeriesStore::warnings(s)
}

/// One scrape; true when the kept samples were thinned (the interval should double).
async fn scrape_once(to: &Checked, store: &mut SeriesStore, epoch: Instant, pinned: bool) -> bool {
    let ms = |t: f64| (t * 1000.0).round() / 1000.0;
    let at = ms(epoch.elapsed().as_secs_f64() * 1000.0);
    let error = match answer::fetch(to, SCRAPE_TIMEOUT, METRICS_BYTES).await {
        Ok((200, body)) => return store.ingest(&body, at, ms(epoch.elapsed().as_secs_f64() * 1000.0), pinned),
        Ok((status, _)) => format!("HTTP {status}"),
        Err(e) => e,
    };
    let s = &mut store.scrapes;
    s.errors = s.errors.saturating_add(1);
    s.last_error = Some(error);
    false
}
