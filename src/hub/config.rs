//! The chat rules' settings, as the command line and the config file give them (see
//! `crate::config`), and what the hub reads of them everywhere.

use std::time::Duration;

use super::Outbox;
use super::access::Secret;
use crate::node_wire::Body;

/// The chat rules' settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub max_clients: usize,
    /// Only quoted in the `! line too long` error and `/limits`; framing enforces it.
    pub max_line: usize,
    /// Lines a second a client may send, and at once (0: no limit): only told (`/limits`);
    /// each connection's intake enforces them.
    pub rate: f64,
    pub burst: f64,
    /// Most clients from one address; 0 means no limit.
    pub max_per_ip: usize,
    /// Most new connections from one address in a minute; 0 means no limit.
    pub max_connects_per_minute: u32,
    /// Addresses the two limits above do not apply to (loopback by default: a reverse proxy,
    /// or a test, connects from there).
    pub exempt: Vec<crate::cidr::Cidr>,
    /// Most rooms at once, the lobby included.
    pub max_rooms: usize,
    /// Most rooms one connection is in at once (one that reads JSON may be in several).
    pub max_rooms_per_client: usize,
    /// Chat lines each room keeps for whoever enters it; 0 keeps none.
    pub history: usize,
    /// The server's password: every client must give it first (`/pass`).
    pub password: Option<Secret>,
    /// The operators' password (`/oper`); without it there are no operators.
    pub oper_password: Option<Secret>,
    /// This node's id, when it is one of a cluster's.
    pub node: Option<Box<str>>,
    /// A client that has not sent a line this long after connecting is closed with
    /// `! idle timeout`; `None`: never.
    pub first_line: Option<Duration>,
    /// In a cluster: the clients that come while the node starts wait, at most
    /// [`start::START_WAIT`], until it knows the other nodes' clients and the history (see
    /// [`start`]). `false`: served at once (the hub's own tests, which feed it by hand).
    pub learn_cluster_first: bool,
    /// Accounts that are operators as soon as they log in (lower-cased).
    pub operators: Vec<Box<str>>,
    /// How long a newcomer that says nothing is kept from the others' notice (see
    /// [`super::quiet`]): a `/login` sent at once is answered first, and the client is
    /// announced once, under its account's name. Zero: announced at the end of its turn.
    pub announce_grace: Duration,
}

impl HubConfig {
    /// This node is one of a cluster's.
    pub(super) fn in_cluster(&self) -> bool {
        self.node.is_some()
    }

    /// Tells the other nodes, in a cluster; a single node tells no one. Every message the hub
    /// publishes goes through here.
    pub(super) fn tell_nodes(&self, out: &mut impl Outbox, body: &Body<'_>) {
        if self.in_cluster() {
            out.publish(body);
        }
    }
}
