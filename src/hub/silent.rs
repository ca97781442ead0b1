//! Connections that have not sent a line yet, for the first-line deadline
//! (`--first-line-timeout`): a client that says nothing within it is closed with
//! `! idle timeout`, so that idle sockets cannot hold the server's places. O(1) per event: a
//! slot per client id, and the connections in the order they came.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::ClientId;

#[derive(Default)]
pub struct Silent {
    /// When each silent connection came, by client id; `None` once it has said something
    /// (or left).
    since: Vec<Option<Instant>>,
    /// How many of `since` are `Some`.
    count: usize,
    /// (when it came, who), oldest first. An entry whose client has spoken or left since, or
    /// whose id was taken by a newer connection, is stale and skipped.
    order: VecDeque<(Instant, ClientId)>,
}

impl Silent {
    pub fn connected(&mut self, id: ClientId, now: Instant) {
        if self.since.len() <= id {
            self.since.resize(id + 1, None);
        }
        if self.since[id].replace(now).is_none() {
            self.count += 1;
        }
        self.order.push_back((now, id));
        // Stale entries are dropped as they reach the front; under churn (thousands of short
        // connections) they would pile up meanwhile: keep them to a fraction of the live ones.
        if self.order.len() > 2 * self.count + 1024 {
            let since = &self.since;
            self.order
                .retain(|&(at, id)| since.get(id).copied().flatten() == Some(at));
        }
    }

    /// `id` said something, or left: it has no deadline any more.
    pub fn spoke(&mut self, id: ClientId) {
        if let Some(slot) = self.since.get_mut(id)
            && slot.take().is_some()
        {
            self.count -= 1;
        }
    }

    /// The connections silent for `limit` by `now`, oldest first; they have no deadline any
    /// more.
    pub fn expired(&mut self, now: Instant, limit: Duration) -> Vec<ClientId> {
        let mut due = Vec::new();
        while let Some(&(at, id)) = self.order.front() {
            if at + limit > now {
                break;
            }
            self.order.pop_front();
            if self.since.get(id).copied().flatten() == Some(at) {
                self.spoke(id);
                due.push(id);
            }
        }
        due
    }

    /// When [`Silent::expired`] may next have someone, with `limit`.
    pub fn next_deadline(&self, limit: Duration) -> Option<Instant> {
        self.order.front().map(|&(at, _)| at + limit)
    }

    /// Forgets every deadline (the timeout was turned off).
    pub fn clear(&mut self) {
        *self = Silent::default();
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.order.len()
    }
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
}
