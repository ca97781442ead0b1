//! chatd: a group-chat server over TCP, with two concurrency models behind one chat core.
//! From the bottom up (each module uses only those above it in this list; `tests/architecture.rs`
//! checks it; docs/ARCHITECTURE.md walks a line through them):
//!
//! - [`framing`], [`command`], [`rate`]: the clients' protocol and flood control, as pure
//!   functions; [`cidr`]: address ranges and the per-address limits' key; [`metrics`]: what an
//!   operator watches; [`http`]: the web listener's requests
//!   and answers; [`tls`], [`net`],
//!   [`shutdown`], [`memory`]: TLS settings and state, socket plumbing, graceful stop,
//!   allocator settings.
//! - [`node_wire`]: what nodes of a cluster say to each other, pure.
//! - [`hub`]: the chat rules, sans-IO: events in, deliveries out.
//! - [`irc`]: IRC as a client speaks it, and an IRC session in the chat's terms (its lines to
//!   the hub's commands, the hub's JSON events to IRC), pure.
//! - [`connection`]: what one client connection does, written once for both models: its
//!   transport layers, its intake (bytes to hub events), its output queue.
//!   [`news`]: the seam through which the threads beside the hub answer it;
//!   [`cluster`]: the NATS link, [`store`]: the SQLite file, and [`hashing`]: the pool that
//!   hashes accounts' passwords, sources of hub events.
//! - [`config`]: the options.
//! - [`poll_server`] and [`thread_server`]: the two concurrency models that drive the hub;
//!   [`client`]: the `chat` client, line mode and terminal UI; [`bench`]: chatbench.

pub mod bench;
pub mod cidr;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod framing;
pub mod hashing;
pub mod http;
pub mod hub;
pub mod irc;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod news;
pub mod node_wire;
pub mod poll_server;
pub mod rate;
pub mod shutdown;
pub mod store;
pub mod thread_server;
pub mod tls;
