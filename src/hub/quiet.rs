//! Newcomers the others have not been told of yet: a client is announced when it first says
//! something, or when [`super::HubConfig::announce_grace`] has passed, whichever comes first.
//! A `/login` sent at once keeps it quiet until its answer, so that the room hears of it once,
//! under its account's name, and not of a guest renamed a moment later (as `/pass` and a
//! `/nick` in one write are announced once). O(1) per event: the newcomers by id, and in the
//! order they came (the grace is the same for all, so that order is the deadlines' order).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::ClientId;

#[derive(Default)]
pub struct Quiet {
    /// When each quiet client came.
    since: HashMap<ClientId, Instant>,
    /// (when it came, who), oldest first; an entry whose client was announced or left since
    /// (or whose id a newer connection took) is stale and skipped.
    order: VecDeque<(Instant, ClientId)>,
}

impl Quiet {
    pub fn arrived(&mut self, id: ClientId, now: Instant) {
        self.since.insert(id, now);
        self.order.push_back((now, id));
    }

    pub fn contains(&self, id: ClientId) -> bool {
        !self.since.is_empty() && self.since.contains_key(&id)
    }

    /// `id` is to be announced, or left: whether it was quiet.
    pub fn end(&mut self, id: ClientId) -> bool {
        let was = self.since.remove(&id).is_some();
        if self.since.is_empty() {
            self.order.clear();
        }
        was
    }

    /// The clients quiet for `grace` by `now`, oldest first, but those `busy` says must stay
    /// quiet (a login being checked: its answer ends their quiet). They are quiet no more
    /// (those kept stay so, with no deadline).
    pub fn expired(
        &mut self,
        now: Instant,
        grace: Duration,
        busy: impl Fn(ClientId) -> bool,
    ) -> Vec<ClientId> {
        let mut due = Vec::new();
        while let Some(&(at, id)) = self.order.front() {
            if at + grace > now {
                break;
            }
            self.order.pop_front();
            if self.since.get(&id) == Some(&at) && !busy(id) {
                self.since.remove(&id);
                due.push(id);
            }
        }
        due
    }

    /// When [`Quiet::expired`] may next have someone.
    pub fn next_deadline(&self, grace: Duration) -> Option<Instant> {
        self.order.front().map(|&(at, _)| at + grace)
    }

    pub fn clear(&mut self) {
        self.since.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_millis(500);

    #[test]
    fn a_newcomer_is_due_after_the_grace_unless_busy_or_announced() {
        let t0 = Instant::now();
        let mut q = Quiet::default();
        q.arrived(1, t0);
        q.arrived(2, t0 + Duration::from_millis(10));
        q.arrived(3, t0 + Duration::from_millis(20));
        assert_eq!(q.next_deadline(GRACE), Some(t0 + GRACE));
        assert!(
            q.expired(t0 + Duration::from_millis(499), GRACE, |_| false)
                .is_empty()
        );
        assert!(q.end(2), "2 spoke first");
        assert!(!q.end(2));
        // 3 is logging in: it stays quiet past its deadline, until its answer ends it.
        let due = q.expired(t0 + Duration::from_secs(1), GRACE, |id| id == 3);
        assert_eq!(due, vec![1]);
        assert!(q.contains(3) && !q.contains(1));
        assert_eq!(q.next_deadline(GRACE), None);
        assert!(q.end(3));
    }

    #[test]
    fn an_id_taken_again_keeps_only_its_own_deadline() {
        let t0 = Instant::now();
        let mut q = Quiet::default();
        q.arrived(7, t0);
        q.end(7);
        q.arrived(8, t0);
        let later = t0 + Duration::from_millis(300);
        q.arrived(7, later);
        assert_eq!(q.expired(t0 + GRACE, GRACE, |_| false), vec![8]);
        assert!(q.contains(7));
        assert_eq!(q.expired(later + GRACE, GRACE, |_| false), vec![7]);
    }
}
