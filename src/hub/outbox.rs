//! Where the hub's decisions go: the [`Outbox`] each concurrency model implements, and the
//! [`Nodes`] a cluster's link implements, reached through it.

use std::net::IpAddr;

use super::accounts::{Hasher, Hashing};
use super::kept::{Ask, Keep, Keeper};
use super::{Body, ClientId, Line};

/// Where the hub's decisions go. Implemented by each concurrency model.
pub trait Outbox {
    /// Queue `line` for `to`. Must not block; a driver that cannot take it (the client's backlog is
    /// full) drops the client later, reporting [`Event::Disconnected`] with [`Leave::TooSlow`].
    fn send(&mut self, to: ClientId, line: &Line);
    /// Flush what is queued for `who`, then close it. The hub has already forgotten `who`.
    fn close(&mut self, who: ClientId);
    /// The other nodes, when this node is one of a cluster's.
    fn nodes(&self) -> Option<&dyn Nodes> {
        None
    }
    /// The store, on a single node that has one.
    fn keeper(&self) -> Option<&dyn Keeper> {
        None
    }
    /// The pool that hashes accounts' passwords.
    fn hasher(&self) -> Option<&dyn Hasher> {
        None
    }
    /// Hash or check a password, off the loop; `None`: there is no pool (accounts cannot be
    /// used), `Some(false)`: it is too busy now.
    fn hash(&mut self, work: Hashing<'_>) -> Option<bool> {
        self.hasher().map(|pool| pool.hash(&work))
    }
    /// Keep `what` in the store, if there is one.
    fn keep(&mut self, what: Keep<'_>) {
        if let Some(keeper) = self.keeper() {
            keeper.keep(&what);
        }
    }
    /// Ask the store; `None`: there is none (the hub answers from memory), `Some(false)`: it
    /// is too busy now.
    fn ask(&mut self, what: Ask<'_>) -> Option<bool> {
        self.keeper().map(|keeper| keeper.ask(&what))
    }
    /// Tell the other nodes of the cluster (a node's hub calls it only when it is in one).
    fn publish(&mut self, body: &Body<'_>) {
        if let Some(nodes) = self.nodes() {
            nodes.publish(body);
        }
    }
    /// In a cluster: ask for `name` for `id`, for good across the cluster; the answer comes
    /// back as [`Event::Claimed`].
    fn claim(&mut self, id: ClientId, name: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.claim(id, name);
        }
    }
    /// In a cluster: let go of a name claimed before.
    fn release(&mut self, name: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.release(name);
        }
    }
    /// In a cluster: ask for the next [`GUEST_BLOCK`] guest numbers; they come back as
    /// [`Event::Guests`].
    fn reserve_guests(&mut self) {
        if let Some(nodes) = self.nodes() {
            nodes.reserve_guests();
        }
    }
    /// Keep a ban where a node that starts later finds it: the cluster's, or the store.
    fn store_ban(&mut self, ip: IpAddr, secs: u64, by: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.store_ban(ip, secs, by);
        } else {
            self.keep(Keep::Ban { ip, secs, by });
        }
    }
    /// A ban lifted, in the cluster or the store.
    fn forget_ban(&mut self, ip: IpAddr) {
        if let Some(nodes) = self.nodes() {
            nodes.forget_ban(ip);
        } else {
            self.keep(Keep::Unban(ip));
        }
    }
    /// In a cluster: keep `room`'s topic where a node that starts later finds it.
    fn store_topic(&mut self, room: &str, by: &str, text: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.store_topic(room, by, text);
        }
    }
    /// In a cluster: read the rooms' history from the cluster again; it comes back as
    /// [`Event::Stored`].
    fn reload_history(&mut self) {
        if let Some(nodes) = self.nodes() {
            nodes.reload_history();
        }
    }
    /// In a cluster: a client here is in `room` now, the first: its lines are wanted here,
    /// and its history, which comes back as [`Event::Followed`].
    fn follow(&mut self, room: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.follow(room);
        }
    }
    /// In a cluster: no client here is in `room` any more: its lines are not wanted here.
    fn unfollow(&mut self, room: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.unfollow(room);
        }
    }
    /// In a cluster: make `name`'s account unless a node has one by that name; the answer
    /// comes back as [`Event::Answered`].
    fn create_account(&mut self, to: ClientId, serial: u64, name: &str, hash: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.create_account(to, serial, name, hash);
        }
    }
    /// In a cluster: keep `name`'s account as it is now (banned until `until`, Unix seconds).
    fn store_account(&mut self, name: &str, until: u64, hash: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.store_account(name, until, hash);
        }
    }
    /// In a cluster: forget `name`'s account, and what waits for it.
    fn forget_account(&mut self, name: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.forget_account(name);
        }
    }
    /// In a cluster: take `name` for `to` from whoever holds it (its owner logged in); the
    /// answer comes back as [`Event::Answered`].
    fn take_name(&mut self, to: ClientId, serial: u64, name: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.take_name(to, serial, name);
        }
    }
    /// In a cluster: keep a private message for `to`'s owner, away from every node.
    fn keep_waiting(&mut self, from: &str, to: &str, at: u64, text: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.keep_waiting(from, to, at, text);
        }
    }
    /// In a cluster: the messages kept for `name`'s owner, who logged in as `to`; they come
    /// back as [`Event::Waited`].
    fn read_waiting(&mut self, to: ClientId, name: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.read_waiting(to, name);
        }
    }
    /// In a cluster: read `room`'s history once (the room emptied on another node, so this
    /// one may not have its lines); it comes back as [`Event::Followed`], if it has lines.
    fn read_room(&mut self, room: &str) {
        if let Some(nodes) = self.nodes() {
            nodes.read_room(room);
        }
    }
}

/// The way to the other nodes of a cluster, as the hub sees it: the cluster's link implements
/// it, and a driver's [`Outbox`] hands it over. None of it may wait.
pub trait Nodes {
    /// Tell the other nodes.
    fn publish(&self, body: &Body<'_>);
    /// Ask for `name` for `id`; the answer comes back as [`Event::Claimed`].
    fn claim(&self, id: ClientId, name: &str);
    /// Let go of a name claimed before.
    fn release(&self, name: &str);
    /// Ask for the next guest numbers; they come back as [`Event::Guests`].
    fn reserve_guests(&self);
    /// Keep a ban of `ip` for `secs` seconds from now, for nodes that start later.
    fn store_ban(&self, ip: IpAddr, secs: u64, by: &str);
    /// Forget a kept ban.
    fn forget_ban(&self, ip: IpAddr);
    /// Keep `room`'s topic, set by `by`, for nodes that start later.
    fn store_topic(&self, room: &str, by: &str, text: &str);
    /// Read the rooms' history again.
    fn reload_history(&self);
    /// Start receiving `room`'s lines (a client here entered it) and read its history.
    fn follow(&self, room: &str);
    /// Stop receiving `room`'s lines (no client here is in it).
    fn unfollow(&self, room: &str);
    /// Read `room`'s history once, without following it.
    fn read_room(&self, room: &str);
    /// Make `name`'s account unless it exists; answered as [`Event::Answered`].
    fn create_account(&self, to: ClientId, serial: u64, name: &str, hash: &str);
    /// Keep `name`'s account as it is now.
    fn store_account(&self, name: &str, until: u64, hash: &str);
    /// Forget `name`'s account and its waiting messages.
    fn forget_account(&self, name: &str);
    /// Take `name` for `to` whoever holds it; answered as [`Event::Answered`].
    fn take_name(&self, to: ClientId, serial: u64, name: &str);
    /// Keep a private message for `to`'s owner.
    fn keep_waiting(&self, from: &str, to: &str, at: u64, text: &str);
    /// Read and let go of the messages kept for `name`; they come back as [`Event::Waited`].
    fn read_waiting(&self, to: ClientId, name: &str);
}
