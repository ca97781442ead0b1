//! Several rooms at once, over real sockets, in both concurrency modes: a TCP connection that
//! reads JSON (`/format json`) collects rooms, speaks in any of them, leaves one at a time, and
//! is refused past `--max-rooms-per-client`; going back to text keeps one room; quitting is one
//! leave per room. Text clients (`nc`) around it keep one room each, as before.

mod common;

use common::{Client, Mode, Server};
use serde_json::Value;

both_modes!(
    a_json_client_is_in_several_rooms_and_speaks_in_each,
    bad_room_commands_are_refused_and_change_nothing,
    the_rooms_limit_is_its_own_error,
    back_to_text_keeps_one_room_and_says_so,
    quitting_is_one_leave_per_room,
    history_topics_and_moderation_follow_every_room,
    the_line_rate_is_the_connections_whatever_the_rooms,
);

/// The next line of `c`, a JSON event.
fn event(c: &mut Client) -> Value {
    let line = c.line();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{}: {e}: {line:?}", c.name))
}

/// Reads `c`'s events up to the first of type `kind`, letting only others' comings (`join`,
/// `move`) come first.
fn expect(c: &mut Client, kind: &str) -> Value {
    loop {
        let e = event(c);
        if e["type"] == kind {
            return e;
        }
        assert!(
            e["type"] == "join" || e["type"] == "move" && e["name"] != c.name.as_str(),
            "{} expected a {kind} event: {e}",
            c.name
        );
    }
}

/// A client that reads JSON, its `/format json` answered.
fn json_client(server: &Server) -> Client {
    let mut c = server.client();
    c.send("/format json");
    assert_eq!(expect(&mut c, "notice")["code"], "format");
    c
}

/// `c` (JSON) joins `room`; its `room` event (its topic and history follow, if any).
fn join(c: &mut Client, room: &str) -> Value {
    c.send(&format!("/join {room}"));
    expect(c, "room")
}

/// A text client moved to `room`, past its `* you are in` line.
fn text_client_in(server: &Server, room: &str) -> Client {
    let mut c = server.client();
    c.send(&format!("/join {room}"));
    while !c.line().starts_with("* you are in #") {}
    c
}

/// Lines that came between two points where only other clients' joins may have.
fn only_joins(lines: Vec<String>, what: &str) {
    assert!(
        lines.iter().all(|l| l.ends_with(" joined")),
        "{what}: {lines:?}"
    );
}

fn sorted(e: &Value) -> Vec<&str> {
    let mut r = rooms(e);
    r.sort();
    r
}

fn rooms(e: &Value) -> Vec<&str> {
    e["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

fn a_json_client_is_in_several_rooms_and_speaks_in_each(mode: Mode) {
    let server = Server::start(mode);
    let mut lobby = server.client();
    let mut dev = text_client_in(&server, "dev");
    let mut j = json_client(&server);
    let name = j.name.clone();
    lobby.expect_after_joins(&format!("* {} went to #dev", dev.name));
    // Adding #dev: only #dev hears of it, the lobby keeps it.
    let room = join(&mut j, "dev");
    assert_eq!(
        (&room["room"], &room["here"], &room["left"]),
        (&"dev".into(), &2.into(), &Value::Null)
    );
    assert_eq!(rooms(&room), ["dev", "lobby"]);
    dev.expect_after_joins(&format!("* {name} joined"));
    only_joins(lobby.sync_with(&mut j), "the lobby heard of it");
    // Each room's lines come, named.
    lobby.send("in the lobby");
    let chat = expect(&mut j, "chat");
    assert_eq!(
        (&chat["room"], &chat["text"]),
        (&"lobby".into(), &"in the lobby".into())
    );
    dev.send("in dev");
    let chat = expect(&mut j, "chat");
    assert_eq!(
        (&chat["room"], &chat["text"]),
        (&"dev".into(), &"in dev".into())
    );
    // Plain lines go to #dev, the room joined last; `/say` to the lobby does not change that.
    j.send("plain");
    dev.expect(&format!("<{name}> plain"));
    j.send("/say lobby said to the lobby");
    lobby.expect(&format!("<{name}> said to the lobby"));
    j.send("plain again");
    dev.expect(&format!("<{name}> plain again"));
    only_joins(lobby.sync_with(&mut j), "a #dev line reached the lobby");
    // `/who ROOM` and `/rooms` count it in both.
    j.send("/who lobby");
    let who = expect(&mut j, "who");
    assert_eq!(who["names"].as_array().unwrap().len(), 2, "{who}");
    j.send("/rooms");
    let list = expect(&mut j, "rooms");
    assert_eq!(
        list["rooms"],
        serde_json::json!([{"name": "dev", "here": 2}, {"name": "lobby", "here": 2}])
    );
    // Joining a room it is in makes it where plain lines go, told to no one.
    let room = join(&mut j, "lobby");
    assert_eq!(
        (&room["room"], sorted(&room)),
        (&"lobby".into(), vec!["dev", "lobby"])
    );
    j.send("plain in the lobby");
    lobby.expect(&format!("<{name}> plain in the lobby"));
    only_joins(dev.sync_with(&mut j), "#dev heard of it");
    // `/part ROOM` leaves that one; `/part` the current one; then it is in no room.
    j.send("/part dev");
    let room = expect(&mut j, "room");
    assert_eq!(
        (&room["room"], &room["left"]),
        (&"lobby".into(), &"dev".into())
    );
    assert_eq!(rooms(&room), ["lobby"]);
    dev.expect(&format!("* {name} left"));
    j.send("/part");
    let room = expect(&mut j, "room");
    assert_eq!(
        (&room["room"], &room["left"]),
        (&Value::Null, &"lobby".into())
    );
    assert!(rooms(&room).is_empty());
    lobby.expect(&format!("* {name} left"));
    for line in ["nobody hears this", "/who", "/topic", "/me waves"] {
        j.send(line);
        let error = expect(&mut j, "error");
        assert_eq!(
            (&error["code"], &error["text"]),
            (
                &"no_room".into(),
                &"you are in no room: /join ROOM first".into()
            ),
            "{line}"
        );
    }
    // Private messages reach it still, and `/join` takes it somewhere.
    lobby.send(&format!("/msg {name} still there?"));
    assert_eq!(expect(&mut j, "private")["text"], "still there?");
    let room = join(&mut j, "dev");
    assert_eq!(rooms(&room), ["dev"]);
    dev.expect(&format!("* {name} joined"));
    only_joins(lobby.sync_with(&mut j), "a line of no room was relayed");
}

fn bad_room_commands_are_refused_and_change_nothing(mode: Mode) {
    let server = Server::start(mode);
    let mut lobby = server.client();
    let mut j = json_client(&server);
    join(&mut j, "dev");
    for (line, code) in [
        ("/say ops hi", "not_in_room"),
        ("/part ops", "not_in_room"),
        ("/join b@d", "invalid_room"),
        ("/say b@d hi", "invalid_room"),
        ("/part b@d", "invalid_room"),
        ("/join dev", "already_there"),
        ("/say dev", "usage"),
    ] {
        j.send(line);
        let error = expect(&mut j, "error");
        assert_eq!(error["code"], code, "{line}: {error}");
    }
    // Still in both, plain lines still to #dev, the lobby told nothing.
    j.send("/rooms");
    let list = expect(&mut j, "rooms");
    assert_eq!(list["rooms"].as_array().unwrap().len(), 2, "{list}");
    only_joins(lobby.sync_with(&mut j), "the lobby heard of it");
}

fn the_rooms_limit_is_its_own_error(mode: Mode) {
    let server = Server::start_with(mode, &["--max-rooms-per-client", "3"]);
    let mut j = json_client(&server);
    join(&mut j, "a");
    join(&mut j, "b");
    j.send("/join c");
    let error = expect(&mut j, "error");
    assert_eq!(
        (&error["code"], &error["text"]),
        (
            &"too_many_joined".into(),
            &"you are in 3 rooms already (max 3): /part one first".into()
        )
    );
    // Nothing changed: the room was not made, plain lines still go to #b.
    j.send("/rooms");
    let names: Vec<String> = expect(&mut j, "rooms")["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b", "lobby"]);
    let mut b = text_client_in(&server, "b");
    j.send("still in b");
    b.expect_after_joins(&format!("<{}> still in b", j.name));
    // One part makes room for one more.
    j.send("/part a");
    expect(&mut j, "room");
    assert_eq!(sorted(&join(&mut j, "c")), ["b", "c", "lobby"]);
    // A text client is in one room whatever the limit: it moves.
    let mut t = text_client_in(&server, "a");
    for room in ["b", "c", "d"] {
        t.send(&format!("/join {room}"));
        while !t.line().starts_with("* you are in #") {}
    }
}

fn back_to_text_keeps_one_room_and_says_so(mode: Mode) {
    let server = Server::start(mode);
    let mut lobby = server.client();
    let mut ops = text_client_in(&server, "ops");
    let mut j = json_client(&server);
    let name = j.name.clone();
    lobby.expect_after_joins(&format!("* {} went to #ops", ops.name));
    join(&mut j, "ops");
    join(&mut j, "dev");
    ops.expect_after_joins(&format!("* {name} joined"));
    j.send("/format text");
    j.expect("* format: text");
    j.expect("* you left #lobby, #ops: a text connection is in one room, #dev");
    ops.expect(&format!("* {name} left"));
    lobby.expect_after_joins(&format!("* {name} left"));
    // A text client now: one room, `/join` moves.
    j.send("/join ops");
    j.expect("* you are in #ops (2 here)");
    ops.expect(&format!("* {name} came from #dev"));
    // In no room, back to text is back to the lobby.
    j.send("/format json");
    expect(&mut j, "notice");
    j.send("/part");
    expect(&mut j, "room");
    ops.expect(&format!("* {name} left"));
    j.send("/format text");
    j.expect("* format: text");
    loop {
        let line = j.line();
        if line.starts_with("* you are in #lobby") {
            break;
        }
        assert!(line.starts_with("* ") || line.starts_with('<'), "{line}");
    }
    lobby.expect_after_joins(&format!("* {name} joined"));
}

fn quitting_is_one_leave_per_room(mode: Mode) {
    let server = Server::start(mode);
    let mut lobby = server.client();
    let mut dev = text_client_in(&server, "dev");
    let mut ops = text_client_in(&server, "ops");
    let mut j = json_client(&server);
    let name = j.name.clone();
    join(&mut j, "dev");
    join(&mut j, "ops");
    dev.expect_after_joins(&format!("* {name} joined"));
    ops.expect_after_joins(&format!("* {name} joined"));
    j.send("/quit gone fishing");
    assert_eq!(expect(&mut j, "notice")["code"], "bye");
    let reason = format!("* {name} left (gone fishing)");
    for c in [&mut lobby, &mut dev, &mut ops] {
        // Its leave, after the notices of the others' coming and going...
        loop {
            let line = c.line();
            if line == reason {
                break;
            }
            assert!(line.starts_with("* "), "{}: {line}", c.name);
        }
        // ...and no second one: every leave was sent as the quit was handled, before this.
        let lines = c.sync();
        assert!(!lines.contains(&reason), "{}: {lines:?}", c.name);
    }
    // Every room counts one fewer.
    lobby.send("/rooms");
    let rooms = lobby.line();
    assert_eq!(
        rooms, "* rooms (3): #dev (1), #lobby (1), #ops (1)",
        "{rooms}"
    );
}

fn history_topics_and_moderation_follow_every_room(mode: Mode) {
    let dir = std::env::temp_dir().join(format!("chatd-several-{}-{mode:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let oper = dir.join("oper");
    std::fs::write(&oper, "op-secret\n").unwrap();
    let server = Server::start_with(mode, &["--oper-password-file", oper.to_str().unwrap()]);
    let mut op = server.client();
    op.send("/oper op-secret");
    while op.line() != "* you are now an operator" {}
    let mut dev = text_client_in(&server, "dev");
    dev.send("said before");
    dev.send("/topic ship it");
    dev.expect(&format!("* {} set the topic of #dev: ship it", dev.name));
    let mut j = json_client(&server);
    let name = j.name.clone();
    // Entering #dev: its topic and its history, each naming the room.
    join(&mut j, "dev");
    let topic = expect(&mut j, "topic");
    assert_eq!(
        (&topic["room"], &topic["text"]),
        (&"dev".into(), &"ship it".into())
    );
    let history = expect(&mut j, "history");
    assert_eq!(history["room"], "dev");
    assert_eq!(history["lines"][0]["text"], "said before");
    assert_eq!(history["lines"][0]["room"], "dev");
    // `/topic` and `/history` are the current room's; another room's topic names it.
    j.send("/topic");
    assert_eq!(expect(&mut j, "topic")["room"], "dev");
    op.send("/topic lobby things");
    let topic = expect(&mut j, "topic");
    assert_eq!(
        (&topic["room"], &topic["text"]),
        (&"lobby".into(), &"lobby things".into())
    );
    // A mute holds in every room.
    op.send(&format!("/mute {name}"));
    assert_eq!(expect(&mut j, "notice")["code"], "muted");
    for line in ["in dev", "/say lobby in the lobby", "/me waves"] {
        j.send(line);
        assert_eq!(expect(&mut j, "error")["code"], "muted", "{line}");
    }
    only_joins(dev.sync_with(&mut op), "a muted line reached #dev");
    // A kick closes the connection: each room hears it once.
    op.send(&format!("/kick {name} bye now"));
    let kicked = format!("* {name} was kicked by {} (bye now)", op.name);
    dev.expect(&kicked);
    loop {
        let line = op.line();
        if line == kicked {
            break;
        }
        assert!(line.starts_with("* "), "{line}");
    }
    let closing: Vec<String> = j.until_closed();
    assert_eq!(
        serde_json::from_str::<Value>(&closing[0]).unwrap()["code"],
        "kicked"
    );
    assert!(!op.sync().contains(&kicked), "told twice");
    assert!(!dev.sync().contains(&kicked), "told twice");
    let _ = std::fs::remove_dir_all(&dir);
}

fn the_line_rate_is_the_connections_whatever_the_rooms(mode: Mode) {
    // 10 lines a second after 4 at once: 24 lines, half to each of two rooms, take 2 s
    // however they are spread (a rate per room would let them through in 0.8 s).
    let server = Server::start_with(mode, &["--msg-rate", "10", "--msg-burst", "4"]);
    let mut a = text_client_in(&server, "a");
    let mut b = text_client_in(&server, "b");
    let mut j = json_client(&server);
    join(&mut j, "a");
    join(&mut j, "b");
    let lines: String = (0..24)
        .map(|i| format!("/say {} line {i}\n", if i % 2 == 0 { "a" } else { "b" }))
        .collect();
    let start = std::time::Instant::now();
    j.send_bytes(lines.as_bytes());
    let name = j.name.clone();
    a.expect_after_joins(&format!("<{name}> line 0"));
    b.expect_after_joins(&format!("<{name}> line 1"));
    for i in (2..24).step_by(2) {
        a.expect(&format!("<{name}> line {i}"));
        b.expect(&format!("<{name}> line {}", i + 1));
    }
    let took = start.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1800),
        "{took:?}: paced per room?"
    );
}
