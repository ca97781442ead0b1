//! Several nodes, one chat: each chatd node of a cluster tells the others, through a NATS
//! broker, what its clients do (join, leave, move, rename, say), and delivers what the others
//! tell it to its own clients. The chat rules stay in the hub: what another node says reaches
//! it as one more event ([`crate::hub::Event::Cluster`]), and what it wants the others to know
//! leaves through its outbox ([`crate::hub::Outbox::publish`]).
//!
//! - [`link`]: the NATS client, on a thread of its own with its own async runtime, between the
//!   broker and the server's loop or threads.
//!
//! What the nodes say to each other is the hub's language, so its format is beside the hub and the
//! clients' protocol, in [`crate::node_wire`]; this folder is the NATS transport only.
//!
//! Every node publishes on `chatd.CLUSTER.events`, and chat lines on `chatd.CLUSTER.room.ROOM`,
//! and reads `chatd.CLUSTER.>`: a message crosses the broker once per node that reads it, never
//! once per recipient. One connection per node keeps each node's messages in the order it sent
//! them. A JetStream stream keeps the last lines of every room subject (the room's history, for
//! a node that starts later), and a key-value bucket the names claimed.

pub mod link;

/// How a node joins its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The broker's addresses (`nats://HOST:PORT`), tried in turn.
    pub urls: Vec<String>,
    /// Clusters sharing one broker are told apart by it.
    pub name: String,
    /// This node's id (see [`crate::node_wire::valid_node`]).
    pub node: String,
    /// Chat lines kept per room (`--history`); 0 keeps none, and makes no stream.
    pub history: usize,
}

impl ClusterConfig {
    /// The subject of everything but chat lines.
    pub fn subject(&self) -> String {
        format!("chatd.{}.events", self.name)
    }

    /// The subject of a room's chat lines (room names are matched ignoring case).
    pub fn room_subject(&self, room: &str) -> String {
        format!("chatd.{}.room.{}", self.name, room.to_ascii_lowercase())
    }

    /// What every node reads.
    pub fn all_subjects(&self) -> String {
        format!("chatd.{}.>", self.name)
    }
}

/// A fresh node id: 8 lowercase letters and digits, from the process's random hash keys.
pub fn new_node_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut n = h.finish();
    const DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..8)
        .map(|_| {
            let c = DIGITS[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_valid_and_differ() {
        let a = new_node_id();
        let b = new_node_id();
        assert!(crate::node_wire::valid_node(&a), "{a}");
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
    }
}
