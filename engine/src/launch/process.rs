//! Launching a server command and stopping it without leaving anything behind.
//!
//! The command runs under `/bin/sh -c 'exec CMD'` in a process group of its own, with
//! its output in a log file. The child gets SIGKILL if Volley dies (parent-death
//! signal); stopping sends SIGTERM to the whole group, waits for the grace period, then
//! SIGKILLs the group. Live groups are registered so an interrupted Volley kills them
//! before it exits.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Process groups of servers Volley started and has not stopped yet.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// SIGKILLs every server group still running (for an exit in a hurry).
pub fn kill_all_live() {
    for pgid in LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
        // SAFETY: kill(2) on a process group we created.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    /// When the process was started (just before spawn).
    pub started: Instant,
    pub log: PathBuf,
    stopped: bool,
}

impl ServerProcess {
    pub fn spawn(command: &str, log: &Path) -> Result<ServerProcess> {
        let log_file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(format!("exec {command}")).stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file).process_group(0);
        // SAFETY: prctl is async-signal-safe; it only sets this child's death signal.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let started = Instant::now();
        let child = cmd.spawn().with_context(|| format!("cannot start '{command}'"))?;
        let pid = child.id();
        LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner()).push(pid as i32);
        Ok(ServerProcess { child, pid, started, log: log.to_path_buf(), stopped: false })
    }

    /// The exit status, if the server has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        all[all.len().saturating_sub(lines)..].join(" | ")
    }

    /// SIGTERM to the group, SIGKILL after `grace`; returns how long the stop took.
    pub fn stop(&mut self, grace: Duration) -> Duration {
        let t0 = Instant::now();
        if self.stopped {
            return Duration::ZERO;
        }
        let pgid = self.pid as i32;
        // SAFETY: kill(2) on the process group this struct created.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        while self.exited().is_none() && t0.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Whatever is left of the group (the leader, or helpers it started) goes now.
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner()).retain(|g| *g != pgid);
        self.stopped = true;
        t0.elapsed()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}
