//! The slowing of wrong guesses (the server's password, the operators', an account's), by
//! whatever key the caller counts them under (an address, an account): a few wrong guesses are
//! free, then each must wait twice as long as the last, and a key is forgotten an hour after
//! its last wrong guess. Checked before any password is, so a flood of guesses costs no work.
//! Pure: the time is passed in.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Wrong guesses under one key before the next ones must wait.
pub const FREE_GUESSES: u32 = 3;
/// The first wait; it doubles with each further wrong guess, up to [`MAX_GUESS_WAIT`].
pub(super) const FIRST_GUESS_WAIT: Duration = Duration::from_secs(2);
const MAX_GUESS_WAIT: Duration = Duration::from_secs(300);
/// A key's wrong guesses are forgotten this long after its last one.
pub(super) const FORGET_GUESSES: Duration = Duration::from_secs(3600);
/// Most keys whose wrong guesses are remembered: past it, the forgotten ones are dropped
/// first, then the oldest.
pub(super) const MAX_GUESSERS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Guesses {
    wrong: u32,
    last: Instant,
}

/// Wrong guesses, by key.
#[derive(Debug)]
pub struct Throttle<K> {
    guesses: HashMap<K, Guesses>,
}

impl<K> Default for Throttle<K> {
    fn default() -> Self {
        Throttle {
            guesses: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// How long `key` must still wait before its next guess is checked, if it must.
    pub fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let g = self.guesses.get(key).copied()?;
        if now.saturating_duration_since(g.last) > FORGET_GUESSES {
            self.guesses.remove(key);
            return None;
        }
        let ready = g.last + guess_wait(g.wrong)?;
        (now < ready).then(|| ready - now)
    }

    /// A right guess: `key`'s wrong ones are forgotten.
    pub fn right(&mut self, key: &K) {
        self.guesses.remove(key);
    }

    /// A wrong guess under `key`.
    pub fn wrong(&mut self, key: &K, now: Instant) {
        if !self.guesses.contains_key(key) && self.guesses.len() >= MAX_GUESSERS {
            self.guesses
                .retain(|_, g| now.saturating_duration_since(g.last) <= FORGET_GUESSES);
            if self.guesses.len() >= MAX_GUESSERS
                && let Some(oldest) = self.guesses.iter().min_by_key(|(_, g)| g.last)
            {
                let oldest = oldest.0.clone();
                self.guesses.remove(&oldest);
            }
        }
        let g = self.guesses.entry(key.clone()).or_insert(Guesses {
            wrong: 0,
            last: now,
        });
        g.wrong = g.wrong.saturating_add(1);
        g.last = now;
    }

    /// How many keys are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.guesses.len()
    }
}

/// How long after a wrong guess the next one is refused, once `wrong` guesses were wrong.
fn guess_wait(wrong: u32) -> Option<Duration> {
    let over = wrong.checked_sub(FREE_GUESSES)?;
    Some(
        FIRST_GUESS_WAIT
            .saturating_mul(1u32.checked_shl(over).unwrap_or(u32::MAX))
            .min(MAX_GUESS_WAIT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_are_capped_and_are_forgotten() {
        assert_eq!(guess_wait(FREE_GUESSES - 1), None);
        assert_eq!(guess_wait(FREE_GUESSES), Some(FIRST_GUESS_WAIT));
        assert_eq!(guess_wait(FREE_GUESSES + 1), Some(FIRST_GUESS_WAIT * 2));
        assert_eq!(guess_wait(u32::MAX), Some(MAX_GUESS_WAIT));
        let t = Instant::now();
        let mut th: Throttle<&str> = Throttle::default();
        for _ in 0..FREE_GUESSES {
            assert_eq!(th.wait(&"ana", t), None);
            th.wrong(&"ana", t);
        }
        assert_eq!(th.wait(&"ana", t), Some(FIRST_GUESS_WAIT));
        assert_eq!(th.wait(&"bob", t), None, "another key");
        assert_eq!(th.wait(&"ana", t + FIRST_GUESS_WAIT), None);
        th.right(&"ana");
        assert_eq!(th.wait(&"ana", t), None);
        for _ in 0..10 {
            th.wrong(&"ana", t);
        }
        assert!(th.wait(&"ana", t).is_some());
        let much_later = t + FORGET_GUESSES + Duration::from_secs(1);
        assert_eq!(th.wait(&"ana", much_later), None);
    }

    #[test]
    fn remembered_keys_are_bounded() {
        let t = Instant::now();
        let mut th: Throttle<u32> = Throttle::default();
        for i in 0..(MAX_GUESSERS as u32 + 100) {
            th.wrong(&i, t + Duration::from_millis(u64::from(i)));
        }
        assert!(th.len() <= MAX_GUESSERS);
    }
}
