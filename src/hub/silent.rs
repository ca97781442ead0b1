//! Connections that have not sent a line yet, for the first-line deadline
//! (`--first-line-timeout`): a client that says nothing within it is closed with
//! `! idle timeout`, so that idle sockets cannot hold the server's places. O(1) per event: a
//! slot per client id, and the connections in the order they came.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::ClientId;

/// The grain of the times kept: a deadline comes at most this much after its exact time, never
/// before. Coarse so that a time fits in 4 bytes (13 years of 100 ms ticks).
const TICK: Duration = Duration::from_millis(100);

/// Sized for 10,000 idle connections at a few bytes each: every connection has a slot here
/// until it speaks, and a slot in its id's place for as long as the server runs.
#[derive(Default)]
pub struct Silent {
    /// Ticks are counted from here (the first connection's time, moved on if ticks would
    /// overflow).
    base: Option<Instant>,
    /// When each silent connection came, by client id, in ticks after `base` plus one; 0 once
    /// it has said something (or left).
    since: Vec<u32>,
    /// How many of `since` are not 0.
    count: usize,
    /// (when it came, who), oldest first. An entry whose client has spoken or left since, or
    /// whose id was taken by a newer connection, is stale and skipped.
    order: VecDeque<(u32, u32)>,
}

impl Silent {
    pub fn connected(&mut self, id: ClientId, now: Instant) {
        let Ok(slot) = u32::try_from(id) else {
            return; // past 4 billion ids: no deadline
        };
        let stamp = self.stamp(now);
        if self.since.len() <= id {
            self.since.resize(id + 1, 0);
        }
        if std::mem::replace(&mut self.since[id], stamp) == 0 {
            self.count += 1;
        }
        self.order.push_back((stamp, slot));
        self.tidy();
    }

    /// `id` said something, or left: it has no deadline any more.
    pub fn spoke(&mut self, id: ClientId) {
        if let Some(slot) = self.since.get_mut(id)
            && std::mem::take(slot) != 0
        {
            self.count -= 1;
            self.tidy();
        }
    }

    /// The connections silent for `limit` by `now`, oldest first; they have no deadline any
    /// more.
    pub fn expired(&mut self, now: Instant, limit: Duration) -> Vec<ClientId> {
        let mut due = Vec::new();
        while let Some(&(stamp, id)) = self.order.front() {
            if self.time_of(stamp) + limit > now {
                break;
            }
            self.order.pop_front();
            let id = id as ClientId;
            if self.since.get(id) == Some(&stamp) {
                self.spoke(id);
                due.push(id);
            }
        }
        due
    }

    /// When [`Silent::expired`] may next have someone, with `limit`.
    pub fn next_deadline(&self, limit: Duration) -> Option<Instant> {
        self.order
            .front()
            .map(|&(stamp, _)| self.time_of(stamp) + limit)
    }

    /// Forgets every deadline (the timeout was turned off).
    pub fn clear(&mut self) {
        *self = Silent::default();
    }

    /// `now` as a stamp: whole ticks after `base`, rounded up (so that a deadline is never
    /// early), plus one.
    fn stamp(&mut self, now: Instant) -> u32 {
        let base = *self.base.get_or_insert(now);
        let ticks = ticks(now.saturating_duration_since(base));
        if ticks < u64::from(u32::MAX - 1) {
            return ticks as u32 + 1;
        }
        self.rebase(now);
        self.stamp(now)
    }

    /// The time a stamp stands for.
    fn time_of(&self, stamp: u32) -> Instant {
        let base = self.base.unwrap_or_else(Instant::now);
        base + TICK * stamp.saturating_sub(1)
    }

    /// Ticks would overflow (the server has run for 13 years): counts from the oldest entry,
    /// or from `now` if there is none.
    fn rebase(&mut self, now: Instant) {
        let shift = self.order.front().map_or_else(
            || ticks(now.saturating_duration_since(self.base.unwrap_or(now))) as u32,
            |&(stamp, _)| stamp - 1,
        );
        self.base = Some(self.time_of(shift + 1));
        for (stamp, _) in &mut self.order {
            *stamp -= shift;
        }
        for stamp in self.since.iter_mut().filter(|s| **s != 0) {
            *stamp = stamp.saturating_sub(shift).max(1);
        }
    }

    /// Stale entries are dropped as they reach the front; when clients speak soon after they
    /// come (most do) or under churn they would pile up meanwhile: keep them to a fraction of
    /// the live ones, and give back the room they took.
    fn tidy(&mut self) {
        if self.order.len() <= 2 * self.count + 1024 {
            return;
        }
        let since = &self.since;
        self.order
            .retain(|&(stamp, id)| since.get(id as usize) == Some(&stamp));
        if self.order.capacity() > 2 * self.order.len() + 1024 {
            self.order.shrink_to(self.order.len() + 1024);
        }
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.order.len()
    }
}

/// Whole ticks in `d`, rounded up.
fn ticks(d: Duration) -> u64 {
    let tick = TICK.as_nanos();
    d.as_nanos().div_ceil(tick) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(60);

    #[test]
    fn only_those_still_silent_at_their_deadline_expire() {
        let t0 = Instant::now();
        let mut s = Silent::default();
        s.connected(0, t0);
        s.connected(1, t0);
        s.connected(2, t0 + Duration::from_secs(30));
        s.spoke(1);
        assert_eq!(s.next_deadline(LIMIT), Some(t0 + LIMIT));
        assert!(
            s.expired(t0 + LIMIT - Duration::from_millis(1), LIMIT)
                .is_empty()
        );
        assert_eq!(s.expired(t0 + LIMIT, LIMIT), [0]);
        assert_eq!(s.next_deadline(LIMIT), Some(t0 + Duration::from_secs(90)));
        assert_eq!(s.expired(t0 + Duration::from_secs(200), LIMIT), [2]);
        assert!(
            s.expired(t0 + Duration::from_secs(300), LIMIT).is_empty(),
            "once"
        );
        assert_eq!(s.next_deadline(LIMIT), None);
    }

    #[test]
    fn a_reused_id_keeps_its_own_deadline() {
        let t0 = Instant::now();
        let mut s = Silent::default();
        s.connected(7, t0);
        s.spoke(7); // it left
        s.connected(7, t0 + Duration::from_secs(50));
        assert!(
            s.expired(t0 + LIMIT, LIMIT).is_empty(),
            "the old entry is stale"
        );
        assert_eq!(s.expired(t0 + Duration::from_secs(110), LIMIT), [7]);
    }

    #[test]
    fn churn_does_not_pile_up_stale_entries() {
        let t0 = Instant::now();
        let mut s = Silent::default();
        s.connected(0, t0); // one stays silent
        for i in 0..100_000 {
            s.connected(1, t0 + Duration::from_micros(i));
            s.spoke(1);
        }
        // Two per live one (there is one) and 1,024, and the one just pushed.
        assert!(s.queued() <= 2 + 1024 + 1, "{} entries", s.queued());
        assert_eq!(s.expired(t0 + LIMIT + Duration::from_secs(1), LIMIT), [0]);
    }

    #[test]
    fn those_that_spoke_cost_nothing_but_their_slot() {
        let t0 = Instant::now();
        let mut s = Silent::default();
        for id in 0..10_000 {
            s.connected(id, t0);
        }
        for id in 0..10_000 {
            s.spoke(id);
        }
        assert!(s.queued() <= 1024, "{} entries", s.queued());
        assert!(s.order.capacity() <= 4096, "{}", s.order.capacity());
        assert!(s.expired(t0 + LIMIT, LIMIT).is_empty());
    }

    #[test]
    fn a_deadline_is_never_early_and_late_by_less_than_a_tick() {
        let t0 = Instant::now();
        let mut s = Silent::default();
        s.connected(0, t0);
        let odd = t0 + Duration::from_millis(1234);
        s.connected(1, odd);
        s.expired(t0 + LIMIT, LIMIT);
        let at = s.next_deadline(LIMIT).unwrap();
        assert!(
            at >= odd + LIMIT && at < odd + LIMIT + TICK,
            "{:?}",
            at - odd
        );
        assert!(
            s.expired(odd + LIMIT - Duration::from_millis(1), LIMIT)
                .is_empty()
        );
        assert_eq!(s.expired(odd + LIMIT + TICK, LIMIT), [1]);
    }

    #[test]
    fn ticks_that_would_overflow_count_again_from_the_oldest() {
        let t0 = Instant::now();
        let mut s = Silent::default();
        s.connected(0, t0);
        s.spoke(0);
        s.connected(1, t0 + Duration::from_secs(10));
        s.rebase(t0 + Duration::from_secs(20));
        // The stale entry of 0 goes first.
        assert!(s.expired(t0 + LIMIT, LIMIT).is_empty());
        assert_eq!(
            s.next_deadline(LIMIT),
            Some(t0 + Duration::from_secs(10) + LIMIT)
        );
        assert_eq!(s.expired(t0 + Duration::from_secs(70), LIMIT), [1]);
    }
}
