//! Several nodes, one chat: each chatd node of a cluster tells the others, through a NATS
//! broker, what its clients do (join, leave, move, rename, say), and delivers what the others
//! tell it to its own clients. The chat rules stay in the hub: what another node says reaches
//! it as one more event ([`crate::hub::Event::Cluster`]), and what it wants the others to know
//! leaves through its outbox ([`crate::hub::Outbox::publish`]).
//!
//! - [`link`]: the NATS client, on a thread of its own with its own async runtime, between the
//!   broker and the server's loop or threads. Below it, each using only those before it:
//!   `kv.rs` keeps the guest counter, topics and bans in JetStream key-value buckets,
//!   `accounts.rs` the accounts in another, and the messages that wait for their owners,
//!   `names.rs` the names this node's clients hold, renewed before they expire, `history.rs`
//!   the stream of the rooms' last lines, `broker.rs` connects (credentials, TLS, the check at
//!   start), and `interest.rs` keeps what the node reads.
//!
//! What the nodes say to each other is the hub's language, so its format is beside the hub and the
//! clients' protocol, in [`crate::node_wire`]; this folder is the NATS transport only.
//!
//! Every node publishes on `chatd.CLUSTER.events`, and chat lines on `chatd.CLUSTER.room.ROOM`;
//! it reads the events, and the lines of the rooms it has clients in (`interest.rs`): a line
//! crosses the broker once per node that needs it, never once per recipient, and never to a
//! node with no one in its room. Each message carries its place among its node's, which keeps
//! each node's messages in the order it sent them across subjects. A JetStream stream keeps
//! the last lines of every room subject (the room's history, for a node that starts later or
//! starts following the room), and key-value buckets the names claimed and the bans.

mod accounts;
mod broker;
mod history;
mod interest;
mod kv;
pub mod link;
mod names;

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
    /// The history stream's other limits: lines older than this are let go (`--keep-days`),
    /// and the oldest while it holds more bytes than this (`--keep-mb`).
    pub keep_for: Option<std::time::Duration>,
    pub keep_bytes: Option<u64>,
    /// How the node proves itself to the broker, besides a user and password in the URL.
    pub auth: Option<Auth>,
    /// CA certificates (PEM) for the broker's TLS certificate: TLS required.
    pub ca: Option<std::path::PathBuf>,
}

/// A node's credentials for the broker, read from `--cluster-creds` at start.
#[derive(Clone)]
pub enum Auth {
    /// A NATS credentials file's text: a user JWT and its NKey seed.
    Credentials(String),
    /// A token.
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Credentials(_) => f.write_str("Credentials(..)"),
            Auth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl Auth {
    /// A credentials file's text (recognised by its `BEGIN NATS USER JWT` block, and checked
    /// now), or else a token: the file's first line, `first`.
    pub fn parse(whole: &str, first: &str) -> Result<Auth, String> {
        if whole.contains("BEGIN NATS USER JWT") {
            async_nats::ConnectOptions::with_credentials(whole)
                .map_err(|e| format!("not a usable NATS credentials file: {e}"))?;
            return Ok(Auth::Credentials(whole.to_string()));
        }
        Ok(Auth::Token(first.to_string()))
    }
}

/// `url` without a `USER:PASS@` part, and that part: the NATS client takes a user and password
/// as options, not from the URL.
pub fn split_user(url: &str) -> (String, Option<(String, String)>) {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let bare = match scheme {
        Some(scheme) => format!("{scheme}://{host}"),
        None => host.to_string(),
    };
    (bare, Some((user.to_string(), pass.to_string())))
}

/// `url` without the password it may carry, for the log.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
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
    fn users_and_passwords_come_out_of_urls() {
        assert_eq!(
            split_user("nats://ana:s3:cret@host:4222"),
            (
                "nats://host:4222".to_string(),
                Some(("ana".to_string(), "s3:cret".to_string()))
            )
        );
        assert_eq!(
            split_user("tls://host:1"),
            ("tls://host:1".to_string(), None)
        );
        assert_eq!(
            redacted("nats://ana:s3cret@host:1"),
            "nats://ana:***@host:1"
        );
        assert_eq!(redacted("nats://host:1"), "nats://host:1");
    }

    #[test]
    fn node_ids_are_valid_and_differ() {
        let a = new_node_id();
        let b = new_node_id();
        assert!(crate::node_wire::valid_node(&a), "{a}");
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
    }
}
