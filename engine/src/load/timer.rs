//! A sleep with microsecond precision on a tokio runtime: on Linux a timerfd registered
//! with the runtime's reactor, so a send lane wakes at a planned instant through the
//! same epoll that serves its sockets — no timer thread, no hand-off between threads.
//! tokio's own timer rounds to the millisecond; it is the fallback elsewhere.

use std::time::Instant;

pub(crate) struct PreciseTimer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl PreciseTimer {
    /// A timer on the calling runtime, which must have I/O and time enabled (call it from
    /// a task of the runtime that waits).
    pub fn new() -> Self {
        PreciseTimer {
            #[cfg(target_os = "linux")]
            fd: linux::timerfd().ok(),
        }
    }

    /// Returns at `t` (at once if it has passed).
    pub async fn sleep_until(&mut self, t: Instant) {
        let now = Instant::now();
        if t <= now {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd
            && linux::arm(fd, t - now).is_ok()
            && linux::expired(fd).await.is_ok()
        {
            return;
        }
        tokio::time::sleep_until(t.into()).await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;

    pub(super) fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: timerfd_create takes two integer flags; a valid descriptor is owned here.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else; the OwnedFd keeps it
        // open, the same descriptor, for as long as the AsyncFd holds it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: as above — a valid, open descriptor that the AsyncFd owns.
        unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }.map_err(|e| io::Error::other(e.to_string()))
    }

    /// Arms the timer to expire once, `after` from now (which also resets any expiry
    /// not read yet).
    pub(super) fn arm(fd: &AsyncFd<OwnedFd>, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec { tv_sec: after.as_secs() as libc::time_t, tv_nsec: after.subsec_nanos() as libc::c_long },
        };
        // SAFETY: a valid timerfd and a fully initialised itimerspec; no old value asked for.
        let r = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Waits until the armed timer has expired.
    pub(super) async fn expired(fd: &AsyncFd<OwnedFd>) -> io::Result<()> {
        loop {
            let mut ready = fd.readable().await?;
            let read = ready.try_io(|fd| {
                let mut count = [0u8; 8];
                // SAFETY: reads at most 8 bytes into an 8-byte buffer.
                let n = unsafe { libc::read(fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
            });
            match read {
                Ok(r) => return r,
                // Readiness left over from an earlier expiry: wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sleeps_end_at_their_instant_not_before() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut timer = PreciseTimer::new();
            for us in [50u64, 300, 1500, 0] {
                let t = Instant::now() + Duration::from_micros(us);
                timer.sleep_until(t).await;
                assert!(Instant::now() >= t, "woke before its instant ({us} us)");
            }
            // A sleep abandoned part way leaves nothing behind for the next one.
            let soon = Instant::now() + Duration::from_micros(200);
            let _ = tokio::time::timeout(Duration::from_micros(10), timer.sleep_until(soon)).await;
            std::thread::sleep(Duration::from_micros(400));
            let t = Instant::now() + Duration::from_millis(2);
            timer.sleep_until(t).await;
            assert!(Instant::now() >= t, "a stale expiry ended the next sleep early");
        });
    }
}
