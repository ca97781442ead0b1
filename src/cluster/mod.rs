//! Several nodes, one chat: each chatd node of a cluster tells the others, through a NATS
//! broker, what its clients do (join, leave, move, rename, say), and delivers what the others
//! tell it to its own clients. The chat rules stay in the hub: what another node says reaches
//! it as one more event ([`crate::hub::Event::Cluster`]), and what it wants the others to know
//! leaves through its outbox ([`crate::hub::Outbox::publish`]).
//!
//! - [`wire`]: the messages and their text form (pure).
//! - [`link`]: the NATS client, on a thread of its own with its own async runtime, between the
//!   broker and the server's loop or threads.
//!
//! Every node publishes on one subject, `chatd.CLUSTER.events`, and reads it: a message crosses
//! the broker once per node that reads it, never once per recipient. One connection per node
//! keeps each node's messages in the order it sent them.

pub mod link;
pub mod wire;

/// How a node joins its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The broker's addresses (`nats://HOST:PORT`), tried in turn.
    pub urls: Vec<String>,
    /// Clusters sharing one broker are told apart by it.
    pub name: String,
    /// This node's id (see [`wire::valid_node`]).
    pub node: String,
}

impl ClusterConfig {
    /// The subject every node of the cluster publishes on and reads.
    pub fn subject(&self) -> String {
        format!("chatd.{}.events", self.name)
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
        assert!(wire::valid_node(&a), "{a}");
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
    }
}
