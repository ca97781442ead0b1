//! Pacing what the client sends at the server's line rate (`/limits`), so that a paste or a
//! pipe waits here, where the client can say how much is left, rather than unseen in the
//! server's socket. The same token bucket as the server's ([`crate::rate`]).

use std::time::{Duration, Instant};

use crate::rate::{Admit, Bucket, RateLimit};

/// The server's limits on what a client sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Lines a second; 0: no limit.
    pub rate: f64,
    /// Lines at once.
    pub burst: f64,
}

pub struct Pacer {
    limit: RateLimit,
    bucket: Bucket,
}

impl Pacer {
    /// Without limits (a server that does not say), nothing waits.
    pub fn new(limits: Option<Limits>) -> Pacer {
        let limit = match limits {
            Some(l) if l.rate > 0.0 => RateLimit {
                rate: l.rate,
                burst: l.burst,
                flood_after: Duration::MAX,
            },
            _ => RateLimit::off(),
        };
        Pacer {
            limit,
            bucket: Bucket::default(),
        }
    }

    /// The line rate, if lines are paced.
    pub fn rate(&self) -> Option<f64> {
        (!self.limit.is_off()).then_some(self.limit.rate)
    }

    /// Takes a token for one line now, or says how long to wait for one.
    pub fn next(&mut self, now: Instant) -> Result<(), Duration> {
        match self.bucket.admit(self.limit, now) {
            Admit::Go => Ok(()),
            Admit::Wait(d) => Err(d),
            // flood_after is never reached (Duration::MAX).
            Admit::Flooding => Ok(()),
        }
    }
}

/// `1,900 lines waiting (about 38 s)`.
pub fn waiting_text(lines: usize, rate: f64) -> String {
    let plural = if lines == 1 { "" } else { "s" };
    let secs = (lines as f64 / rate).ceil();
    format!("{lines} line{plural} waiting (about {secs} s)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_then_lines_wait_their_turn() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(Limits {
            rate: 10.0,
            burst: 3.0,
        }));
        assert_eq!(p.rate(), Some(10.0));
        for _ in 0..3 {
            assert_eq!(p.next(t0), Ok(()));
        }
        let wait = p.next(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert_eq!(p.next(t0 + wait), Ok(()));
        let mut free = Pacer::new(None);
        assert_eq!(free.rate(), None);
        for _ in 0..1000 {
            assert_eq!(free.next(t0), Ok(()));
        }
        let mut off = Pacer::new(Some(Limits {
            rate: 0.0,
            burst: 0.0,
        }));
        assert_eq!(off.next(t0), Ok(()));
        assert_eq!(waiting_text(1900, 50.0), "1900 lines waiting (about 38 s)");
        assert_eq!(waiting_text(1, 50.0), "1 line waiting (about 1 s)");
    }
}
