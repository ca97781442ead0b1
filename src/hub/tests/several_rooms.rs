//! A connection in several rooms: what a JSON client's `/join`, `/part` and `/say` do, what
//! stays one room for a text client, and how a cluster follows clients in several rooms.

use super::*;

/// Client `id` reads JSON and is in the chat, announced.
fn json_client(h: &mut Hub, r: &mut Recorder, id: ClientId) {
    h.set_json(id, true);
    h.handle(Event::Connected(id, LOCAL), r);
    h.end_turn(r);
}

/// `(type, room)` of each event sent to `id`, and its `text` or `code` when it has one.
fn kinds(r: &mut Recorder, id: ClientId) -> Vec<(String, String, String)> {
    events(r, id)
        .into_iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let what = if v["code"].is_string() {
                s("code")
            } else {
                s("text")
            };
            (s("type"), s("room"), what)
        })
        .collect()
}

fn k(kind: &str, room: &str, what: &str) -> (String, String, String) {
    (kind.into(), room.into(), what.into())
}

/// Clients 0 and 1 read JSON, 2 and 3 read text; all in the lobby, announced, and told
/// nothing yet.
fn mixed() -> (Hub, Recorder) {
    let mut h = hub();
    let mut r = Recorder::default();
    for id in 0..4 {
        if id < 2 {
            h.set_json(id, true);
        }
        h.handle(Event::Connected(id, LOCAL), &mut r);
    }
    h.end_turn(&mut r);
    r.sent.clear();
    (h, r)
}

#[test]
fn a_json_client_collects_rooms_and_speaks_in_the_last_joined() {
    let (mut h, mut r) = mixed();
    say(&mut h, &mut r, 0, "/join dev");
    let room = events(&mut r, 0);
    assert_eq!(room.len(), 1, "{room:?}");
    assert_eq!(room[0]["type"], "room");
    assert_eq!(room[0]["room"], "dev");
    assert_eq!(room[0]["rooms"], serde_json::json!(["dev", "lobby"]));
    // The lobby is not told it left: it did not.
    assert!(r.take(2).is_empty());
    assert_eq!(h.rooms_of(0), ["dev", "lobby"]);
    say(&mut h, &mut r, 2, "/join dev");
    assert_eq!(
        kinds(&mut r, 0),
        [k("move", "lobby", ""), k("move", "dev", "")],
        "told in each room"
    );
    r.sent.clear();

    // Plain lines go to #dev now; /say reaches the lobby.
    say(&mut h, &mut r, 0, "to dev");
    say(&mut h, &mut r, 0, "/say lobby to lobby");
    assert_eq!(r.take(2), ["<guest1> to dev"]);
    assert_eq!(r.take(3), ["<guest1> to lobby"]);
    assert_eq!(
        kinds(&mut r, 1),
        [k("chat", "lobby", "to lobby")],
        "a JSON client in the lobby"
    );
    assert!(r.take(0).is_empty(), "not to the sender");

    // Joining a room it is in makes it the one it speaks in, and tells no one else.
    say(&mut h, &mut r, 0, "/join LOBBY");
    let room = events(&mut r, 0);
    assert_eq!(room[0]["room"], "lobby");
    assert_eq!(room[0]["rooms"], serde_json::json!(["lobby", "dev"]));
    assert!(r.sent.is_empty(), "{:?}", r.sent);
    say(&mut h, &mut r, 0, "back in the lobby");
    assert_eq!(r.take(3), ["<guest1> back in the lobby"]);
    assert!(r.take(2).is_empty());
}

#[test]
fn a_json_client_parts_one_room_at_a_time_and_may_be_in_none() {
    let (mut h, mut r) = mixed();
    say(&mut h, &mut r, 0, "/join dev");
    say(&mut h, &mut r, 0, "/join ops");
    say(&mut h, &mut r, 2, "/join dev");
    r.sent.clear();

    // A room it is not the speaker in: that one only, told to its members.
    say(&mut h, &mut r, 0, "/part DEV");
    let room = events(&mut r, 0);
    assert_eq!(room[0]["type"], "room");
    assert_eq!(room[0]["left"], "dev");
    assert_eq!(room[0]["room"], "ops");
    assert_eq!(room[0]["rooms"], serde_json::json!(["ops", "lobby"]));
    assert_eq!(r.take(2), ["* guest1 left"]);
    say(&mut h, &mut r, 0, "/part dev");
    assert_eq!(kinds(&mut r, 0), [k("error", "", "not_in_room")]);

    // `/part` alone: the room it speaks in; the one it was in before takes over.
    say(&mut h, &mut r, 0, "/part");
    let room = events(&mut r, 0);
    assert_eq!(room[0]["left"], "ops");
    assert_eq!(room[0]["room"], "lobby");
    assert_eq!(h.rooms(), 2, "#ops is gone with its last member");
    say(&mut h, &mut r, 0, "/part");
    let room = events(&mut r, 0);
    assert_eq!(room[0]["room"], serde_json::Value::Null);
    assert_eq!(room[0]["rooms"], serde_json::json!([]));
    assert_eq!(kinds(&mut r, 1), [k("leave", "lobby", "")]);
    assert_eq!(r.take(3), ["* guest1 left"]);

    // In no room: what needs one is refused with the way out; the rest works.
    for line in ["hello", "/me waves", "/topic", "/history", "/who", "/part"] {
        say(&mut h, &mut r, 0, line);
        let got = kinds(&mut r, 0);
        let code = if line == "/part" {
            "not_in_room"
        } else {
            "no_room"
        };
        assert_eq!(got, [k("error", "", code)], "{line}");
    }
    assert!(r.sent.is_empty(), "no one else hears of it: {:?}", r.sent);
    say(&mut h, &mut r, 0, "/msg guest4 psst");
    assert_eq!(r.take(3), ["*guest1* psst"]);
    say(&mut h, &mut r, 0, "/join lobby");
    assert_eq!(events(&mut r, 0)[0]["room"], "lobby");
    // (Told at the end of the turn, with whoever else joins it meanwhile.)
    assert!(r.take(3).is_empty());
    h.end_turn(&mut r);
    assert_eq!(r.take(3), ["* guest1 joined"]);
}

#[test]
fn a_text_client_stays_in_one_room() {
    let (mut h, mut r) = mixed();
    say(&mut h, &mut r, 2, "/join dev");
    assert_eq!(r.take(2), ["* you are in #dev (1 here)"]);
    assert_eq!(r.take(3), ["* guest3 went to #dev"]);
    assert_eq!(h.rooms_of(2), ["dev"]);
    say(&mut h, &mut r, 2, "/part lobby");
    assert_eq!(r.take(2), ["! you are not in #lobby"]);
    say(&mut h, &mut r, 2, "/part dev");
    assert_eq!(r.take(2), ["* you are in #lobby (4 here)"]);
    say(&mut h, &mut r, 2, "/part");
    assert_eq!(r.take(2), ["! you are already in #lobby"]);
}

#[test]
fn back_to_text_a_client_keeps_the_room_it_speaks_in_and_is_told_what_it_left() {
    let (mut h, mut r) = mixed();
    say(&mut h, &mut r, 0, "/join dev");
    say(&mut h, &mut r, 0, "/join ops");
    say(&mut h, &mut r, 2, "/join dev");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/format text");
    assert_eq!(
        r.take(0),
        [
            "* format: text",
            "* you left #lobby, #dev: a text connection is in one room, #ops"
        ]
    );
    assert_eq!(r.take(2), ["* guest1 left"]);
    assert_eq!(r.take(3), ["* guest1 left"]);
    assert_eq!(kinds(&mut r, 1), [k("leave", "lobby", "")]);
    assert_eq!(h.rooms_of(0), ["ops"]);
    // A text client from now on: /join moves.
    say(&mut h, &mut r, 0, "/join lobby");
    assert_eq!(r.take(0), ["* you are in #lobby (3 here)"]);

    // In no room, it goes to the lobby.
    say(&mut h, &mut r, 1, "/part");
    let told = events(&mut r, 1);
    assert_eq!(told[0]["type"], "move", "guest1 came from #ops");
    assert_eq!(told[1]["rooms"], serde_json::json!([]));
    say(&mut h, &mut r, 1, "/format text");
    assert_eq!(
        r.take(1),
        ["* format: text", "* you are in #lobby (3 here)"],
        "and no history: the lobby has none"
    );
}

#[test]
fn quitting_is_one_leave_per_room_each_told_once() {
    let (mut h, mut r) = mixed();
    for id in [0, 1] {
        say(&mut h, &mut r, id, "/join dev");
        say(&mut h, &mut r, id, "/join ops");
    }
    r.sent.clear();
    h.handle(Event::Disconnected(0, Leave::TooSlow), &mut r);
    let mut left = kinds(&mut r, 1);
    left.sort();
    assert_eq!(
        left,
        [
            k("leave", "dev", ""),
            k("leave", "lobby", ""),
            k("leave", "ops", "")
        ]
    );
    assert_eq!(r.take(2), ["* guest1 left (too slow)"]);
    assert_eq!(h.rooms(), 3);
    h.handle(Event::Disconnected(1, Leave::Closed), &mut r);
    assert_eq!(h.rooms(), 1, "#dev and #ops went with their last member");
    assert_eq!(h.online(), 2);
}

#[test]
fn a_rename_is_told_in_each_room() {
    let (mut h, mut r) = mixed();
    for id in [0, 1] {
        say(&mut h, &mut r, id, "/join dev");
    }
    r.sent.clear();
    say(&mut h, &mut r, 0, "/nick ana");
    let mut got = kinds(&mut r, 1);
    got.sort();
    assert_eq!(got, [k("rename", "dev", ""), k("rename", "lobby", "")]);
    assert_eq!(
        r.take(2),
        ["* guest1 is now ana"],
        "once: it is in one of them"
    );
}

#[test]
fn the_limit_of_rooms_per_client_has_its_own_error() {
    let mut h = Hub::new(
        HubConfig {
            max_rooms_per_client: 2,
            ..config()
        },
        t0(),
    );
    let mut r = Recorder::default();
    json_client(&mut h, &mut r, 0);
    say(&mut h, &mut r, 0, "/join a");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/join b");
    let got = events(&mut r, 0);
    assert_eq!(got[0]["code"], "too_many_joined");
    assert_eq!(
        got[0]["text"],
        "you are in 2 rooms already (max 2): /part one first"
    );
    assert_eq!(h.rooms(), 2, "no room was made");
    assert_eq!(h.rooms_of(0), ["a", "lobby"]);
    // A room it is in may still be made the one it speaks in; a text client may still move.
    say(&mut h, &mut r, 0, "/join lobby");
    assert_eq!(events(&mut r, 0)[0]["type"], "room");
    h.handle(Event::Connected(1, LOCAL), &mut r);
    say(&mut h, &mut r, 1, "/join b");
    assert_eq!(r.take(1).last().unwrap(), "* you are in #b (1 here)");
}

#[test]
fn a_mute_holds_in_every_room() {
    let (mut h, mut r, _) = moderated(3);
    h.set_json(1, true);
    say(&mut h, &mut r, 1, "/join dev");
    say(&mut h, &mut r, 0, "/mute guest2");
    r.sent.clear();
    for line in ["hi", "/say lobby hi", "/say dev hi", "/me waves"] {
        say(&mut h, &mut r, 1, line);
        assert_eq!(events(&mut r, 1)[0]["code"], "muted", "{line}");
    }
    assert!(r.sent.is_empty(), "{:?}", r.sent);
}

#[test]
fn a_kicked_client_leaves_every_room_and_the_operator_hears_once() {
    let (mut h, mut r, _) = moderated(3);
    h.set_json(1, true);
    say(&mut h, &mut r, 1, "/join dev");
    say(&mut h, &mut r, 2, "/join dev");
    r.sent.clear();
    say(&mut h, &mut r, 0, "/kick guest2");
    assert_eq!(r.take(0), ["* guest2 was kicked by guest1"]);
    assert_eq!(r.take(2), ["* guest2 was kicked by guest1"]);
    assert!(r.closed.contains(&1));
}

#[test]
fn shutdown_and_link_notices_reach_a_client_once() {
    let t = t0();
    let mut a = node("a", t);
    a.hub.set_json(0, true);
    connect(&mut a, 0, "ana");
    say(&mut a.hub, &mut a.out, 0, "/join dev");
    pump(&mut [&mut a]);
    a.out.sent.clear();
    a.hub.handle(Event::Link(false), &mut a.out);
    assert_eq!(
        kinds(&mut a.out, 0),
        [k(
            "link",
            "",
            "cluster link down: lines reach this node only until it is back"
        )]
    );
    a.hub.shutdown(&mut a.out);
    assert_eq!(
        kinds(&mut a.out, 0),
        [k("shutdown", "", "server shutting down")]
    );
}

#[test]
fn another_node_follows_each_room_of_a_client_in_several() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    pump(&mut [&mut a, &mut b]);
    a.hub.set_json(0, true);
    connect(&mut a, 0, "ana");
    connect(&mut b, 0, "bob");
    connect(&mut b, 1, "cy");
    say(&mut b.hub, &mut b.out, 1, "/join dev");
    pump(&mut [&mut a, &mut b]);
    say(&mut a.hub, &mut a.out, 0, "/join dev");
    pump(&mut [&mut a, &mut b]);
    b.out.sent.clear();

    // Ana is in both rooms as b sees it.
    say(&mut b.hub, &mut b.out, 1, "/who");
    assert_eq!(b.out.take(1), ["* online in #dev (2): ana, cy"]);
    say(&mut b.hub, &mut b.out, 0, "/who");
    assert_eq!(b.out.take(0), ["* online in #lobby (2): ana, bob"]);
    say(&mut a.hub, &mut a.out, 0, "/say lobby hi lobby");
    say(&mut a.hub, &mut a.out, 0, "hi dev");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(0), ["<ana> hi lobby"]);
    assert_eq!(b.out.take(1), ["<ana> hi dev"]);

    // She leaves the lobby only: b's lobby hears it, #dev does not.
    say(&mut a.hub, &mut a.out, 0, "/part lobby");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(0), ["* ana left"]);
    assert!(b.out.take(1).is_empty());
    say(&mut b.hub, &mut b.out, 1, "/who");
    assert_eq!(b.out.take(1), ["* online in #dev (2): ana, cy"]);

    // b takes a for lost, then reads its roster: she is back in #dev and #ops, told once in
    // #dev (no one on b is in #ops), and not in the lobby.
    say(&mut a.hub, &mut a.out, 0, "/join ops");
    pump(&mut [&mut a, &mut b]);
    b.hub
        .tick(t + remote::NODE_LOST + Duration::from_secs(1), &mut b.out);
    assert_eq!(b.out.take(1), ["* ana left (node lost)"]);
    b.out.sent.clear();
    let hello = wire::Message {
        node: "b",
        body: Body::Hello,
    };
    a.hub.handle(Event::Cluster(&hello), &mut a.out);
    let roster = String::from_utf8(a.out.published.last().cloned().unwrap()).unwrap();
    assert!(roster.ends_with("roster ana ops ana dev"), "{roster}");
    carry(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(1), ["* ana joined"]);
    assert!(b.out.take(0).is_empty(), "the lobby: she is not in it");

    // She quits: #dev hears it once.
    say(&mut a.hub, &mut a.out, 0, "/quit");
    pump(&mut [&mut a, &mut b]);
    assert_eq!(b.out.take(1), ["* ana left"]);
    assert!(b.out.take(0).is_empty());
}

#[test]
fn a_roster_reconciles_every_room_of_every_client() {
    let t = t0();
    let mut b = node("b", t);
    connect(&mut b, 0, "bob");
    pump(&mut [&mut b]);
    say(&mut b.hub, &mut b.out, 0, "/format json");
    say(&mut b.hub, &mut b.out, 0, "/join dev");
    b.out.sent.clear();
    let roster = |members: Vec<(&'static str, &'static str)>| wire::Message {
        node: "a",
        body: Body::Roster(members),
    };
    b.hub.handle(
        Event::Cluster(&roster(vec![
            ("ana", "lobby"),
            ("ana", "dev"),
            ("cy", "dev"),
        ])),
        &mut b.out,
    );
    let mut got = kinds(&mut b.out, 0);
    got.sort();
    assert_eq!(got, [k("join", "dev", ""), k("join", "lobby", "")]);
    // Ana left #dev, Cy moved from #dev to the lobby, Dee came: each told once, where it
    // happened.
    b.hub.handle(
        Event::Cluster(&roster(vec![
            ("ana", "lobby"),
            ("cy", "lobby"),
            ("dee", "dev"),
        ])),
        &mut b.out,
    );
    let mut got = kinds(&mut b.out, 0);
    got.sort();
    assert_eq!(
        got,
        [
            k("join", "dev", ""),
            k("leave", "dev", ""),
            k("move", "dev", ""),
            k("move", "lobby", ""),
        ]
    );
    say(&mut b.hub, &mut b.out, 0, "/who");
    assert_eq!(
        events(&mut b.out, 0)[0]["names"],
        serde_json::json!(["bob", "dee"])
    );
    say(&mut b.hub, &mut b.out, 0, "/who lobby");
    assert_eq!(
        events(&mut b.out, 0)[0]["names"],
        serde_json::json!(["ana", "bob", "cy"])
    );
}

#[test]
fn a_broken_peer_cannot_put_a_client_in_endless_rooms() {
    let t = t0();
    let mut b = node("b", t);
    for i in 0..remote::MAX_REMOTE_ROOMS + 10 {
        let room = format!("r{i}");
        let msg = wire::Message {
            node: "a",
            body: Body::Joined {
                name: "ana",
                room: &room,
            },
        };
        b.hub.handle(Event::Cluster(&msg), &mut b.out);
    }
    assert_eq!(b.hub.remotes["ana"].rooms.len(), remote::MAX_REMOTE_ROOMS);
    let gone = wire::Message {
        node: "a",
        body: Body::Left {
            name: "ana",
            reason: None,
        },
    };
    b.hub.handle(Event::Cluster(&gone), &mut b.out);
    assert_eq!(b.hub.rooms(), 1, "each room went with her");
}

#[test]
fn a_member_in_one_room_is_as_small_as_before_several_rooms() {
    // Every connection holds one: its other rooms are behind a pointer, its seat an `Option`
    // of 8 bytes, its last move a tick count (RSS per idle connection is measured in
    // docs/benchmarks.md).
    assert_eq!(std::mem::size_of::<Option<Seat>>(), 8);
    assert_eq!(std::mem::size_of::<seats::Others>(), 8);
    assert!(
        std::mem::size_of::<Option<Member>>() <= 64,
        "{}",
        std::mem::size_of::<Member>()
    );
}

#[test]
fn joins_of_one_turn_are_told_in_one_line_per_room_before_anything_else_there() {
    let mut h = hub();
    let mut r = Recorder::default();
    let (watcher, lobby) = (9, 8);
    h.handle(Event::Connected(watcher, LOCAL), &mut r);
    h.handle(Event::Connected(lobby, LOCAL), &mut r);
    say(&mut h, &mut r, watcher, "/join dev");
    h.end_turn(&mut r);
    for id in 0..4 {
        json_client(&mut h, &mut r, id);
    }
    r.sent.clear();
    // Four clients add #dev in one turn: the watcher hears one line, each newcomer of those
    // after it; the lobby hears nothing.
    for id in 0..4 {
        say(&mut h, &mut r, id, "/join dev");
    }
    assert!(r.take(watcher).is_empty(), "told before the turn ended");
    h.end_turn(&mut r);
    assert_eq!(r.take(watcher), ["* guest3, guest4, guest5, guest6 joined"]);
    let first = events(&mut r, 0);
    let join = first.iter().find(|e| e["type"] == "join").unwrap();
    assert_eq!(
        (&join["room"], &join["names"]),
        (
            &"dev".into(),
            &serde_json::json!(["guest4", "guest5", "guest6"])
        )
    );
    assert!(events(&mut r, 3).iter().all(|e| e["type"] != "join"));
    assert!(r.take(lobby).is_empty(), "the lobby heard of it");
    // A join then a line in one turn: the join comes first.
    json_client(&mut h, &mut r, 4);
    say(&mut h, &mut r, 4, "/join dev");
    say(&mut h, &mut r, 4, "hello dev");
    assert_eq!(r.take(watcher), ["* guest7 joined", "<guest7> hello dev"]);
    // A join then a part in one turn: told in that order.
    say(&mut h, &mut r, 4, "/part dev");
    say(&mut h, &mut r, 4, "/join dev");
    say(&mut h, &mut r, 4, "/part dev");
    h.end_turn(&mut r);
    assert_eq!(
        r.take(watcher),
        ["* guest7 left", "* guest7 joined", "* guest7 left"]
    );
    // Alone in a room that goes with it before the turn ends: nothing to tell, no one hurt.
    say(&mut h, &mut r, 4, "/join solo");
    h.handle(Event::Disconnected(4, Leave::Closed), &mut r);
    say(&mut h, &mut r, 3, "/join other");
    h.end_turn(&mut r);
    assert_eq!(h.rooms(), 3, "lobby, dev, other");
}

#[test]
fn a_ban_of_an_address_whose_clients_empty_a_room_tells_the_rooms_left() {
    // (Found by the fuzz target: the second client's going removed #dev, which the first's
    // notice was still to be told in.)
    let (mut h, mut r, _) = moderated(4);
    h.set_json(1, true);
    say(&mut h, &mut r, 1, "/join dev");
    say(&mut h, &mut r, 2, "/join dev");
    h.end_turn(&mut r);
    r.sent.clear();
    say(&mut h, &mut r, 0, "/ban guest2");
    assert!(r.closed.contains(&1) && r.closed.contains(&2));
    assert_eq!(h.rooms(), 1, "#dev went with them");
    assert_eq!(r.take(3), ["* guest2 was banned by guest1 (60 minutes)"]);
    assert_eq!(
        r.take(0),
        [
            "* guest2 was banned by guest1 (60 minutes)",
            "* guest3 was banned by guest1 (60 minutes)",
            "* 127.0.0.1 is banned for 60 minutes"
        ]
    );
}
