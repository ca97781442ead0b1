//! The hub's clients by name, ignoring ASCII case, at 8 bytes and a control byte a client: the
//! table holds client ids, and the name it is looked up by is read from the member itself, so
//! that no second copy of each name (lower-cased, in a box of its own) is kept. At 10,000 idle
//! connections that second copy and its wider entry were some 60 bytes of each one's memory.

use std::hash::{BuildHasher, Hasher, RandomState};

use hashbrown::HashTable;

use super::{ClientId, Member};

#[derive(Default)]
pub struct ByName {
    table: HashTable<ClientId>,
    hasher: RandomState,
}

/// The name of member `id` ("" if there is none: such an id is never in the table).
fn name_of(members: &[Option<Member>], id: ClientId) -> &str {
    members
        .get(id)
        .and_then(Option::as_ref)
        .map_or("", |m| &m.name)
}

/// `name`'s hash, lower-cased as it is read.
fn hash(hasher: &RandomState, name: &str) -> u64 {
    let mut h = hasher.build_hasher();
    for b in name.bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.write_u8(0xff);
    h.finish()
}

impl ByName {
    fn hash(&self, name: &str) -> u64 {
        hash(&self.hasher, name)
    }

    /// The client named `name`, whatever its case.
    pub fn get(&self, name: &str, members: &[Option<Member>]) -> Option<ClientId> {
        self.table
            .find(self.hash(name), |&id| {
                name_of(members, id).eq_ignore_ascii_case(name)
            })
            .copied()
    }

    /// Adds member `id` under the name it has now (which no one else here has).
    pub fn insert(&mut self, id: ClientId, members: &[Option<Member>]) {
        let hash = self.hash(name_of(members, id));
        let hasher = &self.hasher;
        self.table.insert_unique(hash, id, |&other| {
            self::hash(hasher, name_of(members, other))
        });
    }

    /// Takes member `id` out, under the name it has now (before it changes, or it leaves).
    pub fn remove(&mut self, id: ClientId, members: &[Option<Member>]) {
        let hash = self.hash(name_of(members, id));
        if let Ok(entry) = self.table.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
    }

    pub fn clear(&mut self) {
        self.table.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.len()
    }
}
