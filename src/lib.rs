//! chatd: a group-chat server over TCP, with two concurrency models behind one chat core.
//!
//! - [`framing`] and [`command`]: the wire protocol, as pure functions.
//! - [`hub`]: the chat rules, sans-IO: events in, deliveries out.

pub mod command;
pub mod framing;
pub mod hub;
