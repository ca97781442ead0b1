//! The chat rules, tested without sockets.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

/// Records what the hub asks for, and checks that nothing is sent to a closed client.
#[derive(Default)]
struct Recorder {
    sent: Vec<(ClientId, String)>,
    closed: HashSet<ClientId>,
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

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn config() -> HubConfig {
    HubConfig {
        max_clients: 100,
        max_line: 4096,
        max_per_ip: 0,
        max_rooms: 100,
        history: 0,
    }
}

fn hub() -> Hub {
    Hub::new(config())
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
    let mut h = Hub::new(HubConfig {
        max_clients: 2,
        max_line: 10,
        ..config()
    });
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
    let mut h = Hub::new(HubConfig {
        max_line: 10,
        max_per_ip: 2,
        ..config()
    });
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
    let mut h = Hub::new(config);
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
    assert_eq!(h.rooms(), 1, "the empty room is removed");
    say(&mut h, &mut r, 0, "/part");
    assert_eq!(r.take(0), ["! you are already in #lobby"]);
    // Made again, it starts afresh.
    say(&mut h, &mut r, 0, "/join dev");
    assert_eq!(r.take(0), ["* you are in #dev (1 here)"]);
    say(&mut h, &mut r, 0, "/topic");
    assert_eq!(r.take(0), ["* #dev has no topic"]);
    // The lobby stays even when empty.
    say(&mut h, &mut r, 1, "/join dev");
    assert_eq!(h.rooms(), 2);
    say(&mut h, &mut r, 1, "/rooms");
    assert_eq!(
        r.take(1),
        [
            "* guest1 went to #dev",
            "* you are in #dev (2 here)",
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
        1 => (0usize..8, 0u8..6).prop_map(|(c, n)| Op::Nick(c, n)),
        1 => (0usize..8).prop_map(Op::Quit),
        1 => (0usize..8).prop_map(Op::Drop),
        1 => Just(Op::EndTurn),
    ]
}

proptest! {
    /// For any interleaving of connects, lines, room moves, renames and disconnects: every
    /// relayed line reaches each other client in its sender's room at that moment exactly once
    /// and in order, names stay unique, and nothing is sent to a closed client (the recorder
    /// asserts that).
    #[test]
    fn relay_is_exactly_once_in_order_and_names_stay_unique(ops in proptest::collection::vec(op(), 1..200)) {
        let mut h = hub();
        let mut r = Recorder::default();
        let mut connected: HashSet<ClientId> = HashSet::new();
        // Each client's room, as the model sees it.
        let mut room_of: Vec<String> = vec![LOBBY.to_string(); 8];
        // For each client: the chat lines it must get, in order.
        let mut expected: Vec<Vec<String>> = vec![Vec::new(); 8];
        let mut got: Vec<Vec<String>> = vec![Vec::new(); 8];
        let mut seq = 0;
        let collect = |r: &mut Recorder, got: &mut Vec<Vec<String>>| {
            for (to, l) in r.sent.drain(..) {
                if let Some(i) = l.find("> m") {
                    got[to].push(l[i + 2..].trim_end().to_string());
                }
            }
        };
        for op in ops {
            match op {
                Op::Connect(c) if !connected.contains(&c) => {
                    r.closed.remove(&c);
                    h.handle(Event::Connected(c, LOCAL), &mut r);
                    connected.insert(c);
                    room_of[c] = LOBBY.to_string();
                }
                Op::Say(c) if connected.contains(&c) => {
                    seq += 1;
                    let text = format!("m{seq}");
                    for &other in &connected {
                        if other != c && room_of[other] == room_of[c] {
                            expected[other].push(text.clone());
                        }
                    }
                    h.handle(Event::Line(c, text.as_bytes()), &mut r);
                }
                Op::Join(c, n) if connected.contains(&c) => {
                    h.handle(Event::Line(c, format!("/join R{n}").as_bytes()), &mut r);
                    room_of[c] = format!("R{n}");
                }
                Op::Part(c) if connected.contains(&c) => {
                    h.handle(Event::Line(c, b"/part"), &mut r);
                    room_of[c] = LOBBY.to_string();
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
                prop_assert_eq!(h.room_of(c), Some(room_of[c].as_str()));
            }
            // Empty rooms are gone; the lobby stays.
            let occupied: HashSet<&String> = connected.iter().map(|&c| &room_of[c]).collect();
            prop_assert_eq!(h.rooms(), occupied.iter().filter(|r| **r != LOBBY).count() + 1);
        }
        // A client that reconnected under the same id gets only what was sent while connected,
        // which `expected` models by construction.
        prop_assert_eq!(got, expected);
    }
}
