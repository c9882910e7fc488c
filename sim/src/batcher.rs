//! The simulator's dynamic batcher for KServe v2 `infer`, modelled on Triton's: a
//! request waits up to `max_queue_delay` for others to join it, a batch closes at
//! `max_batch` requests, and each batch takes `service` time to execute. Executed batch
//! sizes are counted per model, served at `/v2/models/{m}/versions/{v}/stats` in
//! Triton's format, so a load test can check batching the way the Triton tutorial does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    pub max_batch: u32,
    pub max_queue_delay: Duration,
    /// Execution time of one batch, whatever its size.
    pub service: Duration,
}

/// Per-model counters, in Triton's terms.
#[derive(Debug, Default, Clone)]
pub struct ModelStats {
    pub inference_count: u64,
    pub execution_count: u64,
    /// Executed batch size → how many batches of that size.
    pub batches: BTreeMap<u32, u64>,
}

struct Job {
    model: String,
    /// Inferences in the request (its batch dimension).
    size: u32,
    done: oneshot::Sender<()>,
}

#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Job>,
    pub stats: Arc<Mutex<BTreeMap<String, ModelStats>>>,
}

impl Batcher {
    pub fn start(config: BatchConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats: Arc<Mutex<BTreeMap<String, ModelStats>>> = Arc::default();
        tokio::spawn(run(config, rx, stats.clone()));
        Batcher { tx, stats }
    }

    /// Waits until a batch containing this request has executed.
    pub async fn infer(&self, model: &str, size: u32) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job { model: model.to_string(), size: size.max(1), done }).is_ok() {
            let _ = wait.await;
        }
    }

    pub fn model_stats(&self, model: &str) -> ModelStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).get(model).cloned().unwrap_or_default()
    }
}

async fn run(config: BatchConfig, mut rx: mpsc::UnboundedReceiver<Job>, stats: Arc<Mutex<BTreeMap<String, ModelStats>>>) {
    // Jobs of other models wait here while one model's batch forms.
    let mut pending: Vec<Job> = Vec::new();
    loop {
        let first = match pending.is_empty() {
            true => match rx.recv().await {
                Some(j) => j,
                None => return,
            },
            false => pending.remove(0),
        };
        let model = first.model.clone();
        let mut batch = vec![first];
        let mut size: u32 = batch[0].size;
        let deadline = tokio::time::Instant::now() + config.max_queue_delay;
        // Same-model jobs already waiting join first.
        let mut i = 0;
        while i < pending.len() && size < config.max_batch {
            if pending[i].model == model && size + pending[i].size <= config.max_batch {
                let j = pending.remove(i);
                size += j.size;
                batch.push(j);
            } else {
                i += 1;
            }
        }
        while size < config.max_batch {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(j)) if j.model == model && size + j.size <= config.max_batch => {
                    size += j.size;
                    batch.push(j);
                }
                Ok(Some(j)) => pending.push(j),
                Ok(None) | Err(_) => break,
            }
        }
        if !config.service.is_zero() {
            tokio::time::sleep(config.service).await;
        }
        {
            let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
            let m = s.entry(model).or_default();
            m.inference_count += u64::from(size);
            m.execution_count += 1;
            *m.batches.entry(size).or_default() += 1;
        }
        for j in batch {
            let _ = j.done.send(());
        }
    }
}
