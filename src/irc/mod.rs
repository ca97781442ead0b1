//! IRC, as a client speaks it to chatd (the listener of issue 31): for now its message format,
//! pure. The Modern IRC client protocol documents and the IRCv3 message-tags specification are
//! the references; what chatd does with each command will live beside it, as one more layer of
//! the connection core, so that the hub never learns IRC.

pub mod message;
pub mod session;
