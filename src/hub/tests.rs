//! The chat rules, tested without sockets.

use super::*;
use crate::command;
use crate::hub::Claim;
use crate::hub::access::Secret;
use crate::node_wire as wire;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

/// Records what the hub asks for, and checks that nothing is sent to a closed client.
#[derive(Default)]
struct Recorder {
    sent: Vec<(ClientId, String)>,
    closed: HashSet<ClientId>,
    /// In a cluster: this node's id, and what it published (encoded).
    node: String,
    published: Vec<Vec<u8>>,
    /// Names asked of the cluster, not answered yet; and the names let go of.
    claims: Vec<(ClientId, String)>,
    released: Vec<String>,
    /// Times guest numbers were asked for.
    guests_asked: usize,
    /// Rooms whose lines this node asked for and has not been answered yet; and all the rooms
    /// it follows (lower-cased; the lobby always).
    follow_asked: Vec<String>,
    following: HashSet<String>,
    /// The hashing pool's answers, not given yet (a hash is `$h$` and the password); and
    /// whether the pool is full.
    hashed: Vec<Hashed>,
    pool_busy: bool,
    /// In a cluster: accounts to make and names to take (client, work number, name), not
    /// answered yet; accounts kept; messages kept for owners (from, to, text); owners whose
    /// messages were asked for.
    creates: Vec<(ClientId, u64, String)>,
    takes: Vec<(ClientId, u64, String)>,
    accounts_kept: Vec<String>,
    waiting_kept: Vec<(String, String, String)>,
    waiting_read: Vec<(ClientId, String)>,
}

impl Outbox for Recorder {
    fn send(&mut self, to: ClientId, line: &Line) {
        assert!(!self.closed.contains(&to), "sent to closed client {to}");
        self.sent
            .push((to, String::from_utf8(line.to_vec()).unwrap()));
    }
    fn close(&mut self, who: ClientId) {
        self.closed.insert(who);
    }
    fn publish(&mut self, body: &Body<'_>) {
        let msg = wire::Message {
            node: &self.node,
            body: body.clone(),
        };
        self.published.push(wire::encode("main", &msg));
    }
    fn claim(&mut self, id: ClientId, name: &str) {
        self.claims.push((id, name.to_string()));
    }
    fn release(&mut self, name: &str) {
        self.released.push(name.to_string());
    }
    fn reserve_guests(&mut self) {
        self.guests_asked += 1;
    }
    fn follow(&mut self, room: &str) {
        self.follow_asked.push(room.to_string());
        self.following.insert(room.to_ascii_lowercase());
    }
    fn unfollow(&mut self, room: &str) {
        self.following.remove(&room.to_ascii_lowercase());
    }
    fn create_account(&mut self, to: ClientId, serial: u64, name: &str, _hash: &str) {
        self.creates.push((to, serial, name.to_string()));
    }
    fn store_account(&mut self, name: &str, _until: u64, _hash: &str) {
        self.accounts_kept.push(name.to_string());
    }
    fn take_name(&mut self, to: ClientId, serial: u64, name: &str) {
        self.takes.push((to, serial, name.to_string()));
    }
    fn keep_waiting(&mut self, from: &str, to: &str, _at: u64, text: &str) {
        self.waiting_kept
            .push((from.to_string(), to.to_string(), text.to_string()));
    }
    fn read_waiting(&mut self, to: ClientId, name: &str) {
        self.waiting_read.push((to, name.to_string()));
    }
    fn hash(&mut self, work: Hashing<'_>) -> Option<bool> {
        if self.pool_busy {
            return Some(false);
        }
        self.hashed.push(match work {
            Hashing::Check {
                to,
                serial,
                hash,
                password,
                new,
            } => {
                let matched = hash == Some(format!("$h${password}").as_str());
                Hashed {
                    to,
                    serial,
                    matched,
                    hash: new.filter(|_| matched).map(|n| format!("$h${n}")),
                }
            }
            Hashing::Make {
                to,
                serial,
                password,
            } => Hashed {
                to,
                serial,
                matched: true,
                hash: Some(format!("$h${password}")),
            },
        });
        Some(true)
    }
}

impl Recorder {
    /// Lines sent to `to` since the last call, without their `\n`.
    fn take(&mut self, to: ClientId) -> Vec<String> {
        let (mine, rest) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(t, _)| *t == to);
        self.sent = rest;
        mine.into_iter()
            .map(|(_, l): (_, String)| l.trim_end_matches('\n').to_string())
            .collect()
    }
}

/// The time the hubs of these tests start at.
fn t0() -> Instant {
    Instant::now()
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// The settings of these tests (and of `kept/tests.rs`, which changes a few).
pub(super) fn config() -> HubConfig {
    HubConfig {
        max_clients: 100,
        max_line: 4096,
        max_per_ip: 0,
        max_connects_per_minute: 0,
        // The tests' clients connect from loopback.
        exempt: Vec::new(),
        first_line: None,
        learn_cluster_first: false,
        operators: Vec::new(),
        announce_grace: Duration::ZERO,
        rate: 50.0,
        burst: 100.0,
        max_rooms: 100,
        max_rooms_per_client: 25,
        history: 0,
        password: None,
        oper_password: None,
        node: None,
    }
}

fn hub() -> Hub {
    Hub::new(config(), t0())
}

/// A hub with `n` announced clients 0..n and a clean recorder.
fn room(n: usize) -> (Hub, Recorder) {
    room_with(config(), n)
}

fn say(h: &mut Hub, r: &mut Recorder, id: ClientId, text: &str) {
    h.handle(Event::Line(id, text.as_bytes()), r);
}

#[test]
fn welcome_names_the_client_and_counts_the_room() {
    let (mut h, mut r) = room(2);
    h.handle(Event::Connected(7, LOCAL), &mut r);
    assert_eq!(
        r.take(7),
        ["* welcome guest3, 3 online; type /help for commands"]
    );
    h.end_turn(&mut r);
    assert_eq!(r.take(0), ["* guest3 joined"]);
    assert_eq!(r.take(1), ["* guest3 joined"]);
    assert!(r.take(7).is_empty());
}

#[test]
fn chat_reaches_everyone_but_the_sender() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 1, "hello");
    assert_eq!(r.take(0), ["<guest2> hello"]);
    assert_eq!(r.take(2), ["<guest2> hello"]);
    assert!(r.take(1).is_empty());
}

#[test]
fn empty_lines_are_ignored() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 0, "");
    say(&mut h, &mut r, 0, "   ");
    assert!(r.sent.is_empty());
}

#[test]
fn joins_in_one_turn_are_coalesced_and_precede_other_lines() {
    let (mut h, mut r) = room(1);
    for id in 1..=30 {
        h.handle(Event::Connected(id, LOCAL), &mut r);
    }
    for id in 1..=30 {
        r.take(id);
    }
    say(&mut h, &mut r, 0, "hi");
    let got = r.take(0);
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("* guest2, guest3, "), "{got:?}");
    assert!(got[0].ends_with(", guest21 and 10 more joined"), "{got:?}");
    // Each joiner hears of those who came after it, then gets the message.
    assert_eq!(
        r.take(5),
        [
            "* guest7, guest8, guest9, guest10, guest11, guest12, guest13, \
        guest14, guest15, guest16, guest17, guest18, guest19, guest20, guest21, guest22, guest23, \
        guest24, guest25, guest26 and 5 more joined",
            "<guest1> hi"
        ]
    );
    assert_eq!(r.take(29), ["* guest31 joined", "<guest1> hi"]);
    assert_eq!(r.take(30), ["<guest1> hi"]);
    r.sent.clear();
    h.end_turn(&mut r);
    assert!(r.sent.is_empty());
}

#[test]
fn a_client_that_leaves_before_being_announced_is_never_mentioned() {
    let (mut h, mut r) = room(1);
    h.handle(Event::Connected(1, LOCAL), &mut r);
    h.handle(Event::Disconnected(1, Leave::Closed), &mut r);
    h.end_turn(&mut r);
    assert!(r.take(0).is_empty());
}

#[test]
fn nick_renames_and_tells_the_others() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 0, "/nick Alice");
    assert_eq!(r.take(0), ["* you are now Alice"]);
    assert_eq!(r.take(1), ["* guest1 is now Alice"]);
    say(&mut h, &mut r, 1, "/nick alice");
    assert_eq!(r.take(1), ["! name taken: alice"]);
    say(&mut h, &mut r, 0, "/nick ALICE");
    assert_eq!(r.take(0), ["* you are now ALICE"]);
    assert_eq!(r.take(1), ["* Alice is now ALICE"]);
    say(&mut h, &mut r, 1, "/nick guest1");
    assert_eq!(
        r.take(1),
        ["* you are now guest1"],
        "the old name is free again"
    );
    say(&mut h, &mut r, 1, "/nick bad!name");
    assert_eq!(
        r.take(1),
        ["! invalid name: bad!name (1 to 32 letters, digits, _ or -)"]
    );
    say(&mut h, &mut r, 1, "/nick");
    assert_eq!(r.take(1), ["! usage: /nick NAME"]);
}

#[test]
fn guest_names_skip_names_in_use() {
    let (mut h, mut r) = room(1);
    say(&mut h, &mut r, 0, "/nick GUEST2");
    h.handle(Event::Connected(1, LOCAL), &mut r);
    assert_eq!(
        r.take(1),
        ["* welcome guest3, 2 online; type /help for commands"]
    );
}

#[test]
fn who_lists_everyone_sorted_to_the_requester_only() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 2, "/nick Zed");
    say(&mut h, &mut r, 1, "/nick adam");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/who");
    assert_eq!(r.take(0), ["* online in #lobby (3): adam, guest1, Zed"]);
    assert!(r.sent.is_empty());
}

#[test]
fn msg_reaches_only_its_target() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 0, "/nick ann");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/msg GUEST2 psst, a secret");
    assert_eq!(r.take(1), ["*ann* psst, a secret"]);
    assert!(r.sent.is_empty());
    say(&mut h, &mut r, 0, "/msg nobody hi");
    assert_eq!(r.take(0), ["! no such user: nobody"]);
    say(&mut h, &mut r, 0, "/msg guest2");
    assert_eq!(r.take(0), ["! usage: /msg NAME TEXT"]);
}

#[test]
fn me_is_an_action_for_the_others() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 0, "/me waves");
    assert_eq!(r.take(1), ["* guest1 waves"]);
    assert!(r.take(0).is_empty());
    say(&mut h, &mut r, 0, "/me");
    assert_eq!(r.take(0), ["! usage: /me TEXT"]);
}

#[test]
fn quit_says_bye_closes_and_tells_the_others() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 0, "/quit gone fishing");
    assert_eq!(r.take(0), ["* bye"]);
    assert!(r.closed.contains(&0));
    assert_eq!(r.take(1), ["* guest1 left (gone fishing)"]);
    assert_eq!(r.take(2), ["* guest1 left (gone fishing)"]);
    say(&mut h, &mut r, 1, "/quit");
    assert_eq!(r.take(2), ["* guest2 left"]);
    assert_eq!(h.online(), 1);
}

#[test]
fn help_and_unknown_commands() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 0, "/help");
    assert_eq!(r.take(0), [format!("* {}", command::HELP)]);
    say(&mut h, &mut r, 0, "/dance now");
    assert_eq!(r.take(0), ["! unknown command: /dance (try /help)"]);
    say(&mut h, &mut r, 0, "//dance");
    assert_eq!(r.take(1), ["<guest1> /dance"]);
    assert!(r.sent.is_empty());
}

#[test]
fn bad_input_is_refused_to_the_sender_only() {
    let (mut h, mut r) = room(2);
    h.handle(Event::Line(0, b"caf\xe9"), &mut r);
    assert_eq!(r.take(0), ["! invalid UTF-8, line not relayed"]);
    h.handle(Event::LineTooLong(0), &mut r);
    assert_eq!(r.take(0), ["! line too long (max 4096 bytes)"]);
    assert!(r.sent.is_empty());
    say(&mut h, &mut r, 0, "\x1b[31mred\x1b[0m\x07 text\u{9b}2J");
    assert_eq!(r.take(1), ["<guest1> [31mred[0m text2J"]);
}

#[test]
fn a_full_server_refuses_and_closes() {
    let mut h = Hub::new(
        HubConfig {
            max_clients: 2,
            max_line: 10,
            ..config()
        },
        t0(),
    );
    let mut r = Recorder::default();
    for id in 0..3 {
        h.handle(Event::Connected(id, LOCAL), &mut r);
    }
    assert_eq!(r.take(2), ["! server full"]);
    assert!(r.closed.contains(&2) && !r.closed.contains(&1));
    assert_eq!(h.online(), 2);
    h.handle(Event::Disconnected(2, Leave::Closed), &mut r);
    assert_eq!(h.online(), 2);
}

#[test]
fn connections_per_address_are_limited_when_asked() {
    let mut h = Hub::new(
        HubConfig {
            max_line: 10,
            max_per_ip: 2,
            ..config()
        },
        t0(),
    );
    let mut r = Recorder::default();
    let other: IpAddr = "10.0.0.2".parse().unwrap();
    for id in 0..3 {
        h.handle(Event::Connected(id, LOCAL), &mut r);
    }
    assert_eq!(r.take(2), ["! too many connections from your address"]);
    assert!(r.closed.contains(&2));
    h.handle(Event::Connected(3, other), &mut r);
    assert_eq!(h.online(), 3, "another address is not limited");
    h.handle(Event::Disconnected(0, Leave::Closed), &mut r);
    r.closed.clear();
    h.handle(Event::Connected(4, LOCAL), &mut r);
    assert_eq!(
        h.online(),
        3,
        "a place freed by a disconnect can be taken again"
    );
    assert!(!r.closed.contains(&4));
}

#[test]
fn exempt_ranges_are_not_limited_and_ipv6_counts_by_its_64() {
    let mut h = Hub::new(
        HubConfig {
            max_per_ip: 1,
            max_connects_per_minute: 3,
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
            ..config()
        },
        t0(),
    );
    let mut r = Recorder::default();
    let proxy: IpAddr = "10.1.2.3".parse().unwrap();
    for id in 0..5 {
        h.handle(Event::Connected(id, proxy), &mut r);
    }
    assert!(r.closed.is_empty(), "an exempt range: neither limit");
    assert_eq!(h.online(), 5);
    // Two addresses of one /64 are one for the limits; another /64 is another.
    let a: IpAddr = "2001:db8:0:1::a".parse().unwrap();
    let b: IpAddr = "2001:db8:0:1:ffff::b".parse().unwrap();
    let c: IpAddr = "2001:db8:0:2::a".parse().unwrap();
    h.handle(Event::Connected(5, a), &mut r);
    h.handle(Event::Connected(6, b), &mut r);
    assert_eq!(r.take(6), ["! too many connections from your address"]);
    h.handle(Event::Connected(7, c), &mut r);
    assert!(!r.closed.contains(&7));
    // 5 left: its /64 may have one again (8), but a fourth attempt in the minute (the refused
    // one counts) is one too many.
    h.handle(Event::Disconnected(5, Leave::Closed), &mut r);
    h.handle(Event::Connected(8, b), &mut r);
    assert!(!r.closed.contains(&8), "a place freed in the /64");
    h.handle(Event::Disconnected(8, Leave::Closed), &mut r);
    h.handle(Event::Connected(9, a), &mut r);
    assert_eq!(
        r.take(9),
        ["! too many connections from your address; try again later"]
    );
}

#[test]
fn a_client_silent_past_the_first_line_deadline_is_closed() {
    let limit = Duration::from_secs(60);
    let t0 = t0();
    let mut h = Hub::new(
        HubConfig {
            first_line: Some(limit),
            learn_cluster_first: false,
            operators: Vec::new(),
            ..config()
        },
        t0,
    );
    let mut r = Recorder::default();
    for id in 0..3 {
        h.handle(Event::Connected(id, LOCAL), &mut r);
    }
    h.end_turn(&mut r);
    assert_eq!(h.next_deadline(), Some(t0 + limit));
    say(&mut h, &mut r, 1, "hello");
    h.handle(Event::LineTooLong(2), &mut r);
    r.sent.clear();
    h.tick(t0 + limit - Duration::from_millis(1), &mut r);
    assert!(r.closed.is_empty(), "not before its deadline");
    h.tick(t0 + limit, &mut r);
    assert_eq!(r.take(0), ["! idle timeout"]);
    assert_eq!(r.take(1), ["* guest1 left (idle timeout)"]);
    assert!(r.closed.contains(&0) && !r.closed.contains(&1) && !r.closed.contains(&2));
    assert_eq!(h.online(), 2);
    assert_eq!(h.next_deadline(), None, "the others have spoken");
}

#[test]
fn limits_tell_what_a_client_may_send() {
    let (mut h, mut r) = room(1);
    say(&mut h, &mut r, 0, "/limits");
    assert_eq!(
        r.take(0),
        ["* limits: 50 lines a second after 100 at once; lines up to 4096 bytes"]
    );
    h.reconfigure(HubConfig {
        rate: 2.5,
        ..config()
    });
    say(&mut h, &mut r, 0, "/limits");
    assert_eq!(
        r.take(0),
        ["* limits: 2.5 lines a second after 100 at once; lines up to 4096 bytes"]
    );
    h.reconfigure(HubConfig {
        rate: 0.0,
        ..config()
    });
    say(&mut h, &mut r, 0, "/limits");
    assert_eq!(
        r.take(0),
        ["* limits: no line rate; lines up to 4096 bytes"]
    );
}

#[test]
fn removal_reasons_are_told() {
    let (mut h, mut r) = room(4);
    h.handle(Event::Disconnected(0, Leave::TooSlow), &mut r);
    assert!(
        r.take(0).is_empty(),
        "a client too slow to read is told nothing"
    );
    assert_eq!(r.take(3), ["* guest1 left (too slow)"]);
    r.sent.clear();
    h.handle(Event::Disconnected(1, Leave::Flooding), &mut r);
    assert_eq!(r.take(1), ["! flooding"]);
    assert_eq!(r.take(3), ["* guest2 left (flooding)"]);
    r.sent.clear();
    h.handle(Event::Disconnected(2, Leave::IdleTimeout), &mut r);
    assert_eq!(r.take(2), ["! idle timeout"]);
    assert_eq!(r.take(3), ["* guest3 left (idle timeout)"]);
    assert!(r.closed.is_superset(&HashSet::from([0, 1, 2])));
}

#[test]
fn shutdown_tells_and_closes_everyone() {
    let (mut h, mut r) = room(3);
    h.shutdown(&mut r);
    for id in 0..3 {
        assert_eq!(r.take(id), ["* server shutting down"]);
        assert!(r.closed.contains(&id));
    }
    assert_eq!(h.online(), 0);
}

#[test]
fn ids_can_be_reused_after_a_disconnect() {
    let (mut h, mut r) = room(2);
    h.handle(Event::Disconnected(1, Leave::Closed), &mut r);
    r.closed.clear();
    h.handle(Event::Connected(1, LOCAL), &mut r);
    h.end_turn(&mut r);
    say(&mut h, &mut r, 0, "x");
    assert_eq!(
        r.take(1),
        [
            "* welcome guest3, 2 online; type /help for commands",
            "<guest1> x"
        ]
    );
}

/// A hub of the given config with `n` announced clients 0..n and a clean recorder.
fn room_with(config: HubConfig, n: usize) -> (Hub, Recorder) {
    let mut h = Hub::new(config, t0());
    let mut r = Recorder::default();
    for id in 0..n {
        h.handle(Event::Connected(id, LOCAL), &mut r);
        h.end_turn(&mut r);
    }
    r.sent.clear();
    (h, r)
}

#[test]
fn a_line_reaches_its_rooms_members_only() {
    let (mut h, mut r) = room(4);
    say(&mut h, &mut r, 0, "/join #dev");
    assert_eq!(r.take(0), ["* you are in #dev (1 here)"]);
    for id in 1..4 {
        assert_eq!(r.take(id), ["* guest1 went to #dev"]);
    }
    say(&mut h, &mut r, 1, "/join DEV");
    assert_eq!(
        r.take(1),
        ["* you are in #dev (2 here)"],
        "shown as first made"
    );
    assert_eq!(r.take(0), ["* guest2 came from #lobby"]);
    assert_eq!(r.take(2), ["* guest2 went to #dev"]);
    r.sent.clear();
    say(&mut h, &mut r, 0, "in dev");
    assert_eq!(r.take(1), ["<guest1> in dev"]);
    assert!(r.sent.is_empty(), "{:?}", r.sent);
    say(&mut h, &mut r, 2, "in the lobby");
    say(&mut h, &mut r, 2, "/me waves");
    assert_eq!(r.take(3), ["<guest3> in the lobby", "* guest3 waves"]);
    assert!(r.sent.is_empty(), "{:?}", r.sent);
    assert_eq!(h.room_of(0), Some("dev"));
    assert_eq!(h.room_of(2), Some("lobby"));
}

#[test]
fn part_goes_back_to_the_lobby_and_empty_rooms_go() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 0, "/join dev");
    say(&mut h, &mut r, 0, "/topic ship it");
    assert_eq!(h.rooms(), 2);
    r.sent.clear();
    say(&mut h, &mut r, 0, "/part");
    assert_eq!(r.take(0), ["* you are in #lobby (2 here)"]);
    assert_eq!(r.take(1), ["* guest1 came from #dev"]);
    assert_eq!(h.rooms(), 2, "a room with a topic outlives its last member");
    say(&mut h, &mut r, 0, "/part");
    assert_eq!(r.take(0), ["! you are already in #lobby"]);
    say(&mut h, &mut r, 0, "/join ops");
    say(&mut h, &mut r, 0, "/part");
    assert_eq!(
        h.rooms(),
        2,
        "one with neither topic nor history is removed"
    );
    say(&mut h, &mut r, 0, "/join dev");
    r.take(0);
    say(&mut h, &mut r, 0, "/topic");
    assert_eq!(r.take(0), ["* topic of #dev: ship it"]);
    r.sent.clear();
    // The lobby stays even when empty.
    say(&mut h, &mut r, 1, "/join dev");
    assert_eq!(h.rooms(), 2);
    say(&mut h, &mut r, 1, "/rooms");
    assert_eq!(
        r.take(1),
        [
            "* you are in #dev (2 here)",
            "* topic of #dev: ship it",
            "* rooms (2): #dev (2), #lobby (0)"
        ]
    );
}

#[test]
fn room_commands_refuse_what_they_cannot_do() {
    let (mut h, mut r) = room_with(
        HubConfig {
            max_rooms: 2,
            ..config()
        },
        2,
    );
    say(&mut h, &mut r, 0, "/join a");
    r.sent.clear();
    say(&mut h, &mut r, 1, "/join b");
    assert_eq!(r.take(1), ["! too many rooms (max 2)"]);
    say(&mut h, &mut r, 1, "/join A");
    assert_eq!(
        r.take(1),
        ["* you are in #a (2 here)"],
        "an existing room is fine"
    );
    assert_eq!(r.take(0), ["* guest2 came from #lobby"]);
    say(&mut h, &mut r, 1, "/join #a");
    assert_eq!(r.take(1), ["! you are already in #a"]);
    say(&mut h, &mut r, 1, "/join b@d");
    assert_eq!(
        r.take(1),
        ["! invalid room: b@d (1 to 32 letters, digits, _ or -, after an optional #)"]
    );
    say(&mut h, &mut r, 1, "/who #nowhere");
    assert_eq!(r.take(1), ["! no such room: #nowhere"]);
    assert!(r.sent.is_empty(), "{:?}", r.sent);
}

#[test]
fn who_lists_a_room_and_rooms_lists_them_all() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 0, "/join Dev");
    say(&mut h, &mut r, 1, "/join dev");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/who");
    assert_eq!(r.take(0), ["* online in #Dev (2): guest1, guest2"]);
    say(&mut h, &mut r, 0, "/who lobby");
    assert_eq!(r.take(0), ["* online in #lobby (1): guest3"]);
    say(&mut h, &mut r, 2, "/rooms");
    assert_eq!(r.take(2), ["* rooms (2): #Dev (2), #lobby (1)"]);
    assert!(r.sent.is_empty());
}

#[test]
fn msg_reaches_a_name_in_any_room() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 0, "/join dev");
    r.sent.clear();
    say(&mut h, &mut r, 1, "/msg guest1 over here");
    assert_eq!(r.take(0), ["*guest2* over here"]);
    assert!(r.sent.is_empty());
}

#[test]
fn topics_are_per_room_shown_on_entry_and_told_when_set() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 0, "/topic");
    assert_eq!(r.take(0), ["* #lobby has no topic"]);
    say(&mut h, &mut r, 0, "/topic  release on friday ");
    for id in 0..3 {
        assert_eq!(
            r.take(id),
            ["* guest1 set the topic of #lobby: release on friday"]
        );
    }
    say(&mut h, &mut r, 1, "/topic");
    assert_eq!(r.take(1), ["* topic of #lobby: release on friday"]);
    say(&mut h, &mut r, 1, "/join dev");
    r.sent.clear();
    say(&mut h, &mut r, 1, "/part");
    assert_eq!(
        r.take(1),
        [
            "* you are in #lobby (3 here)",
            "* topic of #lobby: release on friday"
        ]
    );
    h.handle(Event::Connected(9, LOCAL), &mut r);
    assert_eq!(
        r.take(9),
        [
            "* welcome guest4, 4 online; type /help for commands",
            "* topic of #lobby: release on friday"
        ]
    );
}

fn with_history(n: usize) -> HubConfig {
    HubConfig {
        history: n,
        ..config()
    }
}

#[test]
fn a_newcomer_gets_the_rooms_last_lines_then_live_ones() {
    let (mut h, mut r) = room_with(with_history(3), 2);
    for i in 0..5 {
        say(&mut h, &mut r, 0, &format!("line {i}"));
    }
    say(&mut h, &mut r, 1, "/me nods");
    say(&mut h, &mut r, 1, "/nick bob");
    say(&mut h, &mut r, 0, "/msg bob private");
    r.sent.clear();
    h.handle(Event::Connected(2, LOCAL), &mut r);
    h.end_turn(&mut r);
    say(&mut h, &mut r, 0, "live");
    // Chat lines only (no notices, no private messages), the last 3, bracketed; then live.
    assert_eq!(
        r.take(2),
        [
            "* welcome guest3, 3 online; type /help for commands",
            "* history of #lobby: 3 lines",
            "<guest1> line 3",
            "<guest1> line 4",
            "* guest2 nods",
            "* end of history",
            "<guest1> live",
        ]
    );
}

#[test]
fn history_on_join_and_on_request() {
    let (mut h, mut r) = room_with(with_history(10), 3);
    say(&mut h, &mut r, 0, "/join dev");
    say(&mut h, &mut r, 0, "first");
    say(&mut h, &mut r, 0, "second");
    r.sent.clear();
    say(&mut h, &mut r, 1, "/join dev");
    assert_eq!(
        r.take(1),
        [
            "* you are in #dev (2 here)",
            "* history of #dev: 2 lines",
            "<guest1> first",
            "<guest1> second",
            "* end of history",
        ]
    );
    say(&mut h, &mut r, 1, "/history 1");
    assert_eq!(
        r.take(1),
        [
            "* history of #dev: 1 line",
            "<guest1> second",
            "* end of history"
        ]
    );
    // An empty history: nothing on entry, an empty block when asked.
    say(&mut h, &mut r, 2, "/join quiet");
    assert_eq!(
        r.take(2),
        ["* guest2 went to #dev", "* you are in #quiet (1 here)"]
    );
    say(&mut h, &mut r, 2, "/history");
    assert_eq!(
        r.take(2),
        ["* history of #quiet: 0 lines", "* end of history"]
    );
}

#[test]
fn no_history_is_kept_when_it_is_off() {
    let (mut h, mut r) = room(1);
    say(&mut h, &mut r, 0, "unkept");
    h.handle(Event::Connected(1, LOCAL), &mut r);
    assert_eq!(
        r.take(1),
        ["* welcome guest2, 2 online; type /help for commands"]
    );
}

#[test]
fn a_lower_history_from_a_reload_shows_at_once() {
    let (mut h, mut r) = room_with(with_history(5), 2);
    for i in 0..5 {
        say(&mut h, &mut r, 0, &format!("line {i}"));
    }
    h.reconfigure(with_history(2));
    r.sent.clear();
    say(&mut h, &mut r, 1, "/history");
    assert_eq!(
        r.take(1),
        [
            "* history of #lobby: 2 lines",
            "<guest1> line 3",
            "<guest1> line 4",
            "* end of history"
        ]
    );
    h.reconfigure(with_history(0));
    say(&mut h, &mut r, 0, "after");
    say(&mut h, &mut r, 1, "/history");
    assert_eq!(
        r.take(1),
        [
            "<guest1> after",
            "* history of #lobby: 0 lines",
            "* end of history"
        ]
    );
}

#[test]
fn leaving_is_told_to_the_room_only() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 0, "/join dev");
    say(&mut h, &mut r, 1, "/join dev");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/quit bye all");
    assert_eq!(r.take(1), ["* guest1 left (bye all)"]);
    assert!(r.take(2).is_empty());
    h.handle(Event::Disconnected(1, Leave::Closed), &mut r);
    assert!(r.take(2).is_empty());
    assert_eq!(h.rooms(), 1, "dev went with its last member");
}

/// One step of a random session.
#[derive(Debug, Clone)]
enum Op {
    Connect(usize),
    Say(usize),
    Join(usize, u8),
    Part(usize),
    SayIn(usize, u8),
    Nick(usize, u8),
    Quit(usize),
    Drop(usize),
    EndTurn,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0usize..8).prop_map(Op::Connect),
        4 => (0usize..8).prop_map(Op::Say),
        2 => (0usize..8, 0u8..3).prop_map(|(c, r)| Op::Join(c, r)),
        1 => (0usize..8).prop_map(Op::Part),
        2 => (0usize..8, 0u8..3).prop_map(|(c, r)| Op::SayIn(c, r)),
        1 => (0usize..8, 0u8..6).prop_map(|(c, n)| Op::Nick(c, n)),
        1 => (0usize..8).prop_map(Op::Quit),
        1 => (0usize..8).prop_map(Op::Drop),
        1 => Just(Op::EndTurn),
    ]
}

proptest! {
    /// For any interleaving of connects, lines, room moves, renames and disconnects, with
    /// clients 0..4 reading text (one room each) and 4..8 JSON (several): every relayed line
    /// reaches each other client in the room it was said in at that moment exactly once and
    /// in order, names stay unique, and nothing is sent to a closed client (the recorder
    /// asserts that).
    #[test]
    fn relay_is_exactly_once_in_order_and_names_stay_unique(ops in proptest::collection::vec(op(), 1..200)) {
        let mut h = hub();
        let mut r = Recorder::default();
        let mut connected: HashSet<ClientId> = HashSet::new();
        let json = |c: ClientId| c >= 4;
        // Each client's rooms, as the model sees them: the one it speaks in last.
        let mut rooms_of: Vec<Vec<String>> = vec![vec![LOBBY.to_string()]; 8];
        // For each client: the chat lines it must get, in order.
        let mut expected: Vec<Vec<String>> = vec![Vec::new(); 8];
        let mut got: Vec<Vec<String>> = vec![Vec::new(); 8];
        let mut seq = 0;
        let collect = |r: &mut Recorder, got: &mut Vec<Vec<String>>| {
            for (to, l) in r.sent.drain(..) {
                if json(to) {
                    let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                    if v["type"] == "chat" {
                        got[to].push(v["text"].as_str().unwrap().to_string());
                    }
                } else if let Some(i) = l.find("> m") {
                    got[to].push(l[i + 2..].trim_end().to_string());
                }
            }
        };
        for op in ops {
            match op {
                Op::Connect(c) if !connected.contains(&c) => {
                    r.closed.remove(&c);
                    h.set_json(c, json(c));
                    h.handle(Event::Connected(c, LOCAL), &mut r);
                    connected.insert(c);
                    rooms_of[c] = vec![LOBBY.to_string()];
                }
                Op::Say(c) | Op::SayIn(c, _) if connected.contains(&c) => {
                    seq += 1;
                    let text = format!("m{seq}");
                    let (line, room) = match op {
                        Op::SayIn(_, n) => (format!("/say R{n} {text}"), Some(format!("R{n}"))),
                        _ => (text.clone(), rooms_of[c].last().cloned()),
                    };
                    if let Some(room) = room.filter(|room| rooms_of[c].contains(room)) {
                        for &other in &connected {
                            if other != c && rooms_of[other].contains(&room) {
                                expected[other].push(text.clone());
                            }
                        }
                    }
                    h.handle(Event::Line(c, line.as_bytes()), &mut r);
                }
                Op::Join(c, n) if connected.contains(&c) => {
                    h.handle(Event::Line(c, format!("/join R{n}").as_bytes()), &mut r);
                    let room = format!("R{n}");
                    if json(c) {
                        rooms_of[c].retain(|r| *r != room);
                        rooms_of[c].push(room);
                    } else {
                        rooms_of[c] = vec![room];
                    }
                }
                Op::Part(c) if connected.contains(&c) => {
                    h.handle(Event::Line(c, b"/part"), &mut r);
                    if json(c) {
                        rooms_of[c].pop();
                    } else {
                        rooms_of[c] = vec![LOBBY.to_string()];
                    }
                }
                Op::Nick(c, n) if connected.contains(&c) => {
                    h.handle(Event::Line(c, format!("/nick N{n}").as_bytes()), &mut r);
                }
                Op::Quit(c) if connected.contains(&c) => {
                    h.handle(Event::Line(c, b"/quit"), &mut r);
                    connected.remove(&c);
                }
                Op::Drop(c) if connected.contains(&c) => {
                    h.handle(Event::Disconnected(c, Leave::Closed), &mut r);
                    connected.remove(&c);
                }
                Op::EndTurn => h.end_turn(&mut r),
                _ => {}
            }
            collect(&mut r, &mut got);
            let names: Vec<String> = connected.iter().map(|&c| h.name(c).unwrap().to_ascii_lowercase()).collect();
            let unique: HashSet<&String> = names.iter().collect();
            prop_assert_eq!(unique.len(), names.len(), "names not unique: {:?}", names);
            prop_assert_eq!(h.online(), connected.len());
            for &c in &connected {
                prop_assert_eq!(h.room_of(c), rooms_of[c].last().map(String::as_str));
                let mut hubs: Vec<&str> = h.rooms_of(c);
                let mut model: Vec<&str> = rooms_of[c].iter().map(String::as_str).collect();
                hubs.sort_unstable();
                model.sort_unstable();
                prop_assert_eq!(hubs, model);
            }
            // Empty rooms are gone; the lobby stays.
            let occupied: HashSet<&String> = connected.iter().flat_map(|&c| &rooms_of[c]).collect();
            prop_assert_eq!(h.rooms(), occupied.iter().filter(|r| **r != LOBBY).count() + 1);
        }
        // A client that reconnected under the same id gets only what was sent while connected,
        // which `expected` models by construction.
        prop_assert_eq!(got, expected);
    }
}

// Who may come in: operators, bans, mutes, the server's password.

const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9));

fn guarded() -> HubConfig {
    HubConfig {
        oper_password: Some(Secret::new("op-pw")),
        ..config()
    }
}

/// A hub with operators, clients 0..n announced, 0 an operator, `n - 1` from [`OTHER`].
fn moderated(n: usize) -> (Hub, Recorder, Instant) {
    let t = t0();
    let mut h = Hub::new(guarded(), t);
    let mut r = Recorder::default();
    for id in 0..n {
        let ip = if id + 1 == n { OTHER } else { LOCAL };
        h.handle(Event::Connected(id, ip), &mut r);
    }
    h.end_turn(&mut r);
    say(&mut h, &mut r, 0, "/oper op-pw");
    assert_eq!(r.take(0).last().unwrap(), "* you are now an operator");
    r.sent.clear();
    (h, r, t)
}

#[test]
fn oper_needs_the_password() {
    let (mut h, mut r) = room_with(guarded(), 2);
    say(&mut h, &mut r, 1, "/oper nope");
    assert_eq!(r.take(1), ["! wrong password"]);
    say(&mut h, &mut r, 1, "/kick guest1");
    assert_eq!(r.take(1), ["! not an operator"]);
    say(&mut h, &mut r, 1, "/oper op-pw");
    assert_eq!(r.take(1), ["* you are now an operator"]);
    say(&mut h, &mut r, 1, "/oper op-pw");
    assert_eq!(r.take(1), ["* you are an operator already"]);
    assert!(r.take(0).is_empty(), "nobody else is told");
}

#[test]
fn without_an_oper_password_there_are_no_operators() {
    let (mut h, mut r) = room(1);
    say(&mut h, &mut r, 0, "/oper anything");
    assert_eq!(r.take(0), ["! no operators on this server"]);
}

#[test]
fn every_operator_command_is_refused_to_others() {
    let (mut h, mut r) = room_with(guarded(), 2);
    for cmd in [
        "/kick guest2",
        "/ban guest2",
        "/ban guest2 5",
        "/unban 10.0.0.1",
        "/bans",
        "/mute guest2",
        "/unmute guest2",
    ] {
        say(&mut h, &mut r, 0, cmd);
        assert_eq!(r.take(0), ["! not an operator"], "{cmd}");
        assert!(r.take(1).is_empty());
    }
}

#[test]
fn wrong_oper_passwords_are_slowed_per_address() {
    let (mut h, mut r) = room_with(guarded(), 1);
    for _ in 0..access::FREE_GUESSES {
        say(&mut h, &mut r, 0, "/oper nope");
        assert_eq!(r.take(0), ["! wrong password"]);
    }
    say(&mut h, &mut r, 0, "/oper op-pw");
    let got = r.take(0);
    assert!(
        got[0].starts_with("! too many wrong passwords from 127.0.0.1; try again in "),
        "{got:?}"
    );
    h.tick(Instant::now() + Duration::from_secs(3), &mut r);
    say(&mut h, &mut r, 0, "/oper op-pw");
    assert_eq!(r.take(0), ["* you are now an operator"]);
}

#[test]
fn kick_closes_and_tells_the_room() {
    let (mut h, mut r, _) = moderated(3);
    say(&mut h, &mut r, 0, "/kick guest2 stop  that");
    assert_eq!(r.take(1), ["! kicked by guest1 (stop  that)"]);
    assert!(r.closed.contains(&1));
    assert_eq!(r.take(0), ["* guest2 was kicked by guest1 (stop  that)"]);
    assert_eq!(r.take(2), ["* guest2 was kicked by guest1 (stop  that)"]);
    assert_eq!(h.online(), 2);
    assert_eq!(h.name(1), None);
    // Its name is free again.
    say(&mut h, &mut r, 2, "/nick guest2");
    assert_eq!(r.take(2), ["* you are now guest2"]);
}

#[test]
fn kick_without_a_reason_and_its_refusals() {
    let (mut h, mut r, _) = moderated(3);
    say(&mut h, &mut r, 0, "/kick nobody");
    assert_eq!(r.take(0), ["! no such user: nobody"]);
    say(&mut h, &mut r, 0, "/kick GUEST1");
    assert_eq!(r.take(0), ["! you cannot kick yourself"]);
    say(&mut h, &mut r, 0, "/join elsewhere");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/kick guest2");
    assert_eq!(r.take(1), ["! kicked by guest1"]);
    // The operator is in another room: told too.
    assert_eq!(r.take(0), ["* guest2 was kicked by guest1"]);
    assert_eq!(r.take(2), ["* guest2 was kicked by guest1"]);
}

#[test]
fn ban_closes_everyone_from_the_address_but_operators_and_refuses_them() {
    let (mut h, mut r, t) = moderated(4);
    // 0 (operator), 1 and 2 from LOCAL; 3 from OTHER.
    say(&mut h, &mut r, 0, "/ban guest2 5");
    assert_eq!(r.take(1), ["! banned by guest1 for 5 minutes"]);
    assert_eq!(r.take(2), ["! banned by guest1 for 5 minutes"]);
    assert!(r.closed.contains(&1) && r.closed.contains(&2));
    assert!(!r.closed.contains(&0) && !r.closed.contains(&3));
    assert_eq!(
        r.take(3),
        [
            "* guest2 was banned by guest1 (5 minutes)",
            "* guest3 was banned by guest1 (5 minutes)"
        ]
    );
    assert_eq!(
        r.take(0).last().unwrap(),
        "* 127.0.0.1 is banned for 5 minutes"
    );
    assert_eq!(h.online(), 2);

    // A newcomer from there is told and closed at its first line, or after a moment.
    h.handle(Event::Connected(5, LOCAL), &mut r);
    assert_eq!(r.take(5), ["! banned (5 more minutes)"]);
    assert_eq!(h.online(), 2);
    say(&mut h, &mut r, 5, "hello");
    assert_eq!(r.take(5), ["! banned"]);
    assert!(r.closed.contains(&5));
    r.closed.clear();
    h.handle(Event::Connected(6, LOCAL), &mut r);
    r.take(6);
    assert!(h.next_deadline().is_some());
    h.tick(t + BANNED_GRACE, &mut r);
    assert!(r.closed.contains(&6));
    assert!(
        r.take(0).is_empty() && r.take(3).is_empty(),
        "no one hears of them"
    );

    // From elsewhere: welcome.
    h.handle(Event::Connected(7, OTHER), &mut r);
    assert!(r.take(7)[0].starts_with("* welcome"));

    // An operator's password lets one in, even from there.
    h.handle(Event::Connected(8, LOCAL), &mut r);
    r.take(8);
    say(&mut h, &mut r, 8, "/oper op-pw");
    let got = r.take(8);
    assert!(got[0].starts_with("* welcome"), "{got:?}");
    assert_eq!(got.last().unwrap(), "* you are now an operator");

    // The ban ends.
    h.tick(t + Duration::from_secs(5 * 60), &mut r);
    h.handle(Event::Connected(9, LOCAL), &mut r);
    assert!(r.take(9)[0].starts_with("* welcome"));
}

#[test]
fn operators_cannot_be_banned_and_bans_are_listed_and_lifted() {
    let (mut h, mut r, _) = moderated(3);
    say(&mut h, &mut r, 1, "/oper op-pw");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/ban guest2");
    assert_eq!(r.take(0), ["! guest2 is an operator"]);
    say(&mut h, &mut r, 0, "/bans");
    assert_eq!(r.take(0), ["* bans (0)"]);
    say(&mut h, &mut r, 0, "/ban guest3");
    assert_eq!(r.take(2), ["! banned by guest1 for 60 minutes"]);
    r.sent.clear();
    say(&mut h, &mut r, 1, "/bans");
    assert_eq!(r.take(1), ["* bans (1): 10.0.0.9 (60 min, by guest1)"]);
    say(&mut h, &mut r, 1, "/unban 10.0.0.9");
    assert_eq!(r.take(1), ["* 10.0.0.9 is no longer banned"]);
    say(&mut h, &mut r, 1, "/unban 10.0.0.9");
    assert_eq!(r.take(1), ["! not banned: 10.0.0.9"]);
    h.handle(Event::Connected(5, OTHER), &mut r);
    assert!(r.take(5)[0].starts_with("* welcome"));
}

#[test]
fn muted_clients_cannot_talk_to_anyone() {
    let (mut h, mut r, _) = moderated(3);
    say(&mut h, &mut r, 0, "/mute guest2");
    assert_eq!(r.take(0), ["* guest2 is muted"]);
    assert_eq!(r.take(1), ["* you were muted by guest1"]);
    for line in [
        "hello",
        "/me waves",
        "/msg guest1 psst",
        "/topic mine",
        "/nick loud",
    ] {
        say(&mut h, &mut r, 1, line);
        assert_eq!(r.take(1), ["! you are muted"], "{line}");
        assert!(r.take(0).is_empty() && r.take(2).is_empty(), "{line}");
    }
    // A room move a minute: each is told to two rooms.
    say(&mut h, &mut r, 1, "/join a");
    assert_eq!(r.take(1), ["* you are in #a (1 here)"]);
    say(&mut h, &mut r, 1, "/join b");
    assert_eq!(r.take(1), ["! you are muted: one room move a minute"]);
    h.tick(t0() + MUTED_MOVE_EVERY + Duration::from_secs(1), &mut r);
    say(&mut h, &mut r, 1, "/part");
    assert_eq!(r.take(1), ["* you are in #lobby (3 here)"]);
    r.sent.clear();
    // Commands that reach no one still work.
    say(&mut h, &mut r, 1, "/who");
    assert!(r.take(1)[0].starts_with("* online in #lobby"));
    say(&mut h, &mut r, 0, "/mute guest2");
    assert_eq!(r.take(0), ["! guest2 is muted already"]);
    say(&mut h, &mut r, 0, "/unmute guest2");
    assert_eq!(r.take(0), ["* guest2 is unmuted"]);
    assert_eq!(r.take(1), ["* you were unmuted by guest1"]);
    say(&mut h, &mut r, 1, "back");
    assert_eq!(r.take(2), ["<guest2> back"]);
}

#[test]
fn a_muted_clients_refused_move_is_not_its_move_of_the_minute() {
    let (mut h, mut r, _) = moderated(3);
    h.reconfigure(HubConfig {
        max_rooms: 2,
        ..guarded()
    });
    say(&mut h, &mut r, 0, "/join full");
    say(&mut h, &mut r, 0, "/mute guest2");
    r.sent.clear();
    // No room left to make: refused, and the move of the minute is still its own.
    say(&mut h, &mut r, 1, "/join another");
    assert_eq!(r.take(1), ["! too many rooms (max 2)"]);
    say(&mut h, &mut r, 1, "/join full");
    assert_eq!(r.take(1), ["* you are in #full (2 here)"]);
    say(&mut h, &mut r, 1, "/part");
    assert_eq!(r.take(1), ["! you are muted: one room move a minute"]);
}

#[test]
fn a_throttled_oper_at_the_password_gate_is_told_to_wait_and_uses_no_try() {
    let mut h = Hub::new(with_password(), t0());
    let mut r = Recorder::default();
    h.handle(Event::Connected(0, LOCAL), &mut r);
    r.take(0);
    // Wrong operator passwords from this address, over the free ones, on other connections.
    for id in 1..=access::FREE_GUESSES as usize {
        h.handle(Event::Connected(id, LOCAL), &mut r);
        say(&mut h, &mut r, id, "/oper nope");
    }
    r.sent.clear();
    for _ in 0..PASSWORD_TRIES + 1 {
        say(&mut h, &mut r, 0, "/oper op-pw");
        let got = r.take(0);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("! too many wrong passwords from 127.0.0.1; try again in "),
            "{got:?}"
        );
    }
    assert!(!r.closed.contains(&0), "a try not checked is not a try");
    h.tick(t0() + Duration::from_secs(3), &mut r);
    say(&mut h, &mut r, 0, "/pass open sesame");
    assert_eq!(
        r.take(0),
        ["* welcome guest1, 1 online; type /help for commands"]
    );
}

fn with_password() -> HubConfig {
    HubConfig {
        password: Some(Secret::new("open sesame")),
        ..guarded()
    }
}

#[test]
fn the_password_gate_lets_in_only_with_the_password() {
    let t = t0();
    let mut h = Hub::new(with_password(), t);
    let mut r = Recorder::default();
    h.handle(Event::Connected(0, LOCAL), &mut r);
    assert_eq!(r.take(0), ["* password required: send /pass PASSWORD"]);
    assert_eq!(h.online(), 0);
    for line in ["hello", "/nick bob", "/who", "/join x"] {
        say(&mut h, &mut r, 0, line);
        assert_eq!(r.take(0), ["! password required"], "{line}");
    }
    h.handle(Event::LineTooLong(0), &mut r);
    assert_eq!(r.take(0), ["! password required"]);
    say(&mut h, &mut r, 0, "/pass open sesame");
    assert_eq!(
        r.take(0),
        ["* welcome guest1, 1 online; type /help for commands"]
    );
    h.end_turn(&mut r);
    h.handle(Event::Connected(1, LOCAL), &mut r);
    r.take(1);
    assert!(r.take(0).is_empty(), "no join notice before the password");
    say(&mut h, &mut r, 1, "/pass open sesame");
    h.end_turn(&mut r);
    assert_eq!(r.take(0), ["* guest2 joined"]);
    r.take(1);
    say(&mut h, &mut r, 1, "/pass again");
    assert_eq!(r.take(1), ["! you are in already"]);
}

#[test]
fn three_wrong_passwords_close_the_connection() {
    let mut h = Hub::new(with_password(), t0());
    let mut r = Recorder::default();
    h.handle(Event::Connected(0, LOCAL), &mut r);
    r.take(0);
    say(&mut h, &mut r, 0, "/pass a");
    assert_eq!(r.take(0), ["! wrong password (2 tries left)"]);
    say(&mut h, &mut r, 0, "/pass b");
    assert_eq!(r.take(0), ["! wrong password (1 try left)"]);
    assert!(!r.closed.contains(&0));
    say(&mut h, &mut r, 0, "/pass c");
    assert_eq!(r.take(0), ["! wrong password"]);
    assert!(r.closed.contains(&0));
    // Closed already: what it sends now is not heard, and its end is no news.
    h.handle(Event::Disconnected(0, Leave::Closed), &mut r);
    assert!(r.sent.is_empty());
}

#[test]
fn the_gate_is_closed_on_those_who_wait_too_long() {
    let t = t0();
    let mut h = Hub::new(
        HubConfig {
            max_per_ip: 1,
            ..with_password()
        },
        t,
    );
    let mut r = Recorder::default();
    h.handle(Event::Connected(0, LOCAL), &mut r);
    h.handle(Event::Connected(1, LOCAL), &mut r);
    assert_eq!(r.take(1), ["! too many connections from your address"]);
    h.tick(t + PASSWORD_TIME - Duration::from_millis(1), &mut r);
    assert!(!r.closed.contains(&0));
    h.tick(t + PASSWORD_TIME, &mut r);
    assert!(r.closed.contains(&0));
    assert_eq!(r.take(0).last().unwrap(), "! no password given in time");
    assert_eq!(h.next_deadline(), None);
    // Its place from that address is free again.
    h.handle(Event::Connected(2, LOCAL), &mut r);
    assert_eq!(r.take(2), ["* password required: send /pass PASSWORD"]);
}

#[test]
fn the_oper_password_opens_the_gate_too() {
    let mut h = Hub::new(with_password(), t0());
    let mut r = Recorder::default();
    h.handle(Event::Connected(0, LOCAL), &mut r);
    r.take(0);
    say(&mut h, &mut r, 0, "/oper op-pw");
    let got = r.take(0);
    assert!(got[0].starts_with("* welcome"));
    assert_eq!(got.last().unwrap(), "* you are now an operator");
    h.handle(Event::Connected(1, LOCAL), &mut r);
    r.take(1);
    say(&mut h, &mut r, 1, "/oper wrong");
    assert_eq!(r.take(1), ["! wrong password (2 tries left)"]);
    say(&mut h, &mut r, 1, "/quit");
    assert_eq!(r.take(1), ["* bye"]);
    assert!(r.closed.contains(&1));
}

#[test]
fn shutdown_closes_the_gated_too() {
    let mut h = Hub::new(with_password(), t0());
    let mut r = Recorder::default();
    h.handle(Event::Connected(0, LOCAL), &mut r);
    r.take(0);
    h.shutdown(&mut r);
    assert_eq!(r.take(0), ["* server shutting down"]);
    assert!(r.closed.contains(&0));
}

// A cluster of hubs, joined by a broker made of two vectors.

struct Node {
    hub: Hub,
    out: Recorder,
}

/// A node of a test's cluster; node "a" is each test's first, and starts the name store
/// afresh.
fn node(name: &str, t: Instant) -> Node {
    if name == "a" {
        NAMES.with(|k| k.borrow_mut().clear());
        STREAM.with(|s| s.borrow_mut().clear());
    }
    let mut n = Node {
        hub: Hub::new(
            HubConfig {
                node: Some(name.into()),
                history: 5,
                ..config()
            },
            t,
        ),
        out: Recorder {
            node: name.into(),
            following: HashSet::from([LOBBY.to_string()]),
            ..Recorder::default()
        },
    };
    n.hub.handle(Event::Link(true), &mut n.out);
    n
}

thread_local! {
    /// The cluster's store of names (what JetStream KV is to the real ones), lower-cased.
    static NAMES: std::cell::RefCell<HashSet<String>> = Default::default();
    /// Every chat line published (what the history stream is to the real ones).
    static STREAM: std::cell::RefCell<Vec<Vec<u8>>> = Default::default();
}

/// Answers every node's requests to follow a room, with the room's lines from [`STREAM`].
fn answer_follows(nodes: &mut [&mut Node]) -> bool {
    let mut moved = false;
    for n in nodes.iter_mut() {
        for room in std::mem::take(&mut n.out.follow_asked) {
            moved = true;
            let raw = STREAM.with(|s| s.borrow().clone());
            let kept: Vec<wire::Kept> = wire::lines("main", &raw)
                .into_iter()
                .filter(|k| k.room.eq_ignore_ascii_case(&room))
                .collect();
            n.hub.handle(Event::Followed(&room, &kept), &mut n.out);
        }
    }
    moved
}

/// Answers every node's claims and takes its releases, against [`NAMES`].
fn settle_names(nodes: &mut [&mut Node]) -> bool {
    let mut moved = false;
    for n in nodes.iter_mut() {
        for name in std::mem::take(&mut n.out.released) {
            NAMES.with(|k| k.borrow_mut().remove(&name.to_ascii_lowercase()));
        }
        for (id, name) in std::mem::take(&mut n.out.claims) {
            moved = true;
            let granted = NAMES.with(|k| k.borrow_mut().insert(name.to_ascii_lowercase()));
            let claim = if granted {
                Claim::Granted
            } else {
                Claim::Taken
            };
            n.hub.handle(Event::Claimed(id, &name, claim), &mut n.out);
        }
    }
    moved
}

/// Delivers what every node published to every other node, and answers their claims, until no
/// one has more to say.
fn pump(nodes: &mut [&mut Node]) {
    loop {
        let mut moved = settle_names(nodes);
        moved |= answer_follows(nodes);
        moved |= carry(nodes);
        if !moved {
            return;
        }
    }
}

/// Carries what each node published to the others (a room's lines to those that follow it).
fn carry(nodes: &mut [&mut Node]) -> bool {
    let mut moved = false;
    {
        for i in 0..nodes.len() {
            let published = std::mem::take(&mut nodes[i].out.published);
            for bytes in published {
                moved = true;
                let msg = wire::decode("main", &bytes).expect("a node publishes valid messages");
                // A room's lines reach the nodes that follow it, and the stream.
                let room = match msg.body {
                    Body::Line { room, .. } => {
                        STREAM.with(|s| s.borrow_mut().push(bytes.clone()));
                        Some(room.to_ascii_lowercase())
                    }
                    _ => None,
                };
                for (j, n) in nodes.iter_mut().enumerate() {
                    let wanted = room.as_ref().is_none_or(|r| n.out.following.contains(r));
                    if j != i && wanted {
                        n.hub.handle(Event::Cluster(&msg), &mut n.out);
                        n.hub.end_turn(&mut n.out);
                    }
                }
            }
        }
    }
    moved
}

fn connect(n: &mut Node, id: ClientId, name: &str) {
    n.hub.handle(Event::Connected(id, LOCAL), &mut n.out);
    n.hub.end_turn(&mut n.out);
    say(&mut n.hub, &mut n.out, id, &format!("/nick {name}"));
}

#[test]
fn a_node_receives_the_lines_of_the_rooms_its_clients_are_in() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    pump(&mut [&mut a, &mut b]);
    connect(&mut a, 0, "ana");
    connect(&mut b, 0, "bob");
    pump(&mut [&mut a, &mut b]);
    say(&mut a.hub, &mut a.out, 0, "/join dev");
    pump(&mut [&mut a, &mut b]);
    assert!(a.out.following.contains("dev"));
    assert!(!b.out.following.contains("dev"), "no one on b is in #dev");
    say(&mut a.hub, &mut a.out, 0, "one");
    say(&mut a.hub, &mut a.out, 0, "two");
    pump(&mut [&mut a, &mut b]);
    b.out.take(0);

    // Bob enters: b follows #dev and waits for its history.
    say(&mut b.hub, &mut b.out, 0, "/join DEV");
    assert_eq!(b.out.take(0), ["* you are in #dev (2 here)"]);
    // What he says meanwhile goes out (to no one here: he is b's only client in #dev).
    say(&mut b.hub, &mut b.out, 0, "early");
    assert!(b.out.take(0).is_empty());
    assert_eq!(b.out.follow_asked, ["dev"], "the room as it was made");
    assert_eq!(b.hub.next_deadline(), Some(t + CATCH_UP));
    // A line heard live meanwhile is not shown now: it is in the history to come, once.
    say(&mut a.hub, &mut a.out, 0, "three");
    carry(&mut [&mut a, &mut b]);
    assert!(b.out.take(0).is_empty());
    answer_follows(&mut [&mut b]);
    assert_eq!(
        b.out.take(0),
        [
            "* history of #dev: 4 lines",
            "<ana> one",
            "<ana> two",
            "<ana> three",
            // His own, said while he waited: in the room's history, like anyone's.
            "<bob> early",
            "* end of history"
        ]
    );
    assert_eq!(b.hub.next_deadline().map(|d| d > t + CATCH_UP), Some(true));
    // Live from now on; a line heard again (live and read from the stream) is shown once.
    say(&mut a.hub, &mut a.out, 0, "four");
    let four = a.out.published.last().cloned().unwrap();
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(0), ["<ana> four"]);
    let again = wire::decode("main", &four).unwrap();
    b.hub.handle(Event::Cluster(&again), &mut b.out);
    assert!(b.out.take(0).is_empty());

    // The last client here leaves: not followed any more (the lobby always is).
    say(&mut b.hub, &mut b.out, 0, "/part");
    pump(&mut [&mut a, &mut b]);
    assert!(!b.out.following.contains("dev"));
    assert!(b.out.following.contains("lobby"));

    // Without an answer, the history is shown after CATCH_UP, as this node has it (ana,
    // still in #dev, keeps the room here).
    say(&mut b.hub, &mut b.out, 0, "/join dev");
    b.out.follow_asked.clear();
    b.out.take(0);
    b.hub
        .tick(t + CATCH_UP - Duration::from_millis(1), &mut b.out);
    assert!(b.out.take(0).is_empty());
    b.hub.tick(t + CATCH_UP, &mut b.out);
    let got = b.out.take(0);
    assert_eq!(
        got.first().map(String::as_str),
        Some("* history of #dev: 5 lines")
    );
    assert_eq!(b.hub.next_deadline(), Some(t + remote::NODE_LOST));
    // Its last client gone, b follows only the lobby, which it always does.
    b.hub
        .handle(Event::Disconnected(0, Leave::Closed), &mut b.out);
    assert_eq!(b.out.following, HashSet::from(["lobby".to_string()]));
}

#[test]
fn two_nodes_are_one_chat() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    pump(&mut [&mut a, &mut b]);
    connect(&mut a, 0, "ana");
    pump(&mut [&mut a, &mut b]);
    connect(&mut b, 0, "bob");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(
        a.out.take(0)[1..],
        [
            "* you are now ana",
            "* guest1-b joined",
            "* guest1-b is now bob"
        ]
    );
    let welcome = b.out.take(0);
    assert_eq!(
        welcome[0],
        "* welcome guest1-b, 2 online; type /help for commands"
    );
    say(&mut a.hub, &mut a.out, 0, "hello");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(0), ["<ana> hello"]);
    assert!(a.out.take(0).is_empty(), "never to the sender");
    say(&mut b.hub, &mut b.out, 0, "/who");
    assert_eq!(b.out.take(0), ["* online in #lobby (2): ana, bob"]);
    say(&mut b.hub, &mut b.out, 0, "/msg ANA psst");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(a.out.take(0), ["*bob* psst"]);
    // Names are unique across the nodes.
    say(&mut b.hub, &mut b.out, 0, "/nick ana");
    assert_eq!(b.out.take(0), ["! name taken: ana"]);
    // Rooms and moves, and the history a newcomer gets.
    say(&mut a.hub, &mut a.out, 0, "/join dev");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(0), ["* ana went to #dev"]);
    say(&mut a.hub, &mut a.out, 0, "in dev");
    pump(&mut [&mut a, &mut b]);
    assert!(b.out.take(0).is_empty(), "bob is not in #dev");
    say(&mut b.hub, &mut b.out, 0, "/rooms");
    assert_eq!(b.out.take(0), ["* rooms (2): #dev (1), #lobby (1)"]);
    say(&mut b.hub, &mut b.out, 0, "/join dev");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(
        b.out.take(0),
        [
            "* you are in #dev (2 here)",
            "* history of #dev: 1 line",
            "<ana> in dev",
            "* end of history"
        ]
    );
    assert_eq!(a.out.take(0).last().unwrap(), "* bob came from #lobby");
    say(&mut a.hub, &mut a.out, 0, "/quit");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(0), ["* ana left"]);
}

/// A node cut off past the names' expiry hears, when it is back, the other node's client under
/// the name its own client still has (and ignores it, as a name taken here); once the cluster
/// tells it the name is lost, it asks for every roster again and so knows the other's client.
#[test]
fn a_name_lost_while_cut_off_is_known_as_the_other_nodes_once_let_go_of() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    pump(&mut [&mut a, &mut b]);
    connect(&mut a, 0, "ana");
    connect(&mut b, 0, "bea");
    pump(&mut [&mut a, &mut b]);
    // b goes quiet: a lets go of it, and bea's name expires in the cluster.
    a.hub.tick(t + remote::NODE_LOST, &mut a.out);
    NAMES.with(|k| k.borrow_mut().remove("bea"));
    say(&mut a.hub, &mut a.out, 0, "/nick bea");
    settle_names(&mut [&mut a]);
    assert_eq!(a.out.take(0).last().unwrap(), "* you are now bea");
    // Back: b's beat reaches a (which asks for b's roster and tells its own), and what a says
    // reaches b, whose own client is still bea.
    let beat = wire::Message {
        node: "b",
        body: Body::Beat,
    };
    a.hub.handle(Event::Cluster(&beat), &mut a.out);
    pump(&mut [&mut a, &mut b]);
    b.hub.handle(Event::NameLost("bea"), &mut b.out);
    pump(&mut [&mut a, &mut b]);
    let told = b.out.take(0);
    assert!(
        told.iter()
            .any(|l| l.starts_with("! your name bea was given")),
        "{told:?}"
    );
    say(&mut b.hub, &mut b.out, 0, "/who");
    let who = b.out.take(0);
    assert!(
        who[0].starts_with("* online in #lobby (2): ") && who[0].contains("bea"),
        "{who:?}"
    );
    a.out.take(0);
    say(&mut a.hub, &mut a.out, 0, "/who");
    let who = a.out.take(0);
    assert_eq!(who[0].matches("bea").count(), 1, "{who:?}");
}

#[test]
fn a_silent_node_is_lost_and_a_stopping_one_says_so() {
    let t = t0();
    let (mut a, mut b, mut c) = (node("a", t), node("b", t), node("c", t));
    pump(&mut [&mut a, &mut b, &mut c]);
    connect(&mut a, 0, "ana");
    connect(&mut b, 0, "bob");
    connect(&mut c, 0, "cy");
    pump(&mut [&mut a, &mut b, &mut c]);
    a.out.sent.clear();
    // b says nothing more; c beats.
    let later = t + remote::NODE_LOST;
    a.hub.tick(later - Duration::from_millis(1), &mut a.out);
    assert!(a.out.take(0).is_empty());
    c.out.publish(&Body::Beat);
    pump(&mut [&mut a, &mut c]);
    a.hub.tick(later + Duration::from_millis(1), &mut a.out);
    assert_eq!(a.out.take(0), ["* bob left (node lost)"]);
    say(&mut a.hub, &mut a.out, 0, "/who");
    assert_eq!(a.out.take(0), ["* online in #lobby (2): ana, cy"]);
    // c stops cleanly: gone at once.
    c.hub.shutdown(&mut c.out);
    pump(&mut [&mut a, &mut c]);
    assert_eq!(a.out.take(0), ["* cy left (node stopped)"]);
    // A beat of c's still in flight after its goodbye does not bring it back, nor get it
    // called lost later.
    c.out.publish(&Body::Beat);
    pump(&mut [&mut a, &mut c]);
    a.hub.tick(later + remote::NODE_LOST * 3, &mut a.out);
    assert!(a.out.take(0).is_empty());
    assert!(
        a.hub
            .next_deadline()
            .is_none_or(|d| d > later + remote::NODE_LOST * 3)
    );
}

#[test]
fn the_link_going_down_is_told_once_and_the_roster_comes_back() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    pump(&mut [&mut a, &mut b]);
    connect(&mut a, 0, "ana");
    pump(&mut [&mut a, &mut b]);
    a.out.sent.clear();
    a.hub.handle(Event::Link(false), &mut a.out);
    a.hub.handle(Event::Link(false), &mut a.out);
    assert_eq!(
        a.out.take(0),
        ["* cluster link down: lines reach this node only until it is back"]
    );
    // Meanwhile bob came on b; a missed it.
    b.out.published.clear();
    connect(&mut b, 0, "bob");
    b.out.published.clear();
    a.hub.handle(Event::Link(true), &mut a.out);
    pump(&mut [&mut a, &mut b]);
    // What changed meanwhile is told once, when b's roster comes.
    assert_eq!(
        a.out.take(0),
        [
            "* cluster link back: lines reach every node again",
            "* bob joined"
        ]
    );
    say(&mut a.hub, &mut a.out, 0, "/who");
    assert_eq!(a.out.take(0), ["* online in #lobby (2): ana, bob"]);
}

#[test]
fn an_outage_of_our_own_link_is_no_node_loss_until_it_is_long() {
    let t = t0();
    let (mut a, mut b, mut c) = (node("a", t), node("b", t), node("c", t));
    pump(&mut [&mut a, &mut b, &mut c]);
    connect(&mut a, 0, "ana");
    connect(&mut b, 0, "bob");
    connect(&mut c, 0, "cy");
    pump(&mut [&mut a, &mut b, &mut c]);
    a.out.sent.clear();
    a.hub.handle(Event::Link(false), &mut a.out);
    assert_eq!(a.out.take(0).len(), 1, "the link-down notice");
    // Cut off ourselves, the others' silence says nothing.
    a.hub.tick(t + remote::NODE_LOST * 3, &mut a.out);
    assert!(a.out.take(0).is_empty());
    assert!(a.hub.next_deadline() >= Some(t + remote::LONG_OUTAGE));
    // Meanwhile bob left and cy moved, which a could not hear.
    say(&mut b.hub, &mut b.out, 0, "/quit");
    say(&mut c.hub, &mut c.out, 0, "/join dev");
    b.out.published.clear();
    c.out.published.clear();
    let back = t + remote::NODE_LOST * 4;
    a.hub.tick(back, &mut a.out);
    a.hub.handle(Event::Link(true), &mut a.out);
    pump(&mut [&mut a, &mut c]);
    let told = a.out.take(0);
    assert_eq!(told[0], "* cluster link back: lines reach every node again");
    assert!(told.contains(&"* cy went to #dev".to_string()), "{told:?}");
    // b (stopped meanwhile) says nothing: lost NODE_LOST after the link came back, not before.
    a.hub.tick(
        back + remote::NODE_LOST - Duration::from_millis(1),
        &mut a.out,
    );
    assert!(a.out.take(0).is_empty());
    c.out.publish(&Body::Beat);
    pump(&mut [&mut a, &mut c]);
    a.hub.tick(back + remote::NODE_LOST, &mut a.out);
    assert_eq!(a.out.take(0), ["* bob left (node lost)"]);
    // A long outage lets everyone else go, and their roster brings them back.
    a.hub.handle(Event::Link(false), &mut a.out);
    a.out.sent.clear();
    let down = back + remote::NODE_LOST;
    a.hub.tick(down + remote::LONG_OUTAGE, &mut a.out);
    assert_eq!(
        a.out.take(0),
        Vec::<String>::new(),
        "ana is in the lobby, cy in #dev"
    );
    say(&mut a.hub, &mut a.out, 0, "/rooms");
    assert_eq!(a.out.take(0), ["* rooms (1): #lobby (1)"]);
    a.hub.handle(Event::Link(true), &mut a.out);
    pump(&mut [&mut a, &mut c]);
    say(&mut a.hub, &mut a.out, 0, "/rooms");
    assert_eq!(
        a.out.take(0).last().unwrap(),
        "* rooms (2): #dev (1), #lobby (1)"
    );
}

#[test]
fn after_an_outage_every_node_shows_the_same_history_in_time_order() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    let clock = WallClock {
        at: t,
        unix_us: 1_000_000_000,
    };
    a.hub.set_clock(clock);
    b.hub.set_clock(clock);
    pump(&mut [&mut a, &mut b]);
    connect(&mut a, 0, "ana");
    connect(&mut b, 0, "bob");
    pump(&mut [&mut a, &mut b]);
    let ms = Duration::from_millis;
    a.hub.tick(t + ms(1), &mut a.out);
    say(&mut a.hub, &mut a.out, 0, "before");
    pump(&mut [&mut a, &mut b]);
    // The broker is gone: each node serves its own clients and keeps what they say.
    a.hub.handle(Event::Link(false), &mut a.out);
    b.hub.handle(Event::Link(false), &mut b.out);
    a.hub.tick(t + ms(10), &mut a.out);
    say(&mut a.hub, &mut a.out, 0, "a during");
    b.hub.tick(t + ms(20), &mut b.out);
    say(&mut b.hub, &mut b.out, 0, "b during");
    a.hub.tick(t + ms(30), &mut a.out);
    say(&mut a.hub, &mut a.out, 0, "a again");
    assert!(a.out.published.is_empty() && b.out.published.is_empty());
    a.out.sent.clear();
    b.out.sent.clear();
    // Back: each publishes what was said meanwhile, for the others' history, not as news.
    a.hub.handle(Event::Link(true), &mut a.out);
    b.hub.handle(Event::Link(true), &mut b.out);
    pump(&mut [&mut a, &mut b]);
    assert_eq!(
        b.out.take(0),
        ["* cluster link back: lines reach every node again"]
    );
    // Newcomers on either node see the same lines, in the order they were said, once.
    let mut histories = Vec::new();
    for n in [&mut a, &mut b] {
        n.hub.handle(Event::Connected(1, LOCAL), &mut n.out);
        n.hub.end_turn(&mut n.out);
        histories.push(n.out.take(1)[1..].to_vec());
    }
    assert_eq!(
        histories[0],
        [
            "* history of #lobby: 4 lines",
            "<ana> before",
            "<ana> a during",
            "<bob> b during",
            "<ana> a again",
            "* end of history"
        ]
    );
    assert_eq!(histories[0], histories[1]);
}

#[test]
fn guests_are_named_from_the_clusters_blocks_of_numbers() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    assert_eq!(a.out.guests_asked, 1, "asked at link-up");
    a.hub.handle(Event::Guests(1, 1 + GUEST_BLOCK), &mut a.out);
    b.hub.handle(
        Event::Guests(1 + GUEST_BLOCK, 1 + 2 * GUEST_BLOCK),
        &mut b.out,
    );
    pump(&mut [&mut a, &mut b]);
    let welcome = |n: &mut Node, id: ClientId| {
        n.hub.handle(Event::Connected(id, LOCAL), &mut n.out);
        n.hub.end_turn(&mut n.out);
        n.out.take(id).remove(0)
    };
    assert!(welcome(&mut a, 0).starts_with("* welcome guest1, "));
    assert!(welcome(&mut b, 0).starts_with("* welcome guest101, "));
    // More is asked for once a quarter of the block is left, and once.
    for id in 1..75 {
        welcome(&mut a, id);
    }
    assert_eq!(a.out.guests_asked, 1);
    assert!(welcome(&mut a, 75).starts_with("* welcome guest76, "));
    assert_eq!(a.out.guests_asked, 2);
    welcome(&mut a, 76);
    assert_eq!(a.out.guests_asked, 2);
    // The answer waits until the block is used up.
    a.hub.handle(
        Event::Guests(1 + 2 * GUEST_BLOCK, 1 + 3 * GUEST_BLOCK),
        &mut a.out,
    );
    for id in 77..100 {
        welcome(&mut a, id);
    }
    // (The test hub holds 100 clients: one leaves to make room.)
    a.hub
        .handle(Event::Disconnected(1, Leave::Closed), &mut a.out);
    let w = welcome(&mut a, 100);
    assert!(w.starts_with("* welcome guest201, "), "{w}");
    // These names are the cluster's to give.
    a.out.sent.clear();
    say(&mut a.hub, &mut a.out, 0, "/nick Guest500");
    assert_eq!(
        a.out.take(0),
        ["! guestN names are given by the server; pick another"]
    );
    // Without numbers (the cluster could not be asked), the node's id keeps names apart.
    let mut c = node("c", t);
    assert!(welcome(&mut c, 0).starts_with("* welcome guest1-c, "));
}

#[test]
fn what_a_client_says_after_its_nick_waits_for_the_cluster() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    pump(&mut [&mut a, &mut b]);
    connect(&mut a, 0, "ana");
    connect(&mut b, 0, "bob");
    pump(&mut [&mut a, &mut b]);
    b.out.sent.clear();
    say(&mut a.hub, &mut a.out, 0, "/nick ann");
    say(&mut a.hub, &mut a.out, 0, "hello");
    // Not published under the old name while the claim is out.
    assert!(
        a.out.published.is_empty(),
        "published before the claim was answered"
    );
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(0), ["* ana is now ann", "<ann> hello"]);
    // Held lines are bounded.
    say(&mut a.hub, &mut a.out, 0, "/nick anna");
    for i in 0..MAX_HELD_LINES {
        say(&mut a.hub, &mut a.out, 0, &format!("line {i}"));
    }
    a.out.sent.clear();
    say(&mut a.hub, &mut a.out, 0, "one too many");
    assert_eq!(
        a.out.take(0),
        ["! too many lines while your new name is being asked for; line dropped"]
    );
    // The link going down answers a claim at once, and the held lines follow.
    a.hub.handle(Event::Link(false), &mut a.out);
    let told = a.out.take(0);
    assert_eq!(
        told[..2],
        [
            "* cluster link down: lines reach this node only until it is back",
            "! names cannot be changed while the cluster is unreachable; try again later"
        ]
    );
    say(&mut a.hub, &mut a.out, 0, "/nick other");
    assert_eq!(
        a.out.take(0),
        ["! names cannot be changed while the cluster is unreachable; try again later"]
    );
}

#[test]
fn what_another_node_cannot_claim() {
    let t = t0();
    let mut a = node("a", t);
    connect(&mut a, 0, "ana");
    pump(&mut [&mut a]);
    a.out.sent.clear();
    let claim = |body: Body<'static>| wire::Message { node: "x", body };
    // A name taken here.
    a.hub.handle(
        Event::Cluster(&claim(Body::Joined {
            name: "ANA",
            room: "lobby",
        })),
        &mut a.out,
    );
    assert!(a.out.take(0).is_empty());
    // Someone else's client leaving, or a node's own echo.
    a.hub.handle(
        Event::Cluster(&claim(Body::Left {
            name: "ana",
            reason: None,
        })),
        &mut a.out,
    );
    let echo = wire::Message {
        node: "a",
        body: Body::Line {
            room: "lobby",
            at: 1,
            seq: 1,
            text: "<ana> twice?",
            late: false,
        },
    };
    a.hub.handle(Event::Cluster(&echo), &mut a.out);
    assert!(a.out.take(0).is_empty());
    assert_eq!(a.hub.online(), 1);
}

#[test]
fn of_two_nodes_asked_for_one_name_at_once_one_gets_it() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    connect(&mut a, 0, "x");
    connect(&mut b, 0, "y");
    pump(&mut [&mut a, &mut b]);
    a.out.sent.clear();
    b.out.sent.clear();
    // Both ask before either hears of the other.
    say(&mut a.hub, &mut a.out, 0, "/nick same");
    say(&mut b.hub, &mut b.out, 0, "/nick SAME");
    pump(&mut [&mut a, &mut b]);
    let (got_a, got_b) = (a.out.take(0), b.out.take(0));
    let granted = [&got_a, &got_b]
        .iter()
        .filter(|g| g.iter().any(|l| l.starts_with("* you are now ")))
        .count();
    assert_eq!(granted, 1, "{got_a:?} {got_b:?}");
    assert!(
        got_a
            .iter()
            .chain(&got_b)
            .any(|l| l.starts_with("! name taken: ")),
        "{got_a:?} {got_b:?}"
    );
    // A rename lets go of the old name; leaving lets go of the name.
    let (winner, loser) = if got_a.iter().any(|l| l == "* you are now same") {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    say(&mut winner.hub, &mut winner.out, 0, "/nick other");
    pump(&mut [winner, loser]);
    say(&mut loser.hub, &mut loser.out, 0, "/nick same");
    pump(&mut [winner, loser]);
    assert!(
        loser
            .out
            .take(0)
            .contains(&"* you are now same".to_string())
    );
    say(&mut loser.hub, &mut loser.out, 0, "/quit");
    pump(&mut [winner, loser]);
    assert!(NAMES.with(|k| !k.borrow().contains("same")));
}

#[test]
fn a_clusters_rooms_at_rest_are_bounded_by_max_rooms_the_oldest_going_first() {
    let t = t0();
    let mut a = node("a", t);
    let mut cfg = HubConfig {
        node: Some("a".into()),
        history: 5,
        max_rooms: 2,
        ..config()
    };
    a.hub.reconfigure(cfg.clone());
    let kept = |room, at, seq| wire::Kept {
        room,
        node: "x",
        at,
        seq,
        text: "<x> hi",
    };
    // Rooms no one here is in, read from the cluster's stream: the newest two rest.
    let stored = [kept("old", 10, 1), kept("new", 30, 2), kept("mid", 20, 3)];
    a.hub.handle(Event::Stored(&stored), &mut a.out);
    connect(&mut a, 0, "ana");
    settle_names(&mut [&mut a]);
    a.out.take(0);
    say(&mut a.hub, &mut a.out, 0, "/rooms");
    assert_eq!(
        a.out.take(0),
        ["* rooms (3): #lobby (1), #mid (0), #new (0)"]
    );
    // A bad name from a broken peer rests nowhere.
    a.hub
        .handle(Event::Stored(&[kept("no way!", 40, 4)]), &mut a.out);
    cfg.max_rooms = 10;
    a.hub.reconfigure(cfg);
    say(&mut a.hub, &mut a.out, 0, "/rooms");
    assert_eq!(
        a.out.take(0),
        ["* rooms (3): #lobby (1), #mid (0), #new (0)"]
    );
}

#[test]
fn the_clusters_history_starts_a_nodes() {
    let t = t0();
    let mut a = node("a", t);
    // As a stream keeps them: by arrival, not by time (a line said during an outage comes
    // after the outage), and possibly twice.
    let kept = |room, at, seq, text| wire::Kept {
        room,
        node: "x",
        at,
        seq,
        text,
    };
    let stored = [
        kept("lobby", 30, 2, "<x> two"),
        kept("dev", 20, 5, "<y> in dev"),
        kept("LOBBY", 10, 1, "<x> one"),
        kept("lobby", 40, 3, "* x waves"),
        kept("lobby", 10, 1, "<x> one"),
    ];
    a.hub.handle(Event::Stored(&stored), &mut a.out);
    connect(&mut a, 0, "ana");
    // Its /nick answered: what it says next is not held back.
    settle_names(&mut [&mut a]);
    let got = a.out.take(0);
    assert_eq!(
        got[1..6],
        [
            "* history of #lobby: 3 lines",
            "<x> one",
            "<x> two",
            "* x waves",
            "* end of history"
        ]
    );
    // A room made later starts from what the cluster kept of it.
    say(&mut a.hub, &mut a.out, 0, "/join dev");
    pump(&mut [&mut a]);
    assert_eq!(
        a.out.take(0)[1..],
        [
            "* history of #dev: 1 line",
            "<y> in dev",
            "* end of history"
        ]
    );
}

#[test]
fn a_broker_peer_inventing_nodes_costs_a_bounded_amount() {
    let t = t0();
    let mut a = node("a", t);
    let names: Vec<String> = (0..remote::MAX_NODES + 10)
        .map(|i| format!("n{i}"))
        .collect();
    for (i, n) in names.iter().enumerate() {
        let who = format!("u{i}");
        let msg = wire::Message {
            node: n,
            body: Body::Joined {
                name: &who,
                room: "lobby",
            },
        };
        a.hub.handle(Event::Cluster(&msg), &mut a.out);
    }
    assert_eq!(a.hub.nodes.len(), remote::MAX_NODES);
    assert_eq!(a.hub.remotes.len(), remote::MAX_NODES);
}

#[test]
fn operators_act_on_any_nodes_clients() {
    let t = t0();
    let mut a = Node {
        hub: Hub::new(
            HubConfig {
                node: Some("a".into()),
                ..guarded()
            },
            t,
        ),
        out: Recorder {
            node: "a".into(),
            ..Recorder::default()
        },
    };
    a.hub.handle(Event::Link(true), &mut a.out);
    let (mut b, mut c) = (node("b", t), node("c", t));
    connect(&mut a, 0, "op");
    connect(&mut b, 0, "far");
    connect(&mut b, 1, "mate");
    connect(&mut c, 0, "near");
    pump(&mut [&mut a, &mut b, &mut c]);
    say(&mut a.hub, &mut a.out, 0, "/oper op-pw");
    for n in [&mut a, &mut b, &mut c] {
        n.out.sent.clear();
    }
    // Muting a client of another node: its node acts.
    say(&mut a.hub, &mut a.out, 0, "/mute far");
    assert_eq!(
        a.out.take(0),
        ["* far is on another node: asked it to mute them"]
    );
    pump(&mut [&mut a, &mut b, &mut c]);
    assert_eq!(b.out.take(0), ["* you were muted by op"]);
    say(&mut b.hub, &mut b.out, 0, "hi");
    assert_eq!(b.out.take(0), ["! you are muted"]);
    say(&mut a.hub, &mut a.out, 0, "/unmute far");
    pump(&mut [&mut a, &mut b, &mut c]);
    assert_eq!(b.out.take(0), ["* you were unmuted by op"]);
    // Kicking.
    say(&mut a.hub, &mut a.out, 0, "/kick far rude");
    pump(&mut [&mut a, &mut b, &mut c]);
    assert_eq!(b.out.take(0), ["! kicked by op (rude)"]);
    assert!(b.out.closed.contains(&0));
    assert_eq!(
        a.out.take(0).last().unwrap(),
        "* far left (kicked by op (rude))"
    );
    // Banning: mate's node knows the address and bans it; every node closes its clients
    // from there (operators aside) and refuses newcomers from it.
    for n in [&mut a, &mut b, &mut c] {
        n.out.sent.clear();
    }
    say(&mut a.hub, &mut a.out, 0, "/ban mate 5");
    pump(&mut [&mut a, &mut b, &mut c]);
    assert_eq!(b.out.take(1), ["! banned by op for 5 minutes"]);
    assert_eq!(
        c.out.take(0),
        [
            "* mate left (banned by op (5 minutes))",
            "! banned by op for 5 minutes"
        ]
    );
    assert!(b.out.closed.contains(&1) && c.out.closed.contains(&0));
    assert!(!a.out.closed.contains(&0), "operators stay");
    c.hub.handle(Event::Connected(1, LOCAL), &mut c.out);
    assert_eq!(c.out.take(1), ["! banned (5 more minutes)"]);
    // Lifted anywhere, lifted everywhere.
    say(&mut a.hub, &mut a.out, 0, "/unban 127.0.0.1");
    pump(&mut [&mut a, &mut b, &mut c]);
    c.hub.handle(Event::Connected(2, LOCAL), &mut c.out);
    assert!(c.out.take(2)[0].starts_with("* welcome "));
    // A node that starts later enforces the bans the cluster kept.
    let mut d = node("d", t);
    d.hub.handle(Event::Bans(&[(LOCAL, 60, "op")]), &mut d.out);
    d.hub.handle(Event::Connected(0, LOCAL), &mut d.out);
    assert_eq!(d.out.take(0), ["! banned (1 more minute)"]);
}

// JSON events (`/format json`).

/// The types and codes docs/protocol.md documents in "JSON events".
fn documented_events() -> (BTreeSet<String>, BTreeSet<String>) {
    let readme = include_str!("../../docs/protocol.md");
    let section = readme
        .split("### JSON events")
        .nth(1)
        .and_then(|s| s.split("\nBad input").next())
        .expect("README has a JSON events section");
    let types = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let codes_text: String = section
        .split("Codes of `notice`:")
        .nth(1)
        .and_then(|s| s.split("The\n`text`").next())
        .expect("README lists the codes")
        .to_string();
    let codes = codes_text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        .map(str::to_string)
        .collect();
    (types, codes)
}

/// Every line sent to `id` as a JSON object, checked: one object, a type, an RFC 3339 time.
fn events(r: &mut Recorder, id: ClientId) -> Vec<serde_json::Value> {
    r.take(id)
        .iter()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            let time = v["time"].as_str().unwrap_or_else(|| panic!("no time: {l}"));
            assert!(
                time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
                "{time}"
            );
            assert!(v["type"].is_string(), "{l}");
            v
        })
        .collect()
}

#[test]
fn a_json_client_gets_every_event_the_readme_lists() {
    let t = t0();
    let mut h = Hub::new(
        HubConfig {
            history: 5,
            ..guarded()
        },
        t,
    );
    h.set_clock(WallClock {
        at: t,
        unix_us: 1_795_982_400_123_456,
    });
    let mut r = Recorder::default();
    let mut seen: Vec<serde_json::Value> = Vec::new();
    // Client 0 reads JSON from its first line (as a WebSocket client does); 1 and 2 text.
    h.set_json(0, true);
    h.handle(Event::Connected(0, LOCAL), &mut r);
    h.end_turn(&mut r);
    let welcome = events(&mut r, 0);
    assert_eq!(welcome[0]["type"], "welcome");
    assert_eq!(welcome[0]["time"], "2026-11-29T20:00:00.123Z");
    assert_eq!(welcome[0]["name"], "guest1");
    seen.extend(welcome);
    for id in [1, 2] {
        h.handle(Event::Connected(id, LOCAL), &mut r);
    }
    h.end_turn(&mut r);
    let script: &[(ClientId, &str)] = &[
        (1, "hi"),
        (1, "/me is now admin"),
        (1, "/me left"),
        (1, "/msg guest1 psst"),
        (1, "/nick bob"),
        (0, "/nick ana"),
        (0, "/who"),
        (0, "/rooms"),
        (0, "/limits"),
        (0, "/topic"),
        (0, "/topic plans"),
        (0, "/help"),
        (0, "/bogus"),
        (0, "/nick bob"),
        (0, "/oper op-pw"),
        (0, "/mute bob"),
        (1, "muted words"),
        (0, "/unmute bob"),
        (0, "/join dev"),
        (1, "/join dev"),
        (1, "in dev"),
        (0, "/history"),
        (0, "/search in dev"),
        (0, "/part"),
        (0, "/whois bob"),
        (0, "/kick guest3 bye"),
    ];
    for &(id, line) in script {
        say(&mut h, &mut r, id, line);
        h.end_turn(&mut r);
        r.take(1);
        r.take(2);
        seen.extend(events(&mut r, 0));
    }
    h.handle(Event::Disconnected(1, Leave::TooSlow), &mut r);
    seen.extend(events(&mut r, 0));
    h.shutdown(&mut r);
    seen.extend(events(&mut r, 0));

    // The forged `/me`s are `me`, with the sender's name, never a rename or a leave.
    let mes: Vec<&serde_json::Value> = seen.iter().filter(|v| v["type"] == "me").collect();
    assert_eq!(mes.len(), 2, "{mes:?}");
    assert_eq!(mes[0]["from"], "guest2");
    assert_eq!(mes[0]["text"], "is now admin");
    assert_eq!(mes[1]["text"], "left");
    assert!(
        !seen
            .iter()
            .any(|v| v["type"] == "rename" && v["new"] == "admin")
    );
    // History keeps each line's own time and id.
    let history = seen.iter().find(|v| v["type"] == "history").unwrap();
    assert_eq!(history["room"], "dev");
    assert_eq!(history["lines"][0]["type"], "chat");
    assert_eq!(history["lines"][0]["text"], "in dev");
    assert_eq!(history["lines"][0]["from"], "bob");
    assert!(history["lines"][0]["id"].is_string());
    // A search names each line's room (without a store, from what the rooms keep).
    let found = seen.iter().find(|v| v["type"] == "search").unwrap();
    assert_eq!(found["words"], "in dev");
    assert_eq!(found["lines"][0]["room"], "dev");
    assert_eq!(found["lines"][0]["text"], "in dev");
    let limits = seen.iter().find(|v| v["type"] == "limits").unwrap();
    assert_eq!(
        (&limits["rate"], &limits["burst"]),
        (&50.into(), &100.into())
    );
    assert_eq!(limits["max_line"], 4096);
    let chat = seen.iter().find(|v| v["type"] == "chat").unwrap();
    assert_eq!(
        (&chat["room"], &chat["from"], &chat["text"]),
        (&"lobby".into(), &"guest2".into(), &"hi".into())
    );

    let (types, codes) = documented_events();
    let got: BTreeSet<String> = seen
        .iter()
        .map(|v| v["type"].as_str().unwrap().to_string())
        .collect();
    // `link` needs a cluster: the next test.
    let mut expected = types.clone();
    expected.remove("link");
    assert_eq!(got, expected, "types sent vs the README's table");
    for v in &seen {
        if let Some(code) = v["code"].as_str() {
            assert!(codes.contains(code), "code {code} is not in the README");
        }
    }
}

#[test]
fn a_json_client_in_a_cluster_is_told_of_the_link() {
    let t = t0();
    let mut a = node("a", t);
    a.hub.set_json(0, true);
    a.hub.handle(Event::Connected(0, LOCAL), &mut a.out);
    a.out.take(0);
    a.hub.handle(Event::Link(false), &mut a.out);
    let got = events(&mut a.out, 0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "link");
    assert_eq!(got[0]["up"], false);
    let (types, _) = documented_events();
    assert!(types.contains("link"));
}

#[test]
fn msg_to_oneself_is_refused_and_a_wait_is_one_message_rounded_up() {
    let (mut h, mut r) = room(1);
    say(&mut h, &mut r, 0, "/msg GUEST1 hi me");
    assert_eq!(r.take(0), ["! that is you"]);
    assert_eq!(gate::seconds_up(Duration::from_millis(1700)), 2);
    assert_eq!(gate::seconds_up(Duration::from_secs(2)), 2);
    assert_eq!(gate::seconds_up(Duration::from_millis(1)), 1);
    assert_eq!(moderation::minutes_text(1), "1 minute");
    assert_eq!(moderation::minutes_text(60), "60 minutes");
}

#[test]
fn a_newcomer_that_renames_at_once_is_announced_once_under_its_name() {
    let (mut h, mut r) = room(1);
    // Its welcome and its /nick in the same turn (a /pass and a /nick in one write, say).
    h.handle(Event::Connected(1, LOCAL), &mut r);
    say(&mut h, &mut r, 1, "/nick quick");
    h.end_turn(&mut r);
    assert_eq!(r.take(0), ["* quick joined"]);
    assert_eq!(
        r.take(1).last().map(String::as_str),
        Some("* you are now quick")
    );
}

/// A node that starts holds its clients until it knows the cluster: the other nodes' clients
/// (a welcome that counts them, no join notice for someone who never left) and the history.
#[test]
fn a_starting_node_tells_its_clients_nothing_before_it_knows_the_cluster() {
    let t = t0();
    let mut a = node("a", t);
    connect(&mut a, 0, "ana");
    settle_names(&mut [&mut a]);
    say(&mut a.hub, &mut a.out, 0, "said before b started");
    a.out.take(0);
    let mut b = Node {
        hub: Hub::new(
            HubConfig {
                node: Some("b".into()),
                history: 5,
                learn_cluster_first: true,
                operators: Vec::new(),
                ..config()
            },
            t,
        ),
        out: Recorder {
            node: "b".into(),
            following: HashSet::from([LOBBY.to_string()]),
            ..Recorder::default()
        },
    };
    // A client comes back at once, and says its name.
    b.hub.handle(Event::Connected(0, LOCAL), &mut b.out);
    b.hub.end_turn(&mut b.out);
    say(&mut b.hub, &mut b.out, 0, "/nick bo");
    assert!(
        b.out.take(0).is_empty(),
        "nothing before it knows the cluster"
    );
    assert!(b.out.claims.is_empty(), "its line waits");
    assert_eq!(
        (b.hub.online(), b.hub.waiting()),
        (0, 1),
        "it waits, counted"
    );
    // The link comes up: the rosters are asked for and come.
    b.hub.handle(Event::Link(true), &mut b.out);
    pump(&mut [&mut a, &mut b]);
    assert!(b.out.take(0).is_empty(), "the history is not read yet");
    let raw = STREAM.with(|s| s.borrow().clone());
    let kept = wire::lines("main", &raw);
    b.hub.handle(Event::Stored(&kept), &mut b.out);
    assert!(b.out.take(0).is_empty(), "every node has not beaten yet");
    assert_eq!(b.hub.next_deadline(), Some(t + start::SETTLE));
    b.hub.tick(t + start::SETTLE, &mut b.out);
    pump(&mut [&mut a, &mut b]);
    let got = b.out.take(0);
    assert_eq!(
        got,
        [
            "* welcome guest1-b, 2 online; type /help for commands",
            "* history of #lobby: 1 line",
            "<ana> said before b started",
            "* end of history",
            "* you are now bo",
        ]
    );
    assert_eq!((b.hub.online(), b.hub.waiting()), (1, 0));
    say(&mut b.hub, &mut b.out, 0, "/who");
    assert_eq!(b.out.take(0), ["* online in #lobby (2): ana, bo"]);

    // Without a broker, it serves after START_WAIT, as it is.
    let mut c = Hub::new(
        HubConfig {
            node: Some("c".into()),
            learn_cluster_first: true,
            operators: Vec::new(),
            ..config()
        },
        t,
    );
    let mut r = Recorder::default();
    c.handle(Event::Connected(0, LOCAL), &mut r);
    // A line too long is told at once: it cannot wait.
    c.handle(Event::LineTooLong(0), &mut r);
    assert_eq!(r.take(0), ["! line too long (max 4096 bytes)"]);
    assert_eq!(c.next_deadline(), Some(t + start::START_WAIT));
    c.tick(t + start::START_WAIT - Duration::from_millis(1), &mut r);
    assert!(r.take(0).is_empty());
    c.tick(t + start::START_WAIT, &mut r);
    assert!(r.take(0)[0].starts_with("* welcome "));
    // Gone while it waited: forgotten.
    let mut d = Hub::new(
        HubConfig {
            node: Some("d".into()),
            learn_cluster_first: true,
            operators: Vec::new(),
            ..config()
        },
        t,
    );
    let mut r = Recorder::default();
    d.handle(Event::Connected(0, LOCAL), &mut r);
    d.handle(Event::Line(0, b"hi"), &mut r);
    d.handle(Event::Disconnected(0, Leave::Closed), &mut r);
    d.tick(t + start::START_WAIT, &mut r);
    assert!(r.sent.is_empty(), "{:?}", r.sent);
}

/// The index of names follows every arrival, rename and leave, in any case.
#[test]
fn names_are_found_in_any_case_through_renames_and_leaves() {
    let (mut h, mut r) = room(3);
    say(&mut h, &mut r, 0, "/nick Ana");
    say(&mut h, &mut r, 1, "/nick bob");
    assert_eq!(h.client_named("ANA"), Some(0));
    assert_eq!(h.client_named("ana"), Some(0));
    say(&mut h, &mut r, 0, "/nick ANNA");
    assert_eq!(h.client_named("ana"), None);
    assert_eq!(h.client_named("anna"), Some(0));
    say(&mut h, &mut r, 2, "/nick Anna");
    assert_eq!(r.take(2).last().unwrap(), "! name taken: Anna");
    say(&mut h, &mut r, 0, "/nick anna");
    assert_eq!(r.take(0).last().unwrap(), "* you are now anna");
    h.handle(Event::Disconnected(1, Leave::Closed), &mut r);
    assert_eq!(h.client_named("BOB"), None);
    assert_eq!(h.by_name.len(), 2);
    say(&mut h, &mut r, 2, "/nick bob");
    assert_eq!(h.client_named("Bob"), Some(2));
}

mod accounts;
mod several_rooms;

/// Found by the fuzz target: a client let in late by a starting node, its `/join` waiting for
/// the room's history and a line held behind it, then the server stops and time passes. No
/// history and no held line may reach the closed client.
#[test]
fn after_a_stop_nothing_waits_to_be_shown() {
    let t = t0();
    let mut h = Hub::new(
        HubConfig {
            max_clients: 6,
            max_line: 64,
            max_per_ip: 4,
            max_connects_per_minute: 8,
            rate: 50.0,
            burst: 10.0,
            max_rooms: 3,
            max_rooms_per_client: 2,
            history: 3,
            oper_password: Some(Secret::new("op")),
            node: Some("me".into()),
            first_line: Some(Duration::from_secs(60)),
            learn_cluster_first: true,
            operators: Vec::new(),
            ..config()
        },
        t,
    );
    let mut r = Recorder {
        node: "me".into(),
        ..Recorder::default()
    };
    h.handle(Event::Guests(110, 113), &mut r);
    h.handle(Event::Connected(0, LOCAL), &mut r);
    h.handle(Event::Link(true), &mut r);
    h.handle(Event::Line(0, b"/join r1"), &mut r);
    h.handle(Event::Line(0, b"hello"), &mut r);
    // Past the start's wait: it is let in, its /join waits for r1's history, "hello" behind it.
    h.tick(t + Duration::from_secs(48), &mut r);
    assert!(r.take(0)[0].starts_with("* welcome "));
    assert!(
        r.follow_asked.iter().any(|room| room == "r1"),
        "{:?}",
        r.follow_asked
    );
    h.shutdown(&mut r);
    assert_eq!(r.take(0), ["* server shutting down"]);
    // Every deadline passes; the Recorder fails on any line to the closed client.
    h.tick(t + Duration::from_secs(48 + 134), &mut r);
    h.handle(Event::Followed("r1", &[]), &mut r);
    h.end_turn(&mut r);
    assert!(r.sent.is_empty(), "{:?}", r.sent);
}

#[test]
fn a_line_said_as_the_link_came_back_is_told_though_the_history_read_had_it() {
    let t = t0();
    let mut a = node("a", t);
    a.hub.set_clock(WallClock {
        at: t,
        unix_us: 1_000_000_000,
    });
    connect(&mut a, 0, "ana");
    settle_names(&mut [&mut a]);
    a.hub.handle(Event::Link(false), &mut a.out);
    a.hub.handle(Event::Link(true), &mut a.out);
    a.out.take(0);
    // The history read after the outage has a line said meanwhile, and one said since the
    // link came back, which also comes live (after the read, here).
    let kept = |at, seq, text| wire::Kept {
        room: "lobby",
        node: "b",
        at,
        seq,
        text,
    };
    let stored = [
        kept(999_000_000, 1, "<bob> while you were away"),
        kept(1_000_000_000, 2, "<bob> just now"),
    ];
    a.hub.handle(Event::Stored(&stored), &mut a.out);
    assert!(a.out.take(0).is_empty(), "a history read is not news");
    let live = wire::Message {
        node: "b",
        body: Body::Line {
            room: "lobby",
            at: 1_000_000_000,
            seq: 2,
            text: "<bob> just now",
            late: false,
        },
    };
    a.hub.handle(Event::Cluster(&live), &mut a.out);
    assert_eq!(a.out.take(0), ["<bob> just now"]);
    say(&mut a.hub, &mut a.out, 0, "/history");
    let history = a.out.take(0);
    assert_eq!(
        history[1..3],
        ["<bob> while you were away", "<bob> just now"],
        "{history:?}"
    );
}

#[test]
fn echo_on_sends_ones_own_lines_back_as_the_others_got_them() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 0, "hi");
    assert!(r.take(0).is_empty(), "off by default");
    say(&mut h, &mut r, 0, "/echo on");
    assert_eq!(r.take(0), ["* echo: on"]);
    say(&mut h, &mut r, 0, "hello");
    say(&mut h, &mut r, 0, "/me waves");
    say(&mut h, &mut r, 0, "/msg guest2 psst");
    assert_eq!(
        r.take(0),
        ["<guest1> hello", "* guest1 waves", "-> *guest2* psst"]
    );
    assert_eq!(r.take(1)[..2], ["<guest1> hi", "<guest1> hello"]);
    // In JSON, the same event, with its id.
    h.set_json(0, true);
    say(&mut h, &mut r, 0, "again");
    let back: serde_json::Value = serde_json::from_str(&r.take(0)[0]).unwrap();
    assert_eq!(
        (&back["type"], &back["from"], &back["text"]),
        (&"chat".into(), &"guest1".into(), &"again".into())
    );
    assert!(back["id"].is_string());
    say(&mut h, &mut r, 0, "/echo off");
    r.take(0);
    say(&mut h, &mut r, 0, "quiet now");
    assert!(r.take(0).is_empty());
}

#[test]
fn a_kick_s_leave_names_the_operator_in_json() {
    let (mut h, mut r, _) = moderated(3);
    h.set_json(2, true);
    say(&mut h, &mut r, 0, "/kick guest2");
    let told: serde_json::Value = serde_json::from_str(&r.take(2)[0]).unwrap();
    r.take(0);
    assert_eq!(told["type"], "leave");
    assert_eq!(told["reason"], "kicked by guest1");
    assert_eq!(told["by"], "guest1");
    say(&mut h, &mut r, 2, "/quit kicked by guest1");
    r.take(2);
    let quit = r.take(0);
    assert_eq!(quit, ["* guest3 left (kicked by guest1)"]);
}

#[test]
fn whois_tells_where_someone_is_and_away_tells_who_writes_to_them() {
    let (mut h, mut r) = room(2);
    say(&mut h, &mut r, 1, "/join dev");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/whois GUEST2");
    assert_eq!(r.take(0), ["* guest2 is online, in #dev"]);
    say(&mut h, &mut r, 0, "/whois nobody");
    assert_eq!(r.take(0), ["* nobody is not online"]);
    say(&mut h, &mut r, 1, "/away gone fishing");
    assert_eq!(r.take(1), ["* you are away"]);
    say(&mut h, &mut r, 0, "/msg guest2 you there?");
    assert_eq!(r.take(0), ["* guest2 is away: gone fishing"]);
    assert_eq!(r.take(1), ["*guest1* you there?"]);
    h.set_json(0, true);
    say(&mut h, &mut r, 0, "/whois guest2");
    let told: serde_json::Value = serde_json::from_str(&r.take(0)[0]).unwrap();
    assert_eq!(told["type"], "whois");
    assert_eq!(told["online"], true);
    assert_eq!(told["rooms"], serde_json::json!(["dev"]));
    assert_eq!(told["away"], "gone fishing");
    assert_eq!(told["operator"], false);
    say(&mut h, &mut r, 1, "/away");
    assert_eq!(r.take(1), ["* you are back"]);
    say(&mut h, &mut r, 0, "/msg guest2 back?");
    assert!(r.take(0).is_empty(), "no longer away");
    // An away is its connection's: gone with it, and not a later one's of the same id.
    say(&mut h, &mut r, 1, "/away brb");
    h.handle(Event::Disconnected(1, Leave::Closed), &mut r);
    r.closed.clear();
    h.handle(Event::Connected(1, LOCAL), &mut r);
    h.end_turn(&mut r);
    r.sent.clear();
    say(&mut h, &mut r, 0, "/msg guest3 hi");
    assert!(r.take(0).is_empty());
}
