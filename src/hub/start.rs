//! A cluster node's start: it learns the cluster before it tells its clients anything. The
//! clients that come meanwhile (the ones of a restarted node come back within a second) are
//! held, their lines kept, until the node knows who is on the other nodes and what was said
//! (each other node's roster, the rooms' history from the stream); then they are let in, in the
//! order they came, and their lines take effect. Otherwise a client back on a restarted node is
//! told `1 online`, then `* carl joined` for someone who never left, and is not shown what was
//! said while its node was away.
//!
//! Ready once the link is up, the history is read (when history is kept), [`SETTLE`] has passed
//! since the link came up (every node beats within it, so every node is known) and every node
//! heard from has sent its roster. Bounded: past [`START_WAIT`] the node serves as it is, and
//! says so in its log.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{ClientId, Hub, Outbox};

/// Every node beats once a second: within this of the link coming up, each has been heard.
pub const SETTLE: Duration = Duration::from_millis(1500);

/// The longest a starting node holds its clients (a `chat` waits 5 s for its welcome).
pub const START_WAIT: Duration = Duration::from_secs(3);

/// What a starting node waits for.
pub struct Starting {
    /// Past this, it serves whatever it knows.
    deadline: Instant,
    /// When the link came up.
    link_up_at: Option<Instant>,
    /// The rooms' history has been read (or none is kept).
    history: bool,
    /// The nodes whose roster has come.
    rostered: HashSet<Box<str>>,
    /// The connections that came meanwhile, in order.
    arrivals: Vec<(ClientId, IpAddr)>,
}

impl Starting {
    /// How many connections wait to be let in.
    pub fn waiting(&self) -> usize {
        self.arrivals.len()
    }

    pub fn new(now: Instant, history_kept: bool) -> Starting {
        Starting {
            deadline: now + START_WAIT,
            link_up_at: None,
            history: !history_kept,
            rostered: HashSet::new(),
            arrivals: Vec::new(),
        }
    }
}

impl Hub {
    /// Whether `id` came while this node was starting, and waits.
    pub(super) fn is_arrival(&self, id: ClientId) -> bool {
        self.starting
            .as_ref()
            .is_some_and(|s| s.arrivals.iter().any(|&(a, _)| a == id))
    }

    /// A connection while the node starts: it waits to be let in.
    pub(super) fn arrive(&mut self, id: ClientId, ip: IpAddr) {
        if let Some(s) = self.starting.as_mut() {
            s.arrivals.push((id, ip));
        }
    }

    /// The connections still waiting, no longer waited for (the server stops).
    pub(super) fn take_arrivals(&mut self) -> Vec<ClientId> {
        let arrivals = self.starting.take().map(|s| s.arrivals).unwrap_or_default();
        arrivals.into_iter().map(|(id, _)| id).collect()
    }

    /// A waiting connection went away: forgotten, its lines with it.
    pub(super) fn depart(&mut self, id: ClientId) {
        if let Some(s) = self.starting.as_mut() {
            s.arrivals.retain(|&(a, _)| a != id);
        }
        self.held.remove(&id);
    }

    pub(super) fn start_link_up(&mut self) {
        let now = self.now;
        if let Some(s) = self.starting.as_mut() {
            s.link_up_at.get_or_insert(now);
        }
    }

    pub(super) fn start_history_read(&mut self) {
        if let Some(s) = self.starting.as_mut() {
            s.history = true;
        }
    }

    pub(super) fn start_rostered(&mut self, node: &str) {
        if let Some(s) = self.starting.as_mut()
            && !s.rostered.contains(node)
        {
            s.rostered.insert(node.into());
        }
    }

    /// When the start is next worth looking at again.
    pub(super) fn start_deadline(&self) -> Option<Instant> {
        let s = self.starting.as_ref()?;
        let settled = s.link_up_at.map(|at| at + SETTLE);
        Some(settled.map_or(s.deadline, |t| t.min(s.deadline)))
    }

    /// Lets the waiting clients in if the node knows the cluster now, or has waited long
    /// enough.
    pub(super) fn check_started(&mut self, out: &mut impl Outbox) {
        let Some(s) = self.starting.as_ref() else {
            return;
        };
        let settled = s.link_up_at.is_some_and(|at| self.now >= at + SETTLE);
        let rosters = self.nodes.keys().all(|n| s.rostered.contains(n));
        let ready = settled && s.history && rosters;
        if !ready && self.now < s.deadline {
            return;
        }
        let Some(s) = self.starting.take() else {
            return;
        };
        if ready {
            log::info!(
                "cluster: {} other nodes known, {} of their clients; serving",
                self.nodes.len(),
                self.remotes.len()
            );
        } else {
            let missing = if s.link_up_at.is_none() {
                "the broker"
            } else if !s.history {
                "the rooms' history"
            } else if !rosters {
                "every node's roster"
            } else {
                "every node's beat (its link came up late)"
            };
            log::warn!("cluster: serving after {START_WAIT:?} without {missing}");
        }
        for (id, ip) in s.arrivals {
            self.connect(id, ip, out);
            self.replay_held(id, out);
        }
    }
}
