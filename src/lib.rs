//! chatd: a group-chat server over TCP, with two concurrency models behind one chat core.
//!
//! - [`framing`] and [`command`]: the clients' protocol, as pure functions; [`node_wire`]: what
//!   nodes of a cluster say to each other, likewise.
//! - [`hub`]: the chat rules, sans-IO: events in, deliveries out.
//! - [`tls`]: TLS as a layer between a socket and the framer.
//! - [`cluster`]: several nodes sharing one chat through a NATS broker.
//! - [`batch`]: how both models write a line for many recipients once, without a copy each.
//! - [`poll_server`] and [`thread_server`]: the two concurrency models that drive the hub.
//! - [`config`], [`net`], [`shutdown`], [`memory`]: options, socket plumbing, graceful stop,
//!   allocator settings.
//! - [`client`]: the `chat` client, line mode and terminal UI.
//! - [`bench`]: chatbench, the load generator, and the raw relay it compares against.

pub mod batch;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod framing;
pub mod hub;
pub mod memory;
pub mod net;
pub mod node_wire;
pub mod poll_server;
pub mod rate;
pub mod shutdown;
pub mod thread_server;
pub mod tls;
