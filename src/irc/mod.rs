//! IRC, as a client speaks it to chatd's IRC listener, pure: [`message`], its message format
//! (the Modern IRC client protocol documents and the IRCv3 message-tags specification are the
//! references), and [`session`], what one client's messages mean in the chat's command
//! language and what the hub's JSON events mean to it. The connection core drives a session as
//! one more layer of a connection (`connection/irc.rs`), so that the hub never learns IRC.

pub mod message;
pub mod session;
