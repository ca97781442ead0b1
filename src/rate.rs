//! Flood control, pure: a token bucket per client, and the rule that tells a burst from a flood.
//!
//! Each line costs one token; tokens come back at `rate` per second up to `burst`. A client out
//! of tokens is throttled: the driver stops reading it (its lines wait in the kernel and in the
//! framer) until [`Admit::Wait`] has passed. A client that stays throttled with input still
//! waiting for longer than `flood_after` is flooding, and is disconnected (with
//! `Duration::MAX`, the server's default, that never happens: it is only paced). A client that
//! pauses (the driver finds nothing more to read) is forgiven: see [`Bucket::drained`].

use std::time::{Duration, Instant};

/// The limit; `rate` 0 turns flood control off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Lines per second.
    pub rate: f64,
    /// Lines at once.
    pub burst: f64,
    /// Throttled this long without a pause: flooding.
    pub flood_after: Duration,
}

impl RateLimit {
    pub fn off() -> RateLimit {
        RateLimit {
            rate: 0.0,
            burst: 0.0,
            flood_after: Duration::MAX,
        }
    }

    pub fn is_off(&self) -> bool {
        self.rate <= 0.0
    }
}

/// The longest a line waits for a token, whatever the rate: the drivers add it to now.
pub const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// What to do with the next line.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Admit {
    Go,
    /// Out of tokens: read nothing more from this client for this long.
    Wait(Duration),
    /// Throttled for `flood_after` without a pause.
    Flooding,
}

/// One client's tokens. A new bucket is full: it starts counting at its first line.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    tokens: f64,
    /// When tokens were last counted; `None` until the first line.
    last: Option<Instant>,
    throttled_since: Option<Instant>,
}

impl Bucket {
    /// Spends a token for one line, if there is one.
    pub fn admit(&mut self, limit: RateLimit, now: Instant) -> Admit {
        if limit.is_off() {
            return Admit::Go;
        }
        let full = limit.burst.max(1.0);
        self.tokens = match self.last {
            Some(last) => {
                let elapsed = now.saturating_duration_since(last).as_secs_f64();
                (self.tokens + elapsed * limit.rate).min(full)
            }
            None => full,
        };
        self.last = Some(now);
        if self.tokens >= full {
            // Back to a full bucket: it paused long enough, whatever happened before.
            self.throttled_since = None;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Go;
        }
        let since = *self.throttled_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= limit.flood_after {
            return Admit::Flooding;
        }
        // A rate so small (`--msg-rate 1e-300`) that the wait would overflow waits a day.
        let wait = (1.0 - self.tokens) / limit.rate;
        Admit::Wait(Duration::try_from_secs_f64(wait).map_or(LONGEST_WAIT, |d| d.min(LONGEST_WAIT)))
    }

    /// The driver found no more input from this client: it paused, so it is not flooding.
    pub fn drained(&mut self) {
        self.throttled_since = None;
    }

    pub fn is_throttled(&self) -> bool {
        self.throttled_since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOD_AFTER: Duration = Duration::from_secs(10);
    const LIMIT: RateLimit = RateLimit {
        rate: 10.0,
        burst: 5.0,
        flood_after: FLOOD_AFTER,
    };

    #[test]
    fn a_vanishing_rate_waits_long_without_overflowing() {
        let t0 = Instant::now();
        let tiny = RateLimit {
            rate: 1e-300,
            burst: 1.0,
            flood_after: Duration::MAX,
        };
        let mut b = Bucket::default();
        assert_eq!(b.admit(tiny, t0), Admit::Go);
        assert_eq!(b.admit(tiny, t0), Admit::Wait(LONGEST_WAIT));
        // The driver's deadline does not overflow.
        assert!(t0.checked_add(LONGEST_WAIT).is_some());
    }

    #[test]
    fn a_burst_passes_then_lines_are_paced() {
        let t0 = Instant::now();
        let mut b = Bucket::default();
        for _ in 0..5 {
            assert_eq!(b.admit(LIMIT, t0), Admit::Go);
        }
        let Admit::Wait(d) = b.admit(LIMIT, t0) else {
            panic!("expected a wait")
        };
        assert!((d.as_secs_f64() - 0.1).abs() < 1e-6, "{d:?}");
        assert_eq!(b.admit(LIMIT, t0 + d), Admit::Go);
        // Tokens never pile up past the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(b.admit(LIMIT, later), Admit::Go);
        }
        assert!(matches!(b.admit(LIMIT, later), Admit::Wait(_)));
    }

    #[test]
    fn sustained_throttling_is_flooding_but_a_pause_forgives() {
        let t0 = Instant::now();
        let mut b = Bucket::default();
        let mut now = t0;
        // A client that always has another line ready.
        loop {
            match b.admit(LIMIT, now) {
                Admit::Go => {}
                Admit::Wait(d) => now += d,
                Admit::Flooding => break,
            }
            assert!(
                now - t0 < FLOOD_AFTER + Duration::from_secs(1),
                "never flagged"
            );
        }
        assert!(now - t0 >= FLOOD_AFTER);
        // One that pauses whenever it is throttled is never flagged.
        let mut b = Bucket::default();
        let mut now = t0;
        for _ in 0..1000 {
            match b.admit(LIMIT, now) {
                Admit::Go => {}
                Admit::Wait(d) => {
                    b.drained();
                    now += d;
                }
                Admit::Flooding => panic!("a pausing client was called a flooder"),
            }
        }
    }

    #[test]
    fn off_admits_everything() {
        let t0 = Instant::now();
        let mut b = Bucket::default();
        for _ in 0..10_000 {
            assert_eq!(b.admit(RateLimit::off(), t0), Admit::Go);
        }
    }
}
