//! The TUI's state, fed server lines, JSON events and keys.

use super::*;

fn app() -> App {
    let mut a = App::new("127.0.0.1:12345".into(), "guest1".into());
    a.server_line("* welcome guest1, 1 online; type /help for commands");
    a
}

#[test]
fn the_welcome_does_not_undo_the_sessions_name() {
    let mut a = App::new("127.0.0.1:12345".into(), "alice".into());
    a.server_line("* welcome guest1, 1 online; type /help for commands");
    assert_eq!(a.me, "alice");
    assert_eq!(typed(&mut a, "hi"), Action::Send("hi".into()));
    assert_eq!(
        a.pane().messages.back().unwrap().kind,
        Kind::Chat {
            from: "alice".into(),
            own: true
        }
    );
}

fn names(a: &App) -> Vec<&str> {
    a.online_names().collect()
}

fn typed(a: &mut App, s: &str) -> Action {
    for c in s.chars() {
        a.key(Key::Char(c));
    }
    a.key(Key::Enter)
}

/// What a hub sends client 0, as lines.
#[derive(Default)]
struct Lines(Vec<String>);

impl crate::hub::Outbox for Lines {
    fn send(&mut self, to: crate::hub::ClientId, line: &crate::hub::Line) {
        if to == 0 {
            self.0
                .push(String::from_utf8_lossy(line).trim_end().to_string());
        }
    }
    fn close(&mut self, _: crate::hub::ClientId) {}
}

/// A hub of 10 clients and 10 rooms, no limits on lines.
fn small_hub(max_rooms_per_client: usize) -> crate::hub::Hub {
    crate::hub::Hub::new(
        crate::hub::HubConfig {
            max_clients: 10,
            max_line: 1000,
            max_per_ip: 0,
            max_connects_per_minute: 0,
            exempt: Vec::new(),
            first_line: None,
            learn_cluster_first: false,
            operators: Vec::new(),
            announce_grace: std::time::Duration::ZERO,
            rate: 0.0,
            burst: 0.0,
            max_rooms: 10,
            max_rooms_per_client,
            history: 10,
            password: None,
            oper_password: None,
            node: None,
        },
        std::time::Instant::now(),
    )
}

#[test]
fn the_online_list_cannot_be_forged_with_me() {
    use crate::hub::Event;
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut hub = small_hub(25);
    let mut out = Lines::default();
    let mut a = app();
    hub.handle(Event::Connected(0, ip), &mut out);
    hub.handle(Event::Line(0, b"/format json"), &mut out);
    hub.handle(Event::Connected(1, ip), &mut out);
    hub.end_turn(&mut out);
    let mut feed = |hub: &mut crate::hub::Hub, a: &mut App, line: &[u8]| {
        hub.handle(Event::Line(1, line), &mut out);
        hub.end_turn(&mut out);
        for l in std::mem::take(&mut out.0) {
            a.server_line(&l);
        }
    };
    feed(&mut hub, &mut a, b"/me is now admin");
    feed(&mut hub, &mut a, b"/me left");
    assert_eq!(names(&a), ["guest1", "guest2"]);
    assert_eq!(a.pane().messages.back().unwrap().text, "guest2 left");
    assert_eq!(a.pane().messages.back().unwrap().kind, Kind::Notice);
    feed(&mut hub, &mut a, b"/nick bob");
    assert_eq!(names(&a), ["bob", "guest1"]);
    feed(&mut hub, &mut a, b"hello");
    assert_eq!(
        a.pane().messages.back().unwrap().kind,
        Kind::Chat {
            from: "bob".into(),
            own: false
        }
    );
    feed(&mut hub, &mut a, b"/join dev");
    assert_eq!(names(&a), ["guest1"]);
    assert_eq!(a.pane().messages.back().unwrap().text, "bob went to #dev");
    // Its own join (JSON: a room added, the lobby kept): a new pane, shown, its history
    // dimmed, its list asked for.
    hub.handle(Event::Line(0, b"/join dev"), &mut out);
    let mut reload = None;
    for l in std::mem::take(&mut out.0) {
        reload = reload.or(a.server_line(&l));
    }
    assert_eq!(a.pane().room, "dev");
    assert_eq!(a.panes.len(), 2);
    assert_eq!(reload.as_deref(), Some("/who dev"));
    let past: Vec<&Message> = a.pane().messages.iter().filter(|m| m.past).collect();
    assert!(past.is_empty(), "bob said nothing in #dev yet");
    hub.handle(Event::Line(0, b"/who"), &mut out);
    for l in std::mem::take(&mut out.0) {
        a.server_line(&l);
    }
    assert_eq!(names(&a), ["bob", "guest1"]);
}

#[test]
fn kicks_and_bans_stand_out_and_leave_the_list() {
    let mut a = app();
    a.server_line("* online in #lobby (3): alice, bob, guest1");
    a.server_line("* bob was kicked by alice (spam)");
    assert_eq!(names(&a), ["alice", "guest1"]);
    let last = a.pane().messages.back().unwrap();
    assert_eq!(last.kind, Kind::Alert);
    assert_eq!(last.text, "bob was kicked by alice (spam)");
    a.server_line("! banned by alice for 60 minutes");
    let last = a.pane().messages.back().unwrap();
    assert_eq!(last.kind, Kind::Alert);
    assert_eq!(last.text, "you were banned by alice for 60 minutes");
    a.server_line("! you are muted");
    assert_eq!(a.pane().messages.back().unwrap().kind, Kind::Error);
}

#[test]
fn the_online_list_follows_the_notices() {
    let mut a = app();
    a.server_line("* online in #lobby (3): alice, Bob, guest1");
    assert_eq!(names(&a), ["alice", "Bob", "guest1"]);
    a.server_line("* online in #elsewhere (1): zed");
    assert_eq!(names(&a), ["alice", "Bob", "guest1"], "another room's list");
    a.server_line("* carol, dave joined");
    a.server_line("* Bob left (lunch)");
    a.server_line("* alice is now Alicia");
    assert_eq!(names(&a), ["Alicia", "carol", "dave", "guest1"]);
    a.server_line("* you are now me");
    assert_eq!(a.me, "me");
    assert_eq!(names(&a), ["Alicia", "carol", "dave", "me"]);
    assert_eq!(
        a.server_line("* x and 40 more joined"),
        Some("/who".to_string())
    );
}

#[test]
fn a_move_changes_the_room_its_topic_and_its_list() {
    let mut a = app();
    a.server_line("* online in #lobby (2): alice, guest1");
    assert_eq!(
        a.server_line("* you are in #dev (2 here)"),
        Some("/who".to_string()),
        "the new room's list is asked for"
    );
    assert_eq!(a.pane().room, "dev");
    assert_eq!(names(&a), ["guest1"]);
    a.server_line("* topic of #dev: ship it");
    assert_eq!(a.pane().topic.as_deref(), Some("ship it"));
    a.server_line("* online in #dev (2): bob, guest1");
    a.server_line("* carol came from #lobby");
    a.server_line("* bob went to #lobby");
    assert_eq!(names(&a), ["carol", "guest1"]);
    a.server_line("* carol set the topic of #dev: friday");
    assert_eq!(a.pane().topic.as_deref(), Some("friday"));
    a.server_line("* you are in #lobby (3 here)");
    assert_eq!(
        (a.pane().room.as_str(), a.pane().topic.as_deref()),
        ("lobby", None)
    );
}

#[test]
fn history_lines_are_marked_as_past() {
    let mut a = app();
    a.server_line("* history of #lobby: 2 lines");
    a.server_line("<bob> earlier");
    a.server_line("* bob waves");
    a.server_line("* end of history");
    a.server_line("<bob> now");
    let past: Vec<(&str, bool)> = a
        .pane()
        .messages
        .iter()
        .skip(1)
        .map(|m| (m.text.as_str(), m.past))
        .collect();
    assert_eq!(
        past,
        [
            ("history of #lobby: 2 lines", false),
            ("earlier", true),
            ("bob waves", true),
            ("end of history", false),
            ("now", false),
        ]
    );
}

#[test]
fn messages_are_classified() {
    let mut a = app();
    a.server_line("<bob> hi");
    a.server_line("*bob* psst");
    a.server_line("! name taken: bob");
    a.server_line("* bob waves");
    let kinds: Vec<&Kind> = a.pane().messages.iter().skip(1).map(|m| &m.kind).collect();
    assert_eq!(
        kinds,
        [
            &Kind::Chat {
                from: "bob".into(),
                own: false
            },
            &Kind::Private {
                from: "bob".into(),
                to: String::new()
            },
            &Kind::Error,
            &Kind::Notice
        ]
    );
}

#[test]
fn editing_the_input_line() {
    let mut a = app();
    for c in "helo world".chars() {
        a.key(Key::Char(c));
    }
    for _ in 0..7 {
        a.key(Key::Left);
    }
    a.key(Key::Char('l'));
    assert_eq!(a.input.iter().collect::<String>(), "hello world");
    a.key(Key::End);
    a.key(Key::DeleteWord);
    assert_eq!(a.input.iter().collect::<String>(), "hello ");
    a.key(Key::Home);
    a.key(Key::Delete);
    a.key(Key::Right);
    a.key(Key::Backspace);
    assert_eq!(a.input.iter().collect::<String>(), "llo ");
    a.key(Key::ClearLine);
    assert!(a.input.is_empty() && a.cursor == 0);
    assert_eq!(a.key(Key::Backspace), Action::None);
}

#[test]
fn a_password_is_not_kept_in_the_history_nor_shown() {
    let mut a = app();
    assert_eq!(
        typed(&mut a, "/oper s3cret"),
        Action::Send("/oper s3cret".into())
    );
    a.key(Key::Up);
    assert!(a.input.is_empty(), "not brought back");
    assert_eq!(secret_from("/OPER x"), Some(6));
    assert_eq!(secret_from("/operator"), None);
    // The accounts' commands: everything after the name of /login, after the command for
    // the others.
    for (line, from) in [
        ("/login ana pw", Some(10)),
        ("/login ana", Some(10)),
        ("/LOGIN ana", Some(10)),
        ("/register pw", Some(10)),
        ("/unregister pw", Some(12)),
        ("/password old new", Some(10)),
        ("/logout", None),
    ] {
        assert_eq!(secret_from(line), from, "{line}");
    }
    for line in [
        "/login ana s3cret",
        "/register s3cret",
        "/password old s3cret",
    ] {
        typed(&mut a, line);
        a.key(Key::Up);
        assert!(a.input.is_empty(), "{line} brought back");
    }
    assert_eq!(
        crate::client::account_password("/login ana s3cret").as_deref(),
        Some("s3cret")
    );
    assert_eq!(
        crate::client::account_password("/password old s3cret").as_deref(),
        Some("s3cret")
    );
    assert_eq!(
        crate::client::account_password("/register s3cret").as_deref(),
        Some("s3cret")
    );
    assert_eq!(crate::client::account_password("/login ana"), None);
    assert_eq!(crate::client::account_password("/msg ana s3cret"), None);
}

#[test]
fn enter_sends_and_shows_own_text() {
    let mut a = app();
    assert_eq!(typed(&mut a, "hello"), Action::Send("hello".into()));
    let last = a.pane().messages.back().unwrap();
    assert_eq!(
        last.kind,
        Kind::Chat {
            from: "guest1".into(),
            own: true
        }
    );
    assert_eq!(
        typed(&mut a, "/msg bob  hi there"),
        Action::Send("/msg bob  hi there".into())
    );
    assert_eq!(
        a.pane().messages.back().unwrap(),
        &Message {
            kind: Kind::Private {
                from: "guest1".into(),
                to: "bob".into()
            },
            text: "hi there".into(),
            past: false,
        }
    );
    let before = a.pane().messages.len();
    assert_eq!(typed(&mut a, "/who"), Action::Send("/who".into()));
    assert_eq!(a.pane().messages.len(), before, "commands are not echoed");
    assert_eq!(typed(&mut a, "   "), Action::None);
    assert_eq!(a.key(Key::Quit), Action::Quit);
}

#[test]
fn history_browses_and_restores_the_draft() {
    let mut a = app();
    typed(&mut a, "one");
    typed(&mut a, "two");
    for c in "dra".chars() {
        a.key(Key::Char(c));
    }
    a.key(Key::Up);
    assert_eq!(a.input.iter().collect::<String>(), "two");
    a.key(Key::Up);
    a.key(Key::Up);
    assert_eq!(a.input.iter().collect::<String>(), "one");
    a.key(Key::Down);
    assert_eq!(a.input.iter().collect::<String>(), "two");
    a.key(Key::Down);
    assert_eq!(a.input.iter().collect::<String>(), "dra");
}

#[test]
fn scrolling_holds_the_view_while_messages_arrive() {
    let mut a = app();
    a.page = 5;
    a.key(Key::PageUp);
    assert_eq!(a.pane().scroll, 5);
    a.server_line("<bob> new");
    assert_eq!(a.pane().scroll, 6);
    a.key(Key::PageDown);
    a.key(Key::PageDown);
    assert_eq!(a.pane().scroll, 0);
}

#[test]
fn history_is_bounded() {
    let mut a = app();
    for i in 0..KEEP + 10 {
        a.server_line(&format!("<bob> {i}"));
    }
    assert_eq!(a.pane().messages.len(), KEEP);
}

#[test]
fn disconnection_is_shown() {
    let mut a = app();
    a.disconnected("server closed the connection");
    assert_eq!(
        a.status,
        Status::Disconnected("server closed the connection".into())
    );
    assert!(a.pane().online.is_empty());
}

/// The texts of the messages from the `n`th on.
fn texts_from(a: &App, n: usize) -> Vec<&str> {
    a.pane()
        .messages
        .iter()
        .skip(n)
        .map(|m| m.text.as_str())
        .collect()
}

#[test]
fn back_in_its_room_it_shows_what_was_missed_there_once_and_nothing_of_the_lobby() {
    let mut a = app();
    a.server_line("* you are in #ops (2 here)");
    a.server_line(r#"{"type":"chat","room":"ops","from":"ana","text":"one","id":"4"}"#);
    a.reconnecting("server closed the connection", std::time::Duration::ZERO);
    let before = a.pane().messages.len();
    let greeting: Vec<String> = [
        "* welcome guest1, 2 online; type /help for commands",
        "* history of #lobby: 1 line",
        "<guest1> lobby line one",
        "* end of history",
        "* carl joined",
        "* you are in #ops (2 here)",
    ]
    .map(String::from)
    .to_vec();
    a.reconnected("127.0.0.1:12345".into(), "guest1".into(), &greeting);
    // The room's history follows the greeting, in text on one node.
    for line in [
        "* history of #ops: 2 lines",
        "<ana> one",
        "<ana> two",
        "* end of history",
    ] {
        a.server_line(line);
    }
    assert_eq!(
        texts_from(&a, before),
        [
            "reconnected as guest1",
            "welcome guest1, 2 online; type /help for commands",
            "you are in #ops (2 here)",
            "missed while away: 1 line",
            "two",
            "end of history",
        ]
    );
    assert_eq!(a.pane().room, "ops");

    // In a cluster it comes after the catch-up, in JSON: likewise.
    a.reconnecting("server closed the connection", std::time::Duration::ZERO);
    let greeting = ["* you are in #ops (2 here)".to_string()];
    a.reconnected("127.0.0.1:12345".into(), "guest1".into(), &greeting);
    let before = a.pane().messages.len();
    a.server_line(
        r#"{"type":"history","room":"ops","lines":[
            {"type":"chat","room":"ops","from":"ana","text":"one","id":"4"},
            {"type":"chat","room":"ops","from":"ana","text":"two","id":"5"},
            {"type":"chat","room":"ops","from":"bo","text":"three","id":"6"}]}"#,
    );
    assert_eq!(
        texts_from(&a, before),
        ["missed while away: 1 line", "three"]
    );
}

/// A hub with clients 0 (the TUI's, reading JSON) and 1 (a text client), both in the lobby,
/// and a feed of what client 1 types, then client 0, into the [`App`].
fn hub_and_app() -> (crate::hub::Hub, App) {
    use crate::hub::Event;
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut hub = small_hub(3);
    let mut out = Lines::default();
    let mut a = app();
    hub.handle(Event::Connected(0, ip), &mut out);
    hub.handle(Event::Line(0, b"/format json"), &mut out);
    hub.handle(Event::Connected(1, ip), &mut out);
    hub.end_turn(&mut out);
    for l in out.0 {
        a.server_line(&l);
    }
    (hub, a)
}

/// Client `id` types `line`; what client 0 is sent goes to the app. The last reload it asks.
fn feed(hub: &mut crate::hub::Hub, a: &mut App, id: usize, line: &str) -> Option<String> {
    let mut out = Lines::default();
    hub.handle(crate::hub::Event::Line(id, line.as_bytes()), &mut out);
    hub.end_turn(&mut out);
    let mut reload = None;
    for l in out.0 {
        reload = a.server_line(&l).or(reload);
    }
    reload
}

fn rooms(a: &App) -> Vec<(&str, usize)> {
    a.panes
        .iter()
        .map(|p| (p.room.as_str(), p.unread))
        .collect()
}

#[test]
fn each_room_has_its_pane_and_the_others_count_what_was_said() {
    let (mut hub, mut a) = hub_and_app();
    assert_eq!(
        feed(&mut hub, &mut a, 0, "/join dev").as_deref(),
        Some("/who dev")
    );
    assert_eq!(feed(&mut hub, &mut a, 0, "/who dev"), None);
    assert_eq!((a.current, rooms(&a)), (1, vec![("lobby", 0), ("dev", 0)]));
    // The lobby's lines go to its pane and count there; #dev, shown, does not see them.
    feed(&mut hub, &mut a, 1, "one");
    feed(&mut hub, &mut a, 1, "/me waves");
    assert_eq!(rooms(&a), [("lobby", 2), ("dev", 0)]);
    assert!(!a.pane().messages.iter().any(|m| m.text == "one"));
    assert_eq!(names(&a), ["guest1"], "#dev's list is its own");
    // The text client comes to #dev: the lobby hears it went, #dev that it came.
    feed(&mut hub, &mut a, 1, "/join dev");
    assert_eq!(names(&a), ["guest1", "guest2"]);
    assert_eq!(
        a.pane().messages.back().unwrap().text,
        "guest2 came from #lobby"
    );
    assert_eq!(
        a.panes[0].messages.back().unwrap().text,
        "guest2 went to #dev"
    );
    assert_eq!(a.panes[0].online.len(), 1);
    // Alt+1 shows the lobby, read, and makes it where plain lines go.
    assert_eq!(a.key(Key::Room(0)), Action::Send("/join lobby".into()));
    assert_eq!((a.current, rooms(&a)), (0, vec![("lobby", 0), ("dev", 0)]));
    assert_eq!(a.key(Key::Room(0)), Action::None, "shown already");
    assert_eq!(a.key(Key::Room(5)), Action::None, "no such room");
    feed(&mut hub, &mut a, 0, "/join lobby");
    assert_eq!(a.current, 0);
    feed(&mut hub, &mut a, 1, "in dev");
    assert_eq!(rooms(&a), [("lobby", 0), ("dev", 1)]);
    // `/switch` by name or place; a room it is not in is an error, nothing sent.
    assert_eq!(
        typed(&mut a, "/switch #dev"),
        Action::Send("/join dev".into())
    );
    assert_eq!(
        typed(&mut a, "/switch 1"),
        Action::Send("/join lobby".into())
    );
    assert_eq!(typed(&mut a, "/switch ops"), Action::None);
    let last = a.pane().messages.back().unwrap();
    assert_eq!(
        (&last.kind, last.text.as_str()),
        (&Kind::Error, "you are not in #ops: /join ops first")
    );
    assert_eq!(typed(&mut a, "/switch"), Action::None);
    // Leaving #dev takes its pane away; leaving the last room leaves a pane for none.
    feed(&mut hub, &mut a, 0, "/part dev");
    assert_eq!(rooms(&a), [("lobby", 0)]);
    feed(&mut hub, &mut a, 0, "/part");
    assert_eq!(rooms(&a), [("", 0)]);
    assert_eq!(
        a.pane().messages.back().unwrap().text,
        "you left #lobby; you are in no room: /join ROOM to talk"
    );
    feed(&mut hub, &mut a, 0, "hello?");
    assert_eq!(a.pane().messages.back().unwrap().kind, Kind::Error);
    feed(&mut hub, &mut a, 0, "/join ops");
    assert_eq!(rooms(&a), [("ops", 0)]);
}

#[test]
fn a_rename_and_a_topic_land_in_their_rooms() {
    let (mut hub, mut a) = hub_and_app();
    feed(&mut hub, &mut a, 0, "/join dev");
    feed(&mut hub, &mut a, 1, "/join dev");
    feed(&mut hub, &mut a, 0, "/who dev");
    feed(&mut hub, &mut a, 1, "/nick bob");
    assert_eq!(names(&a), ["bob", "guest1"]);
    feed(&mut hub, &mut a, 1, "/topic ship it");
    assert_eq!(a.pane().topic.as_deref(), Some("ship it"));
    assert_eq!(a.panes[0].topic, None);
    // Its own new name, in every pane.
    feed(&mut hub, &mut a, 0, "/nick carol");
    assert_eq!(a.me, "carol");
    assert_eq!(names(&a), ["bob", "carol"]);
    assert!(a.panes[0].online.contains_key("carol"));
}

#[test]
fn back_from_a_reconnection_it_rejoins_every_room_the_shown_one_last() {
    let mut a = app();
    let event = |a: &mut App, room: &str, rooms: &[&str]| {
        let e = serde_json::json!({"type": "room", "room": room, "here": 1, "rooms": rooms});
        a.server_line(&e.to_string())
    };
    event(&mut a, "lobby", &["lobby"]);
    event(&mut a, "dev", &["lobby", "dev"]);
    event(&mut a, "ops", &["lobby", "dev", "ops"]);
    a.server_line(r#"{"type":"chat","room":"ops","from":"ana","text":"one","id":"4"}"#);
    a.key(Key::Room(1));
    assert_eq!(a.room(), "dev");
    a.reconnecting("server closed the connection", std::time::Duration::ZERO);
    let greeting = ["* you are in #dev (1 here)".to_string()];
    a.reconnected("127.0.0.1:12345".into(), "guest1".into(), &greeting);
    assert_eq!(a.rejoin_lines(), ["/join lobby", "/join ops", "/join dev"]);
    // Each join says the rooms so far: the panes not rejoined yet stay meanwhile.
    assert_eq!(
        event(&mut a, "lobby", &["dev", "lobby"]).as_deref(),
        Some("/who lobby")
    );
    assert_eq!(a.panes.len(), 3);
    event(&mut a, "ops", &["dev", "lobby", "ops"]);
    // Its history shows only what was missed.
    let before = a.panes[2].messages.len();
    a.server_line(
        r#"{"type":"history","room":"ops","lines":[
            {"type":"chat","room":"ops","from":"ana","text":"one","id":"4"},
            {"type":"chat","room":"ops","from":"bo","text":"two","id":"5"}]}"#,
    );
    let texts: Vec<&str> = a.panes[2]
        .messages
        .iter()
        .skip(before)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["missed while away: 1 line", "two"]);
    event(&mut a, "dev", &["dev", "lobby", "ops"]);
    assert_eq!(a.room(), "dev");
    assert_eq!(
        a.panes.iter().map(|p| p.room.as_str()).collect::<Vec<_>>(),
        ["lobby", "dev", "ops"]
    );
    // A way back that could not enter one (too many rooms now, say): its pane goes at the end.
    a.reconnecting("server closed the connection", std::time::Duration::ZERO);
    a.reconnected("127.0.0.1:12345".into(), "guest1".into(), &greeting);
    assert_eq!(a.rejoin_lines().len(), 3);
    event(&mut a, "lobby", &["dev", "lobby"]);
    a.server_line(r#"{"type":"error","code":"too_many_rooms","text":"too many rooms (max 2)"}"#);
    assert_eq!(a.panes.len(), 3);
    event(&mut a, "dev", &["dev", "lobby"]);
    assert_eq!(
        a.panes.iter().map(|p| p.room.as_str()).collect::<Vec<_>>(),
        ["lobby", "dev"]
    );
    // In one room, there is nothing to rejoin.
    a.server_line(r#"{"type":"room","room":"dev","here":1,"rooms":["dev"],"left":"lobby"}"#);
    a.reconnected("127.0.0.1:12345".into(), "guest1".into(), &greeting);
    assert!(a.rejoin_lines().is_empty());
}
