//! The seam between the hub and the threads beside it: the cluster link and the store's reader
//! put what they have for the hub ([`Incoming`]) in an [`Inbox`] and wake the server; both
//! concurrency models take it from there and hand it to the hub through one [`Inbound`], which
//! checks what came from the broker first. So nothing slow (the broker, the disk) ever runs
//! on the poll loop or under the room lock, and each answer is one more hub event.

use std::net::IpAddr;
use std::sync::Arc;

use crate::hub::Claim;
use crate::hub::ClientId;
use crate::hub::{Event, Found, Hub, Outbox, Page};
use crate::node_wire::{self as wire, Body, Message};

/// What the threads beside the hub hand the server: the cluster link's news, and the store's
/// answers.
pub enum Incoming {
    /// A message from the broker, not checked yet (see [`wire::decode`]).
    Message(Vec<u8>),
    /// Connected to the broker (`true`), or lost it (`false`).
    Link(bool),
    /// The answer to [`crate::cluster::link::Link::claim`].
    Claimed(ClientId, String, Claim),
    /// A name this node held is another node's now (this node was cut off for longer than
    /// names are kept without renewal).
    NameLost(String),
    /// Guest numbers for this node, `start..end` (empty: the cluster could not be asked).
    Guests(u64, u64),
    /// The bans the cluster keeps: address, seconds left, by whom.
    Bans(Vec<(IpAddr, u64, String)>),
    /// The rooms' topics the cluster keeps: the node messages that set them, not checked yet.
    Topics(Vec<Vec<u8>>),
    /// The rooms' last lines as the cluster keeps them (messages not checked yet): when the
    /// link first comes up, and again when the hub asks (after an outage).
    History(Vec<Vec<u8>>),
    /// One room's last lines, when the hub starts following it ([`crate::hub::Nodes::follow`]).
    Followed(String, Vec<Vec<u8>>),
    /// The store's page of a room's older lines ([`crate::hub::Ask::Before`]).
    Page(Page),
    /// The store's search results ([`crate::hub::Ask::Search`]).
    Found(Found),
    /// The hashing pool's answer ([`crate::hub::Hashing`]).
    Hashed(crate::hub::Hashed),
    /// The cluster's answer to an account's creation or a name taken by its owner.
    Answered(ClientId, u64, Claim),
    /// The accounts the cluster keeps: node messages, not checked yet.
    Accounts(Vec<Vec<u8>>),
    /// The messages kept for an account (node messages, not checked yet), for its owner.
    Waited(ClientId, String, Vec<Vec<u8>>),
}

/// What both concurrency models do with what the link brings: turn it into hub events,
/// checking every message from the broker first and counting (and logging, sparingly) the
/// ones refused.
pub struct Inbound {
    cluster: String,
    refused: u64,
}

impl Inbound {
    pub fn new(cluster: &str) -> Inbound {
        Inbound {
            cluster: cluster.to_string(),
            refused: 0,
        }
    }

    /// Hands the hub everything in `items`.
    pub fn hand_all(&mut self, items: &[Incoming], hub: &mut Hub, out: &mut impl Outbox) {
        for item in items {
            self.hand(item, hub, out);
        }
    }

    /// Hands `item` to the hub.
    pub fn hand(&mut self, item: &Incoming, hub: &mut Hub, out: &mut impl Outbox) {
        match item {
            Incoming::Link(up) => hub.handle(Event::Link(*up), out),
            Incoming::History(raw) => {
                let lines = wire::lines(&self.cluster, raw);
                hub.handle(Event::Stored(&lines), out);
            }
            Incoming::Hashed(hashed) => hub.handle(Event::Hashed(hashed), out),
            Incoming::Followed(room, raw) => {
                let lines = wire::lines(&self.cluster, raw);
                hub.handle(Event::Followed(room, &lines), out);
            }
            Incoming::Claimed(id, name, claim) => {
                hub.handle(Event::Claimed(*id, name, *claim), out)
            }
            Incoming::NameLost(name) => hub.handle(Event::NameLost(name), out),
            Incoming::Guests(start, end) => hub.handle(Event::Guests(*start, *end), out),
            Incoming::Bans(bans) => {
                let bans: Vec<(IpAddr, u64, &str)> = bans
                    .iter()
                    .map(|(ip, secs, by)| (*ip, *secs, by.as_str()))
                    .collect();
                hub.handle(Event::Bans(&bans), out);
            }
            Incoming::Topics(raw) => {
                let topics: Vec<(&str, &str, &str)> = raw
                    .iter()
                    .filter_map(|bytes| match wire::decode(&self.cluster, bytes) {
                        Ok(Message {
                            body: Body::Topic { room, by, text },
                            ..
                        }) => Some((room, by, text)),
                        _ => None, // not a topic: another program's key, or a hostile one
                    })
                    .collect();
                hub.handle(Event::Topics(&topics), out);
            }
            Incoming::Answered(id, serial, claim) => {
                hub.handle(Event::Answered(*id, *serial, *claim), out)
            }
            Incoming::Accounts(raw) => {
                let accounts: Vec<(&str, u64, &str)> = raw
                    .iter()
                    .filter_map(|bytes| match wire::decode(&self.cluster, bytes) {
                        Ok(Message {
                            body: Body::Account { name, until, hash },
                            ..
                        }) => Some((name, until, hash)),
                        _ => None, // another program's key, or a hostile one
                    })
                    .collect();
                hub.handle(Event::Accounts(&accounts), out);
            }
            Incoming::Waited(id, name, raw) => {
                let waiting: Vec<crate::hub::Waiting> = raw
                    .iter()
                    .filter_map(|bytes| match wire::decode(&self.cluster, bytes) {
                        Ok(Message {
                            body: Body::Waiting { from, to, at, text },
                            ..
                        }) if to.eq_ignore_ascii_case(name) => Some(crate::hub::Waiting {
                            from: from.into(),
                            at,
                            text: text.into(),
                        }),
                        _ => None,
                    })
                    .collect();
                hub.handle(Event::Waited(*id, name, &waiting), out);
            }
            Incoming::Page(page) => hub.handle(Event::Page(page), out),
            Incoming::Found(found) => hub.handle(Event::Found(found), out),
            Incoming::Message(bytes) => match wire::decode(&self.cluster, bytes) {
                Ok(msg) => hub.handle(Event::Cluster(&msg), out),
                Err(e) => {
                    self.refused += 1;
                    if self.refused <= 10 || self.refused.is_power_of_two() {
                        log::warn!("cluster: ignored a message ({e}); {} so far", self.refused);
                    }
                }
            },
        }
    }
}

/// What the link and the store brought and the server has not taken yet: their threads put it
/// here and call the server's `wake` (poll mode's `mio::Waker`); the server takes it all at once, or
/// waits for it on a thread of its own (threads mode).
#[derive(Default)]
pub struct Inbox {
    items: std::sync::Mutex<Vec<Incoming>>,
    arrived: std::sync::Condvar,
}

impl Inbox {
    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Incoming>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn put(&self, item: Incoming) {
        self.items().push(item);
        self.arrived.notify_one();
    }

    /// Everything that arrived so far.
    pub fn take(&self) -> Vec<Incoming> {
        std::mem::take(&mut *self.items())
    }

    /// Everything that arrived, waiting until something has.
    pub fn wait(&self) -> Vec<Incoming> {
        let items = self.items();
        let mut items = self
            .arrived
            .wait_while(items, |i| i.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *items)
    }
}

/// The server's inbox, and what the link and the store call to put something in it: it puts,
/// then calls `wake` (poll mode's `mio::Waker`; nothing in threads mode, whose news thread
/// waits on the inbox).
pub fn inbox(
    wake: impl Fn() + Send + Sync + 'static,
) -> (
    Arc<Inbox>,
    impl Fn(Incoming) + Clone + Send + Sync + 'static,
) {
    let inbox = Arc::new(Inbox::default());
    let to = Arc::clone(&inbox);
    let wake = Arc::new(wake);
    (inbox, move |item| {
        to.put(item);
        wake();
    })
}
