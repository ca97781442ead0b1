//! How the process keeps and returns freed heap memory (glibc's allocator; elsewhere, nothing).
//!
//! Poll mode's loop turns fill an output buffer per recipient (up to 16 MiB in all per turn)
//! and free most of them once written. By default glibc hands the freed top of the heap back to
//! the system at once and faults it in again the next turn: `scripts/profile-poll.sh` measured
//! that as 40% of the server's system time on fan-out. So the server keeps up to
//! [`KEEP_FREED`] of freed heap while busy ([`keep_freed_memory`]), and gives it back
//! ([`release_freed_memory`]) when a [`Release`] says so: once it has been quiet for a moment,
//! and at most once a second while it stays busy (a room that never goes quiet must not keep
//! what a burst or a churn of connections once used). Poll mode's loop counts its events as
//! activity; threads mode's housekeeping thread counts client threads that ended: each thread
//! allocates from one of the allocator's per-thread arenas, which keep what it used otherwise.

use std::time::{Duration, Instant};

/// How long a server must have been quiet before it returns freed memory.
pub const QUIET_BEFORE_RELEASE: Duration = Duration::from_millis(250);
/// While activity goes on, freed memory is returned at most this often.
pub const RELEASE_EVERY: Duration = Duration::from_secs(1);

/// When to return freed memory: [`QUIET_BEFORE_RELEASE`] after the last activity, or
/// [`RELEASE_EVERY`] after the last release if activity goes on. Pure: the caller says what
/// happened when, and does the releasing.
#[derive(Debug, Clone)]
pub struct Release {
    /// Activity since the last release: when it was last seen.
    active_at: Option<Instant>,
    released_at: Instant,
}

impl Release {
    pub fn new(now: Instant) -> Release {
        Release {
            active_at: None,
            released_at: now,
        }
    }

    /// Something that may have freed memory happened.
    pub fn activity(&mut self, now: Instant) {
        self.active_at = Some(now);
    }

    /// Whether to release now; if so, counts it as done.
    pub fn due(&mut self, now: Instant) -> bool {
        let due = self.wait(now) == Some(Duration::ZERO);
        if due {
            self.active_at = None;
            self.released_at = now;
        }
        due
    }

    /// How long until a release is due; None while there was no activity since the last one.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let active = self.active_at?;
        let at = (active + QUIET_BEFORE_RELEASE).min(self.released_at + RELEASE_EVERY);
        Some(at.saturating_duration_since(now))
    }
}

/// Freed heap kept for reuse while busy: one turn's worth of output.
pub const KEEP_FREED: usize = 16 << 20;

/// Keep up to [`KEEP_FREED`] of freed heap instead of returning it at once. Call before any
/// thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED as libc::c_int);
    }
}

/// At most `arenas` allocator arenas. glibc gives each thread one of up to 8 per core, so a
/// process with thousands of threads (threads mode) spreads its heap over 16 arenas here, which
/// fragment under connection churn: measured with scripts/churn.py (20,000 connections held
/// 20 ms), RSS 5 s after the churn was 12 to 16 MB above its start with the default, 7 to 8 MB
/// with one arena per core, at the same throughput. Call before any thread starts.
pub fn limit_arenas(arenas: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas.clamp(1, 64) as libc::c_int);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// Return the freed heap to the system now.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_release_without_activity() {
        let t0 = Instant::now();
        let mut r = Release::new(t0);
        assert_eq!(r.wait(t0 + Duration::from_secs(10)), None);
        assert!(!r.due(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn released_once_quiet() {
        let t0 = Instant::now();
        let mut r = Release::new(t0);
        r.activity(t0);
        assert_eq!(r.wait(t0), Some(QUIET_BEFORE_RELEASE));
        assert!(!r.due(t0 + QUIET_BEFORE_RELEASE / 2));
        assert!(r.due(t0 + QUIET_BEFORE_RELEASE));
        // Done: nothing more until the next activity.
        assert!(!r.due(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn released_every_second_while_activity_never_stops() {
        let t0 = Instant::now();
        let mut r = Release::new(t0);
        let mut releases = 0;
        let step = QUIET_BEFORE_RELEASE / 5;
        let mut now = t0;
        while now < t0 + Duration::from_millis(3500) {
            r.activity(now);
            if r.due(now) {
                releases += 1;
            }
            now += step;
        }
        assert_eq!(
            releases, 3,
            "one release per RELEASE_EVERY of steady activity"
        );
    }
}
