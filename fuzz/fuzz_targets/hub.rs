//! The chat core fed random event sequences, room commands included. Checks: nothing is sent to
//! a closed client, every line sent is one whole line, names stay unique, the count of clients
//! matches, and the rooms never exceed their limit. Operators, bans, mutes and the password gate
//! are in it too, with time moving on; and, in a cluster, what other nodes say (lines live and
//! late, moderation from other nodes), the link going down and up, the answers to name claims,
//! guest numbers and kept bans. On a single node with a store: what a restart restored, and
//! the store's answers to `/history before` and `/search`, late, stale, busy or failed. And
//! the accounts' commands, their passwords "hashed" by a pool that answers at the end of a
//! turn (or is busy).
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use chatd::node_wire::{Body, Message};
use chatd::hub::access::Secret;
use chatd::hub::{
    Ask, Claim, ClientId, Event, Found, Hashed, Hasher, Hashing, Hub, HubConfig, Keep, Keeper,
    Leave, Line, Outbox, Page, Restored, RestoredRoom, StoredLine,
};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Checker {
    closed: HashSet<ClientId>,
    store: Option<FakeStore>,
    hasher: FakeHasher,
}

/// A pool that hashes nothing (a hash is `h:` and the password), answering at the end of a
/// turn; busy when the input says.
#[derive(Default)]
struct FakeHasher {
    work: RefCell<Vec<Hashed>>,
    busy: Cell<bool>,
}

impl Hasher for FakeHasher {
    fn hash(&self, work: &Hashing<'_>) -> bool {
        if self.busy.get() {
            return false;
        }
        let hashed = match *work {
            Hashing::Check { to, serial, hash, password, new } => {
                let matched = hash == Some(format!("h:{password}").as_str());
                Hashed { to, serial, matched, hash: new.filter(|_| matched).map(|n| format!("h:{n}")) }
            }
            Hashing::Make { to, serial, password } => {
                Hashed { to, serial, matched: true, hash: Some(format!("h:{password}")) }
            }
        };
        self.work.borrow_mut().push(hashed);
        true
    }
}

/// A store that keeps nothing and remembers the questions, answered when the input says.
#[derive(Default)]
struct FakeStore {
    /// Client, serial, room (None: a search).
    asked: RefCell<Vec<(ClientId, u64, Option<String>)>>,
    busy: Cell<bool>,
}

impl Keeper for FakeStore {
    fn keep(&self, what: &Keep<'_>) {
        if let Keep::Line { from, text, .. } = what {
            assert!(!from.contains('\n') && !text.contains('\n'));
        }
    }
    fn ask(&self, what: &Ask<'_>) -> bool {
        if self.busy.get() {
            return false;
        }
        let asked = match *what {
            Ask::Before { to, serial, room, .. } => (to, serial, Some(room.to_owned())),
            Ask::Search { to, serial, .. } => (to, serial, None),
        };
        self.asked.borrow_mut().push(asked);
        true
    }
}

fn stored(id: u64, from: &str, text: &str) -> StoredLine {
    StoredLine { id, at: id * 1000, from: from.into(), me: id % 2 == 0, text: text.into() }
}

impl Outbox for Checker {
    fn send(&mut self, to: ClientId, line: &Line) {
        assert!(!self.closed.contains(&to), "sent to closed client {to}");
        assert_eq!(line.last(), Some(&b'\n'));
        assert!(!line[..line.len() - 1].contains(&b'\n'), "a line with a newline inside");
    }
    fn close(&mut self, who: ClientId) {
        self.closed.insert(who);
    }
    fn keeper(&self) -> Option<&dyn Keeper> {
        self.store.as_ref().map(|s| s as &dyn Keeper)
    }
    fn hasher(&self) -> Option<&dyn Hasher> {
        Some(&self.hasher)
    }
}

const LINES: [&[u8]; 62] = [
    b"hello", b"/nick a", b"/nick A", b"/nick b", b"/who", b"/msg a hi", b"/me x",
    b"/quit", b"/quit bye", b"//x", b"\xff\xfe", b"\x1b[2J", b"/join r1", b"/join #R1",
    b"/join r2", b"/join r3", b"/part", b"/rooms", b"/who r1", b"/topic t", b"/topic",
    b"/history 2", b"/pass pw", b"/pass x", b"/oper op", b"/oper no", b"/kick a", b"/ban a",
    b"/ban b 1", b"/unban 127.0.0.1", b"/bans", b"/mute a", b"/unmute a", b"/kick b why",
    b"/me muted?", b"/part r1", b"/part #R2", b"/say r1 hi", b"/say r2 hi", b"/format json",
    b"/format text", b"/join lobby", b"/part lobby", b"/say lobby x", b"/part r3", b"/who r2",
    b"/history before 3", b"/history before 1 500", b"/history before x", b"/search hi",
    b"/search #r1 hi there", b"/search", b"/search \"*", b"/history before 99999999999999999999",
    b"/register password1", b"/login a password1", b"/login b wrongpass", b"/logout",
    b"/password password1 password2", b"/unregister password1", b"/drop a", b"/msg b later",
];

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let gate = data.first().is_some_and(|b| b & 1 == 1);
    let clustered = data.first().is_some_and(|b| b & 2 == 2);
    let kept = !clustered && data.first().is_some_and(|b| b & 4 == 4);
    let mut hub = Hub::new(
        HubConfig {
            max_clients: 6,
            max_line: 64,
            max_per_ip: 4,
            max_connects_per_minute: 8,
            exempt: Vec::new(),
            rate: 50.0,
            burst: 10.0,
            max_rooms: 3,
            max_rooms_per_client: 2,
            history: 3,
            password: gate.then(|| Secret::new("pw")),
            oper_password: Some(Secret::new("op")),
            node: clustered.then(|| "me".into()),
            first_line: Some(Duration::from_secs(60)),
            learn_cluster_first: clustered,
            operators: Vec::new(),
            // Newcomers kept quiet for a while (a /login first), or announced at once.
            announce_grace: if data.first().is_some_and(|b| b & 8 == 8) {
                Duration::from_millis(300)
            } else {
                Duration::ZERO
            },
        },
        now,
    );
    let mut out = Checker { store: kept.then(FakeStore::default), ..Checker::default() };
    if kept {
        // What a restart finds: more rooms than the limit, a name chatd could not have made,
        // lines with breaks in them, a ban, and a line counter.
        let room = |name: &str, topic: Option<&str>, lines: Vec<StoredLine>| RestoredRoom {
            name: name.into(),
            topic: topic.map(Into::into),
            lines,
        };
        let restored = Restored {
            rooms: vec![
                room("r1", Some("kept topic"), vec![stored(1, "a", "one"), stored(2, "b", "two")]),
                room("bad name!", None, vec![stored(3, "a", "x")]),
                room("r2", Some("two\nlines"), vec![stored(4, "a\nb", "x"), stored(5, "c", "y\nz")]),
                room("r3", None, vec![]),
                room("r4", None, vec![stored(6, "d", "over the limit")]),
            ],
            bans: vec![(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 30, "op".into())],
            said: u64::from(data.get(1).copied().unwrap_or(0)) * 1000,
            accounts: Vec::new(),
        };
        hub.handle(Event::Restored(&restored), &mut out);
    }
    let mut connected: HashSet<ClientId> = HashSet::new();
    for pair in data.chunks(2) {
        let (op, arg) = (pair[0], *pair.get(1).unwrap_or(&0));
        let id = (arg % 8) as ClientId;
        match op % 8 {
            0 if !connected.contains(&id) => {
                out.closed.remove(&id);
                let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + arg / 128));
                hub.handle(Event::Connected(id, ip), &mut out);
                connected.insert(id);
            }
            1 if connected.contains(&id) => {
                let line = LINES[(arg / 8) as usize % LINES.len()];
                hub.handle(Event::Line(id, line), &mut out);
            }
            2 if connected.contains(&id) => hub.handle(Event::LineTooLong(id), &mut out),
            3 if connected.contains(&id) => {
                let why = [Leave::Closed, Leave::TooSlow, Leave::Flooding, Leave::IdleTimeout]
                    [(arg / 8) as usize % 4];
                hub.handle(Event::Disconnected(id, why), &mut out);
                connected.remove(&id);
            }
            4 => {
                // The pool's answers: all of them, or (arg & 1) a stale one; busy from now on
                // when arg & 2.
                out.hasher.busy.set(arg & 2 == 2);
                let mut answers = std::mem::take(&mut *out.hasher.work.borrow_mut());
                if arg & 1 == 1 {
                    answers.push(Hashed { to: id, serial: u64::from(arg), matched: true, hash: None });
                }
                for hashed in answers {
                    hub.handle(Event::Hashed(&hashed), &mut out);
                }
                hub.end_turn(&mut out);
            }
            5 if arg == 255 => {
                hub.shutdown(&mut out);
                connected.clear();
            }
            5 => {
                now += Duration::from_secs(u64::from(arg));
                hub.tick(now, &mut out);
            }
            6 | 7 if kept => {
                let Some(store) = &out.store else { continue };
                store.busy.set(arg & 64 == 64);
                // The oldest question's answer, or (arg & 1) one for a client or serial that
                // never asked.
                let asked = store.asked.borrow_mut().pop();
                let (to, serial, room) = match asked {
                    Some(a) if arg & 1 == 0 => a,
                    _ => (id, u64::from(arg), (arg & 2 == 2).then(|| "r1".to_owned())),
                };
                let lines: Vec<StoredLine> =
                    (0..u64::from(arg % 5)).map(|i| stored(i + 1, "a", "old")).collect();
                match room {
                    Some(room) => {
                        let page = Page { to, serial, room, before: 9, lines, more: arg & 4 == 4 };
                        hub.handle(Event::Page(&page), &mut out);
                    }
                    None => {
                        let found = Found {
                            to,
                            serial,
                            words: "hi".into(),
                            lines: lines.into_iter().map(|l| ("r1".to_owned(), l)).collect(),
                            failed: (arg & 8 == 8).then(|| "fts5: syntax error".into()),
                        };
                        hub.handle(Event::Found(&found), &mut out);
                    }
                }
            }
            6 if clustered => {
                // The kind from the op byte's high bits (the argument chooses the fields), so
                // that every kind is reached.
                let node = ["n1", "n2", "me"][(arg % 3) as usize];
                let name = ["a", "b", "guest1-me", "A"][(arg / 3 % 4) as usize];
                let room = ["lobby", "r1", "r9"][(arg / 12 % 3) as usize];
                let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + arg / 128));
                let at = u64::from(arg / 36);
                let body = match (op / 8) % 17 {
                    0 => Body::Hello,
                    1 => Body::Beat,
                    2 => Body::Bye,
                    3 => Body::Roster(vec![(name, room), ("b", "lobby")]),
                    4 => Body::Joined { name, room },
                    5 => Body::Left { name, reason: Some("x") },
                    6 => Body::Renamed { old: name, new: "b" },
                    7 => Body::Moved { name, from: "lobby", to: room },
                    8 => Body::Line { room, at, seq: at % 3, text: "<a> hi", late: arg & 1 == 1 },
                    9 => Body::Topic { room, by: name, text: "t" },
                    10 => Body::Private { from: name, to: "a", text: "psst" },
                    11 => Body::Kick { target: name, by: "op", reason: None },
                    12 => Body::Mute { target: name, by: "op", on: arg & 1 == 1 },
                    13 => Body::Ban { target: name, by: "op", minutes: 1 },
                    14 => Body::Banned { ip, secs: 60, by: "op" },
                    15 => Body::Unbanned { ip },
                    _ => {
                        hub.handle(Event::Guests(u64::from(arg), u64::from(arg) + 3), &mut out);
                        continue;
                    }
                };
                hub.handle(Event::Cluster(&Message { node, body }), &mut out);
            }
            7 if clustered && arg % 8 == 6 => {
                let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + arg / 128));
                hub.handle(Event::Bans(&[(ip, 30, "op")]), &mut out);
            }
            7 if clustered && arg % 8 == 4 => {
                // A room's history, as the link reads it when the hub follows the room.
                let room = ["lobby", "dev", "x"][(arg / 8 % 3) as usize];
                let kept = [chatd::node_wire::Kept {
                    room,
                    node: "n2",
                    at: u64::from(arg / 24),
                    seq: u64::from(arg % 3),
                    text: "<b> old",
                }];
                hub.handle(Event::Followed(room, &kept), &mut out);
            }
            7 if clustered && arg % 2 == 0 => hub.handle(Event::Link(arg % 4 == 0), &mut out),
            7 if clustered => {
                let name = ["a", "b", "c"][(arg / 2 % 3) as usize];
                let claim = [Claim::Granted, Claim::Taken, Claim::Unavailable][(arg / 6 % 3) as usize];
                hub.handle(Event::Claimed(id, name, claim), &mut out);
            }
            _ => {}
        }
        // A client the hub closed (quit, refused) is gone for the driver too.
        connected.retain(|id| !out.closed.contains(id));
        assert_eq!(hub.online() + hub.waiting(), connected.len());
        let names: Vec<String> =
            connected.iter().filter_map(|&c| hub.name(c)).map(|n| n.to_ascii_lowercase()).collect();
        assert_eq!(names.len(), hub.online());
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "names not unique: {names:?}");
        // Other nodes' clients may be in rooms this node would not have made.
        assert!(hub.rooms() <= if clustered { 5 } else { 3 });
    }
});
