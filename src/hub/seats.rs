//! Which rooms each client is in: its seats (a room, and its place in that room's member
//! list), entering and leaving one room.
//!
//! A client has at most one seat it speaks in (`here`: the room its plain lines go to) and
//! any number of others (`also`, JSON clients only). Each room lists its members densely, for
//! broadcasting; a seat remembers its index there, so leaving is a swap-remove and the one
//! swapped in is told its new index. Entering a room makes it the one plain lines go to;
//! leaving that one hands the role to the room entered last of the others.

use std::sync::atomic::Ordering;

use super::{ClientId, Hub, Member, Outbox, RoomId};
use crate::metrics::METRICS;

/// A member's seats beyond the one it speaks in: none for every text client, so none costs
/// more than a pointer (8 bytes, where a `Vec` takes 24 in every member).
#[derive(Debug, Default)]
// The box is the point: a thin pointer in every member, the `Vec` only for the few in several.
#[allow(clippy::box_collection)]
pub(super) struct Others(Option<Box<Vec<Seat>>>);

impl Others {
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Seat> {
        self.0.as_deref().map_or(&[][..], Vec::as_slice).iter()
    }

    fn iter_mut(&mut self) -> std::slice::IterMut<'_, Seat> {
        self.0
            .as_deref_mut()
            .map_or(&mut [][..], Vec::as_mut_slice)
            .iter_mut()
    }

    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |v| v.len())
    }

    /// Adds a seat; the first one makes room for `most` at once (a client that joins a second
    /// room usually joins more), so that growing does not leave holes in the heap.
    fn push(&mut self, seat: Seat, most: usize) {
        self.0
            .get_or_insert_with(|| Box::new(Vec::with_capacity(most.min(32))))
            .push(seat);
    }

    /// The seat in `room` becomes `here`, and `here` the one entered last (no allocation).
    fn swap_in(&mut self, room: RoomId, here: &mut Seat) {
        let Some(seats) = self.0.as_mut() else {
            return;
        };
        if let Some(i) = seats.iter().position(|s| s.room() == room) {
            let seat = seats.remove(i);
            seats.push(std::mem::replace(here, seat));
        }
    }

    /// The seat entered last, taken out.
    fn pop(&mut self) -> Option<Seat> {
        let seats = self.0.as_mut()?;
        let seat = seats.pop();
        if seats.is_empty() {
            self.0 = None;
        }
        seat
    }

    /// The seat in `room`, taken out.
    fn take(&mut self, room: RoomId) -> Option<Seat> {
        let seats = self.0.as_mut()?;
        let i = seats.iter().position(|s| s.room() == room)?;
        let seat = seats.remove(i);
        if seats.is_empty() {
            self.0 = None;
        }
        Some(seat)
    }
}

impl Member {
    /// The room its plain lines go to.
    pub(super) fn room(&self) -> Option<RoomId> {
        self.here.map(Seat::room)
    }

    /// Every room it is in, the one its plain lines go to first.
    pub(super) fn rooms(&self) -> impl Iterator<Item = RoomId> + '_ {
        self.here.iter().chain(self.also.iter()).map(|s| s.room())
    }

    /// How many rooms it is in.
    pub(super) fn room_count(&self) -> usize {
        usize::from(self.here.is_some()) + self.also.len()
    }

    pub(super) fn in_room(&self, room: RoomId) -> bool {
        self.rooms().any(|r| r == room)
    }

    fn seat_mut(&mut self, room: RoomId) -> Option<&mut Seat> {
        self.here
            .iter_mut()
            .chain(self.also.iter_mut())
            .find(|s| s.room() == room)
    }
}

impl Hub {
    /// Puts `id` in `room` (which it is not in), as the room its plain lines go to. Returns
    /// whether it is the only client here in it.
    pub(super) fn enter(&mut self, id: ClientId, room: RoomId) -> bool {
        let members = &mut self.rooms[room].members;
        let seat = Seat::new(room, members.len());
        members.push(id);
        let first = members.len() == 1;
        if let Some(Some(m)) = self.members.get_mut(id) {
            debug_assert!(!m.in_room(room), "client {id} entered a room twice");
            if let Some(was) = m.here.replace(seat) {
                m.also.push(was, self.config.max_rooms_per_client - 1);
            }
        }
        if self.reads_json(id) {
            self.rooms[room].json_members += 1;
        }
        first
    }

    /// `room`, which `id` is in already, becomes the one its plain lines go to.
    pub(super) fn speak_in(&mut self, id: ClientId, room: RoomId) {
        let Some(Some(m)) = self.members.get_mut(id) else {
            return;
        };
        if let Some(here) = m.here.as_mut() {
            m.also.swap_in(room, here);
        }
    }

    /// Takes `id` out of `room`'s member list; removes the room if that left it empty (the
    /// lobby stays). Returns the room, if it still exists. In a cluster, a room no client
    /// here is in any more is not followed (its lines are not wanted here).
    pub(super) fn exit(
        &mut self,
        id: ClientId,
        room: RoomId,
        out: &mut impl Outbox,
    ) -> Option<RoomId> {
        let m = self.members.get_mut(id).and_then(Option::as_mut)?;
        let seat = if m.here.is_some_and(|s| s.room() == room) {
            let seat = m.here.take();
            m.here = m.also.pop();
            seat
        } else {
            m.also.take(room)
        }?;
        let members = &mut self.rooms[room].members;
        members.swap_remove(seat.slot());
        if let Some(&moved) = members.get(seat.slot())
            && let Some(Some(m)) = self.members.get_mut(moved)
            && let Some(s) = m.seat_mut(room)
        {
            *s = Seat::new(room, seat.slot());
        }
        if self.reads_json(id) {
            self.rooms[room].json_members -= 1;
        }
        if !self.rooms[room].waiting.is_empty() {
            self.rooms[room].waiting.retain(|&w| w != id);
            if self.rooms[room].waiting.is_empty() {
                self.done_catching_up(room);
            }
        }
        if self.rooms[room].members.is_empty() && room != self.lobby && self.config.in_cluster() {
            out.unfollow(&self.rooms[room].name);
        }
        self.drop_if_empty(room)
    }

    /// Removes `room` if no one, here or on another node, is in it (the lobby stays); the
    /// room, if it still exists. On a single node, a room with a topic or history outlives
    /// its last member (until `--max-rooms` needs its place: see [`Hub::make_space`]).
    pub(super) fn drop_if_empty(&mut self, room: RoomId) -> Option<RoomId> {
        let r = &self.rooms[room];
        if r.members.is_empty() && r.remote == 0 && room != self.lobby {
            if !self.config.in_cluster() && (r.topic.is_some() || r.history.len() > 0) {
                return Some(room);
            }
            self.remove_room(room);
            return None;
        }
        Some(room)
    }

    /// Makes room for one more room at `--max-rooms`, if it can: the resting room (no one in
    /// it) whose last line is oldest goes from memory (the store still has it).
    pub(super) fn make_space(&mut self) -> bool {
        if self.rooms.len() < self.config.max_rooms {
            return true;
        }
        let resting = self
            .rooms
            .iter()
            .filter(|&(id, r)| r.members.is_empty() && r.remote == 0 && id != self.lobby)
            .min_by_key(|(_, r)| r.history.entries().last().map_or(0, |s| s.at))
            .map(|(id, _)| id);
        match resting {
            Some(room) => {
                self.remove_room(room);
                true
            }
            None => false,
        }
    }

    /// Removes `room`. In a cluster its lines rest here (and are read from the cluster when
    /// this node has none of them: it may not have followed the room), for `/rooms` and for
    /// when someone enters it again.
    fn remove_room(&mut self, room: RoomId) {
        let gone = self.rooms.remove(room);
        METRICS
            .rooms
            .store(self.rooms.len() as i64, Ordering::Relaxed);
        self.by_room.remove(gone.name.to_ascii_lowercase().as_str());
        if !self.config.in_cluster() || self.config.history == 0 {
            return;
        }
        if gone.history.len() == 0 {
            self.unread.push(gone.name);
        } else if let Some(resting) = self.resting(&gone.name) {
            resting.history = gone.history;
        }
    }

    /// Takes `id` out of every room it is in; the rooms that still exist.
    pub(super) fn exit_all(&mut self, id: ClientId, out: &mut impl Outbox) -> Vec<RoomId> {
        let rooms: Vec<RoomId> = self
            .member(id)
            .map(|m| m.rooms().collect())
            .unwrap_or_default();
        rooms
            .into_iter()
            .filter_map(|room| self.exit(id, room, out))
            .collect()
    }
}

/// A room a client is in, and its index in that room's `members`: 8 bytes (an `Option` of
/// one too), a client in 25 rooms holds 25 of them (rooms and members are counted in the
/// thousands, far below 2^32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seat {
    /// The room's id plus one.
    room: std::num::NonZeroU32,
    slot: u32,
}

impl Seat {
    pub(super) fn new(room: RoomId, slot: usize) -> Seat {
        debug_assert!(room < u32::MAX as usize && slot <= u32::MAX as usize);
        Seat {
            room: std::num::NonZeroU32::MIN.saturating_add(room as u32),
            slot: slot as u32,
        }
    }

    pub(super) fn room(self) -> RoomId {
        self.room.get() as RoomId - 1
    }

    pub(super) fn slot(self) -> usize {
        self.slot as usize
    }
}
