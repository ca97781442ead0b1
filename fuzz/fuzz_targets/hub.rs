//! The chat core fed random event sequences, room commands included. Checks: nothing is sent to
//! a closed client, every line sent is one whole line, names stay unique, the count of clients
//! matches, and the rooms never exceed their limit. Operators, bans, mutes and the password gate
//! are in it too, with time moving on; and, in a cluster, what other nodes say (lines live and
//! late, moderation from other nodes), the link going down and up, the answers to name claims,
//! guest numbers and kept bans.
#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use chatd::node_wire::{Body, Message};
use chatd::hub::access::Secret;
use chatd::hub::{Claim, ClientId, Event, Hub, HubConfig, Leave, Line, Outbox};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Checker {
    closed: HashSet<ClientId>,
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
}

const LINES: [&[u8]; 46] = [
    b"hello", b"/nick a", b"/nick A", b"/nick b", b"/who", b"/msg a hi", b"/me x",
    b"/quit", b"/quit bye", b"//x", b"\xff\xfe", b"\x1b[2J", b"/join r1", b"/join #R1",
    b"/join r2", b"/join r3", b"/part", b"/rooms", b"/who r1", b"/topic t", b"/topic",
    b"/history 2", b"/pass pw", b"/pass x", b"/oper op", b"/oper no", b"/kick a", b"/ban a",
    b"/ban b 1", b"/unban 127.0.0.1", b"/bans", b"/mute a", b"/unmute a", b"/kick b why",
    b"/me muted?", b"/part r1", b"/part #R2", b"/say r1 hi", b"/say r2 hi", b"/format json",
    b"/format text", b"/join lobby", b"/part lobby", b"/say lobby x", b"/part r3", b"/who r2",
];

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let gate = data.first().is_some_and(|b| b & 1 == 1);
    let clustered = data.first().is_some_and(|b| b & 2 == 2);
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
        },
        now,
    );
    let mut out = Checker::default();
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
            4 => hub.end_turn(&mut out),
            5 if arg == 255 => {
                hub.shutdown(&mut out);
                connected.clear();
            }
            5 => {
                now += Duration::from_secs(u64::from(arg));
                hub.tick(now, &mut out);
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
