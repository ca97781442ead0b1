//! Rooms and history over real sockets, in both concurrency modes; and a pipe into `nc` that
//! loses nothing under the default options.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, Mode, Server};

both_modes!(
    a_line_reaches_the_members_of_its_room_only,
    moving_between_rooms_is_told_to_both,
    rooms_who_and_topic,
    a_newcomer_gets_the_rooms_history_once,
    history_is_bounded_and_can_be_turned_off,
    max_rooms_is_enforced,
    msg_reaches_a_name_in_another_room,
    say_and_part_name_a_room_of_ones_own,
    a_pipe_into_nc_loses_nothing_with_the_default_options,
);

/// Moves `c` to `room` and reads up to its `* you are in` line (then its topic and history
/// follow, if any).
fn join(c: &mut Client, room: &str) {
    c.send(&format!("/join {room}"));
    loop {
        let line = c.line();
        if line.starts_with("* you are in #") {
            return;
        }
    }
}

fn a_line_reaches_the_members_of_its_room_only(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(4);
    join(&mut c[0], "dev");
    join(&mut c[1], "#DEV");
    let (from, mover) = (c[0].name.clone(), c[1].name.clone());
    c[0].expect(&format!("* {mover} came from #lobby"));
    c[0].send("for dev only");
    c[1].expect_after_joins(&format!("<{from}> for dev only"));
    // The lobby saw the moves, and nothing of the line.
    for i in [2, 3] {
        let (actor, observer) = Client::pair(&mut c, 0, i);
        let seen = observer.sync_with(actor);
        assert!(
            seen.iter().all(|l| l.ends_with(" went to #dev")),
            "{seen:?}"
        );
    }
    c[2].send("for the lobby");
    let lobby = c[2].name.clone();
    c[3].expect(&format!("<{lobby}> for the lobby"));
    let (actor, observer) = Client::pair(&mut c, 2, 0);
    assert_eq!(observer.sync_with(actor), Vec::<String>::new());
}

fn moving_between_rooms_is_told_to_both(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(3);
    let (a, b) = (c[0].name.clone(), c[1].name.clone());
    c[0].send("/join dev");
    c[0].expect("* you are in #dev (1 here)");
    c[1].expect(&format!("* {a} went to #dev"));
    c[2].expect(&format!("* {a} went to #dev"));
    c[1].send("/join dev");
    c[1].expect("* you are in #dev (2 here)");
    c[0].expect(&format!("* {b} came from #lobby"));
    c[2].expect(&format!("* {b} went to #dev"));
    c[1].send("/part");
    c[1].expect("* you are in #lobby (2 here)");
    c[0].expect(&format!("* {b} went to #lobby"));
    c[2].expect(&format!("* {b} came from #dev"));
    c[1].send("/part");
    c[1].expect("! you are already in #lobby");
    // Leaving the server is told to the room one was in.
    // Its last member gone, a room is removed (a /quit answered has been handled).
    c[0].send("/quit");
    c[0].expect("* bye");
    c[1].send("/rooms");
    c[1].expect("* rooms (1): #lobby (2)");
}

fn rooms_who_and_topic(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(3);
    c[0].send("/nick ann");
    c[0].expect("* you are now ann");
    join(&mut c[0], "Dev");
    join(&mut c[1], "dev");
    let b = c[1].name.clone();
    c[0].expect(&format!("* {b} came from #lobby"));
    c[2].expect("* guest1 is now ann");
    c[2].expect("* ann went to #Dev");
    c[2].expect(&format!("* {b} went to #Dev"));
    c[2].send("/rooms");
    c[2].expect("* rooms (2): #Dev (2), #lobby (1)");
    c[2].send("/who dev");
    c[2].expect(&format!("* online in #Dev (2): ann, {b}"));
    c[2].send("/who #nowhere");
    c[2].expect("! no such room: #nowhere");
    c[0].send("/topic");
    c[0].expect("* #Dev has no topic");
    c[0].send("/topic release on friday");
    c[0].expect("* ann set the topic of #Dev: release on friday");
    c[1].expect("* ann set the topic of #Dev: release on friday");
    // A newcomer to the room is shown the topic.
    c[2].send("/join dev");
    c[2].expect("* you are in #Dev (3 here)");
    c[2].expect("* topic of #Dev: release on friday");
}

fn a_newcomer_gets_the_rooms_history_once(mode: Mode) {
    let server = Server::start(mode);
    let mut talker = server.client();
    for i in 0..3 {
        talker.send(&format!("before {i}"));
    }
    talker.send("/me nods");
    let name = talker.name.clone();
    // The lines are in the history once the hub has handled them: a /who answered proves it.
    talker.sync();
    let mut late = server.connect();
    assert!(late.line().starts_with("* welcome "));
    late.expect("* history of #lobby: 4 lines");
    for i in 0..3 {
        late.expect(&format!("<{name}> before {i}"));
    }
    late.expect(&format!("* {name} nods"));
    late.expect("* end of history");
    talker.send("live");
    late.expect(&format!("<{name}> live"));
    // And on /join: a room's own history only.
    join(&mut talker, "dev");
    talker.send("in dev");
    talker.sync();
    late.send("/join dev");
    late.expect_after_joins(&format!("* {name} went to #dev"));
    late.expect("* you are in #dev (2 here)");
    late.expect("* history of #dev: 1 line");
    late.expect(&format!("<{name}> in dev"));
    late.expect("* end of history");
    late.send("/history");
    late.expect("* history of #dev: 1 line");
    late.expect(&format!("<{name}> in dev"));
    late.expect("* end of history");
}

fn history_is_bounded_and_can_be_turned_off(mode: Mode) {
    let server = Server::start_with(mode, &["--history", "2"]);
    let mut talker = server.client();
    for i in 0..5 {
        talker.send(&format!("n {i}"));
    }
    talker.sync();
    let mut late = server.client();
    late.expect("* history of #lobby: 2 lines");
    late.expect(&format!("<{}> n 3", talker.name));
    late.expect(&format!("<{}> n 4", talker.name));
    late.expect("* end of history");

    let server = Server::start_with(mode, &["--history", "0"]);
    let mut talker = server.client();
    talker.send("not kept");
    talker.sync();
    let mut late = server.client();
    assert_eq!(late.sync(), Vec::<String>::new(), "no history block");
}

fn max_rooms_is_enforced(mode: Mode) {
    let server = Server::start_with(mode, &["--max-rooms", "2"]);
    let mut c = server.clients(2);
    join(&mut c[0], "one");
    let a = c[0].name.clone();
    c[1].expect(&format!("* {a} went to #one"));
    c[1].send("/join two");
    c[1].expect("! too many rooms (max 2)");
    c[1].send("/join one");
    c[1].expect("* you are in #one (2 here)");
}

fn msg_reaches_a_name_in_another_room(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    join(&mut c[0], "dev");
    let to = c[0].name.clone();
    c[1].send(&format!("/msg {to} over here"));
    let from = c[1].name.clone();
    c[0].expect(&format!("*{from}* over here"));
}

/// The check, as a user would run it: `seq 1 5000 | nc -q 5 HOST PORT`, default
/// options. Flood control paces the pipe (50 lines a second after a burst of 100), so this takes
/// about 100 s; every line must arrive, in order, at another client.
fn a_pipe_into_nc_loses_nothing_with_the_default_options(mode: Mode) {
    const LINES: usize = 5000;
    let server = Server::start(mode);
    let mut reader = server.client();
    // It says something, as a person would: the 5,000 lines take longer than the first-line
    // deadline (60 s), which closes a client that never does.
    assert!(reader.sync().is_empty());
    let mut nc = Command::new("nc")
        .args(["-q", "5", "127.0.0.1", &server.addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nc is needed (Debian: apt-get install netcat-openbsd; .ci/run installs it)");
    let input: String = (1..=LINES).map(|i| format!("{i}\n")).collect();
    nc.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    // The pipe's name: from its join notice.
    let joined = reader.line();
    let name = joined
        .strip_prefix("* ")
        .and_then(|l| l.strip_suffix(" joined"))
        .unwrap_or_else(|| panic!("expected the pipe's join, got {joined:?}"))
        .to_string();
    let started = Instant::now();
    for i in 1..=LINES {
        reader.expect(&format!("<{name}> {i}"));
    }
    reader.expect(&format!("* {name} left"));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(150), "5,000 lines took {took:?}");
    let _ = nc.wait();
}

/// `/say ROOM TEXT` and `/part ROOM` act on a room the client is in, and refuse any other
/// with an error that names it; an invalid name is refused as a `/join` of it is.
fn say_and_part_name_a_room_of_ones_own(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    join(&mut c[0], "Dev");
    join(&mut c[1], "dev");
    let (a, b) = (c[0].name.clone(), c[1].name.clone());
    c[0].expect(&format!("* {b} came from #lobby"));
    c[0].send("/say #DEV said in dev");
    c[1].expect(&format!("<{a}> said in dev"));
    for (line, answer) in [
        ("/say lobby not there", "! you are not in #lobby"),
        ("/part ops", "! you are not in #ops"),
        (
            "/say b@d hi",
            "! invalid room: b@d (1 to 32 letters, digits, _ or -, after an optional #)",
        ),
        ("/say dev", "! usage: /say ROOM TEXT"),
        ("/part a b", "! usage: /part [ROOM]"),
    ] {
        c[0].send(line);
        c[0].expect(answer);
    }
    // Nothing of them reached the room.
    let (me, other) = Client::pair(&mut c, 0, 1);
    assert!(other.sync_with(me).is_empty());
    c[0].send("/part dev");
    c[0].expect("* you are in #lobby (1 here)");
    c[1].expect(&format!("* {a} went to #lobby"));
}
