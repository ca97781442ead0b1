//! What the drivers and the cluster link tell the hub: the [`Event`]s it takes, and the words
//! they are made of (why a client left, what the cluster said of a name).

use std::net::IpAddr;

use super::ClientId;
use super::kept::{Found, Page, Restored};
use crate::node_wire as wire;

/// What the cluster said of a name asked for with [`super::Outbox::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Granted,
    Taken,
    /// The cluster could not be asked (its link or its store is down).
    Unavailable,
}

/// Why a client left, as the others are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The connection closed or failed.
    Closed,
    /// Its outbound backlog went over the limit: it stopped reading.
    TooSlow,
    /// It kept sending over its rate limit; it is told `! flooding`.
    Flooding,
    /// It was silent for too long; it is told `! idle timeout`.
    IdleTimeout,
}

impl Leave {
    pub(super) fn reason(self) -> Option<&'static str> {
        match self {
            Leave::Closed => None,
            Leave::TooSlow => Some("too slow"),
            Leave::Flooding => Some("flooding"),
            Leave::IdleTimeout => Some("idle timeout"),
        }
    }
}

/// What a driver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A new connection, from this address.
    Connected(ClientId, IpAddr),
    /// One framed line, without its `\n`.
    Line(ClientId, &'a [u8]),
    /// The client sent a line longer than the limit; none of it is relayed.
    LineTooLong(ClientId),
    /// The client is gone, or is being removed for the given reason.
    Disconnected(ClientId, Leave),
    /// Another node of the cluster said this (already checked: see [`wire::decode`]).
    Cluster(&'a wire::Message<'a>),
    /// The link to the cluster is down (`false`: lines reach this node only) or back (`true`).
    Link(bool),
    /// The cluster's answer to [`super::Outbox::claim`].
    Claimed(ClientId, &'a str, Claim),
    /// A name this node's client held is another node's now: the cluster gave it away while
    /// this node could not renew it.
    NameLost(&'a str),
    /// The rooms' last lines as the cluster keeps them (in any order): this node's history
    /// starts from them.
    Stored(&'a [wire::Kept<'a>]),
    /// The answer to [`super::Outbox::follow`]: the room's last lines as the cluster keeps them
    /// (empty if it could not be asked).
    Followed(&'a str, &'a [wire::Kept<'a>]),
    /// Guest numbers from `.0` up to (not including) `.1` are this node's to give (empty: the
    /// cluster could not be asked).
    Guests(u64, u64),
    /// The bans the cluster keeps: `(address, seconds left, by whom)`.
    Bans(&'a [(IpAddr, u64, &'a str)]),
    /// The rooms' topics the cluster keeps: `(room, set by, text)`.
    Topics(&'a [(&'a str, &'a str, &'a str)]),
    /// What a single node's store kept, read at start, before anyone is served.
    Restored(&'a Restored),
    /// The store's answer to [`super::Ask::Before`].
    Page(&'a Page),
    /// The store's answer to [`super::Ask::Search`].
    Found(&'a Found),
    /// The hashing pool's answer to [`super::Outbox::hash`].
    Hashed(&'a super::accounts::Hashed),
    /// The cluster's answer to [`super::Outbox::create_account`] or
    /// [`super::Outbox::take_name`]: for this client, this work's number.
    Answered(ClientId, u64, Claim),
    /// The accounts the cluster keeps: `(name, banned until in Unix seconds or 0, hash)`.
    Accounts(&'a [(&'a str, u64, &'a str)]),
    /// The answer to [`super::Outbox::read_waiting`]: the messages kept for the account
    /// `.1`, whose owner is client `.0`, oldest first.
    Waited(ClientId, &'a str, &'a [super::accounts::Waiting]),
}
