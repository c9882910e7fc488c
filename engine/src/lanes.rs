//! Send lanes: the exchanges run on one single-threaded tokio runtime per core, wrk's
//! `-t` model. A request's task (which reads and writes its HTTP/1.1 connection itself),
//! its timers and its socket readiness all live on one thread, so an exchange crosses no
//! thread until its record goes to the collector; connections are partitioned the same
//! way (the pool keeps one idle queue per lane, see `client::pool`).
//!
//! The lanes are threads of the run: started with it, stopped (their runtimes and any
//! HTTP/2 connection tasks dropped) when it ends.

use std::cell::Cell;
use std::future::Future;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Most lanes a run starts, whatever the machine has.
const MAX_LANES: usize = 64;

thread_local! {
    /// The lane this thread runs (0 on threads that are not lanes).
    static LANE: Cell<usize> = const { Cell::new(0) };
}

/// The lane of the calling thread; 0 outside the lanes.
pub(crate) fn current() -> usize {
    LANE.with(Cell::get)
}

/// How many lanes a run uses by default: one per core this process may run on (its CPU
/// affinity, so `taskset -c 0` means one).
pub(crate) fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_LANES)
}

/// Lowers the calling thread's scheduling priority (nice +10), for the threads that work
/// ahead of or behind the send lanes (the producer, the collector's runtime): when the
/// cores are busy the kernel runs a lane that wakes for a send before them, which keeps
/// schedule lag off the tail. Raising priority needs privileges; lowering it does not.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

pub(crate) struct Lanes {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Lanes {
    /// Starts `n` lanes (at least one).
    pub fn start(n: usize) -> std::io::Result<Lanes> {
        let n = n.clamp(1, MAX_LANES);
        let mut lanes = Lanes { handles: Vec::with_capacity(n), stops: Vec::with_capacity(n), threads: Vec::with_capacity(n) };
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            lanes.handles.push(runtime.handle().clone());
            lanes.stops.push(stop);
            let thread = std::thread::Builder::new().name(format!("volley-lane-{i}")).spawn(move || {
                LANE.with(|l| l.set(i));
                let _ = runtime.block_on(stopped);
            })?;
            lanes.threads.push(thread);
        }
        Ok(lanes)
    }

    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Runs `task` on lane `lane` (modulo the count); from that lane's own thread it is
    /// queued there without waking anything.
    pub fn spawn<F>(&self, lane: usize, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handles[lane % self.handles.len()].spawn(task)
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        // The last reference may go on a lane itself (a task that held it ending there):
        // that lane is not joined (a thread cannot join itself); it ends by itself once
        // the task that dropped this returns.
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_their_lane_and_lanes_stop_with_the_set() {
        let lanes = Lanes::start(2).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let seen: Vec<usize> = rt.block_on(async {
            let mut seen = Vec::new();
            for i in 0..4 {
                seen.push(lanes.spawn(i, async { current() }).await.unwrap());
            }
            seen
        });
        assert_eq!(seen, vec![0, 1, 0, 1]);
        let names: Vec<String> = lanes.threads.iter().map(|t| t.thread().name().unwrap_or("").to_string()).collect();
        assert_eq!(names, ["volley-lane-0", "volley-lane-1"]);
        drop(lanes);
        assert_eq!(current(), 0);
        // The last reference dropped on a lane: the set stops without joining that lane.
        let lanes = std::sync::Arc::new(Lanes::start(2).unwrap());
        let (held, (go, went)) = (lanes.clone(), oneshot::channel::<()>());
        let on_lane = lanes.spawn(1, async move {
            let _ = went.await;
            let last = std::sync::Arc::strong_count(&held) == 1;
            drop(held);
            (current(), last)
        });
        drop(lanes);
        let _ = go.send(());
        assert_eq!(rt.block_on(on_lane).unwrap(), (1, true));
    }
}
