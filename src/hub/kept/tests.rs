//! The hub's side of the store, without one: a fake keeper records what it is handed and
//! asked, and the tests answer (or do not) as the store thread would.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::super::{ClientId, Event, Hub, HubConfig, Line, Outbox};
use super::{ASK_WAIT, Ask, Found, Keep, Keeper, Page, Restored, RestoredRoom, StoredLine};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// What the hub asked the store: client, serial, room (`None`: a search).
type Asked = (ClientId, u64, Option<String>);

#[derive(Default)]
struct FakeStore {
    kept: RefCell<Vec<String>>,
    asked: RefCell<Vec<Asked>>,
    busy: bool,
}

impl Keeper for FakeStore {
    fn keep(&self, what: &Keep<'_>) {
        self.kept.borrow_mut().push(match *what {
            Keep::Line { room, id, text, .. } => format!("line {room} {id} {text}"),
            Keep::Topic { room, text, .. } => format!("topic {room} {text}"),
            Keep::Ban { ip, .. } => format!("ban {ip}"),
            Keep::Unban(ip) => format!("unban {ip}"),
            Keep::Account { name, .. } => format!("account {name}"),
            Keep::Unregistered(name) => format!("unregistered {name}"),
            Keep::AccountBan { name, secs } => format!("account ban {name} {secs}"),
            Keep::Waiting { to, from, text, .. } => format!("waiting {to} {from} {text}"),
            Keep::Delivered(name) => format!("delivered {name}"),
        });
    }
    fn ask(&self, what: &Ask<'_>) -> bool {
        if self.busy {
            return false;
        }
        self.asked.borrow_mut().push(match *what {
            Ask::Before {
                to, serial, room, ..
            } => (to, serial, Some(room.to_string())),
            Ask::Search { to, serial, .. } => (to, serial, None),
        });
        true
    }
}

#[derive(Default)]
struct Out {
    sent: Vec<(ClientId, String)>,
    closed: HashSet<ClientId>,
    store: FakeStore,
}

impl Outbox for Out {
    fn send(&mut self, to: ClientId, line: &Line) {
        assert!(!self.closed.contains(&to), "sent to closed client {to}");
        let text = String::from_utf8(line.to_vec()).unwrap();
        self.sent
            .push((to, text.trim_end_matches('\n').to_string()));
    }
    fn close(&mut self, who: ClientId) {
        self.closed.insert(who);
    }
    fn keeper(&self) -> Option<&dyn Keeper> {
        Some(&self.store)
    }
}

impl Out {
    fn take(&mut self, to: ClientId) -> Vec<String> {
        let (mine, rest) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(t, _)| *t == to);
        self.sent = rest;
        mine.into_iter().map(|(_, l): (_, String)| l).collect()
    }
    fn asked(&self) -> Asked {
        self.store.asked.borrow_mut().pop().expect("a question")
    }
}

/// The hub tests' settings, with history and a room limit, and no line rate to pace them.
fn config(max_rooms: usize) -> HubConfig {
    HubConfig {
        rate: 1000.0,
        burst: 1000.0,
        max_rooms,
        history: 5,
        ..super::super::tests::config()
    }
}

/// A hub with `n` clients (guest1.., ids 0..n) in the lobby, and what they were told cleared.
fn hub(n: usize, max_rooms: usize) -> (Hub, Out, Instant) {
    let now = Instant::now();
    let mut h = Hub::new(config(max_rooms), now);
    let mut out = Out::default();
    for id in 0..n {
        h.handle(Event::Connected(id, LOCAL), &mut out);
    }
    h.end_turn(&mut out);
    out.sent.clear();
    (h, out, now)
}

fn say(h: &mut Hub, out: &mut Out, id: ClientId, text: &str) {
    h.handle(Event::Line(id, text.as_bytes()), out);
    h.end_turn(out);
}

fn stored(id: u64, from: &str, text: &str) -> StoredLine {
    StoredLine {
        id,
        at: id * 1000,
        from: from.into(),
        me: false,
        text: text.into(),
    }
}

#[test]
fn lines_and_topics_are_handed_to_the_store() {
    let (mut h, mut out, _) = hub(2, 10);
    say(&mut h, &mut out, 0, "hello");
    say(&mut h, &mut out, 0, "/topic plans");
    assert_eq!(
        *out.store.kept.borrow(),
        ["line lobby 1 hello", "topic lobby plans"]
    );
}

#[test]
fn an_askers_later_lines_wait_for_the_answer_and_follow_it_in_order() {
    let (mut h, mut out, _) = hub(2, 10);
    say(&mut h, &mut out, 0, "/history before 40 2");
    let (to, serial, room) = out.asked();
    assert_eq!((to, room.as_deref()), (0, Some("lobby")));
    // Said while the store looks: held, not lost, not before the answer.
    say(&mut h, &mut out, 0, "first");
    say(&mut h, &mut out, 0, "second");
    assert!(out.take(1).is_empty(), "relayed before the answer");
    let page = Page {
        to,
        serial,
        room: "lobby".into(),
        before: 40,
        lines: vec![stored(38, "ana", "old one"), stored(39, "ana", "old two")],
        more: true,
    };
    h.handle(Event::Page(&page), &mut out);
    h.end_turn(&mut out);
    assert_eq!(
        out.take(0),
        [
            "* history of #lobby before 40: 2 lines",
            "<ana> old one",
            "<ana> old two",
            "* end of history; older: /history before 38",
        ]
    );
    assert_eq!(out.take(1), ["<guest1> first", "<guest1> second"]);
}

#[test]
fn a_store_that_does_not_answer_in_time_is_said_and_lines_go_on() {
    let (mut h, mut out, t0) = hub(2, 10);
    say(&mut h, &mut out, 0, "/search needle");
    let (to, serial, room) = out.asked();
    assert_eq!((to, room), (0, None));
    say(&mut h, &mut out, 0, "waiting");
    h.tick(t0 + ASK_WAIT - Duration::from_millis(1), &mut out);
    assert!(out.take(1).is_empty());
    h.tick(t0 + ASK_WAIT + Duration::from_millis(1), &mut out);
    h.end_turn(&mut out);
    assert_eq!(out.take(0), ["! the store did not answer in time"]);
    assert_eq!(out.take(1), ["<guest1> waiting"]);
    // The late answer is for no one now.
    let found = Found {
        to,
        serial,
        words: "needle".into(),
        lines: vec![("lobby".into(), stored(3, "ana", "a needle"))],
        failed: None,
    };
    h.handle(Event::Found(&found), &mut out);
    assert!(out.take(0).is_empty(), "a late answer was shown");
}

#[test]
fn an_answer_for_a_client_gone_is_not_given_to_the_next_one_with_its_id() {
    let (mut h, mut out, _) = hub(2, 10);
    say(&mut h, &mut out, 0, "/search needle");
    let (to, serial, _) = out.asked();
    h.handle(
        Event::Disconnected(0, super::super::Leave::Closed),
        &mut out,
    );
    // The driver gives the id to the next connection.
    out.closed.remove(&0);
    h.handle(Event::Connected(0, LOCAL), &mut out);
    h.end_turn(&mut out);
    out.sent.clear();
    let found = Found {
        to,
        serial,
        words: "needle".into(),
        lines: Vec::new(),
        failed: None,
    };
    h.handle(Event::Found(&found), &mut out);
    assert!(out.take(0).is_empty());
    // And the newcomer's lines are not held for it.
    say(&mut h, &mut out, 0, "hi");
    assert_eq!(out.take(1).len(), 1);
}

#[test]
fn a_busy_store_is_said_at_once_and_nothing_waits() {
    let (mut h, mut out, _) = hub(2, 10);
    out.store.busy = true;
    say(&mut h, &mut out, 0, "/history before 9");
    assert_eq!(out.take(0), ["! busy, try again"]);
    say(&mut h, &mut out, 0, "not held");
    assert_eq!(out.take(1), ["<guest1> not held"]);
}

#[test]
fn a_failed_search_is_an_error_and_lines_go_on() {
    let (mut h, mut out, _) = hub(2, 10);
    say(&mut h, &mut out, 0, "/search x");
    let (to, serial, _) = out.asked();
    say(&mut h, &mut out, 0, "after");
    let found = Found {
        to,
        serial,
        words: "x".into(),
        lines: Vec::new(),
        failed: Some("the search failed".into()),
    };
    h.handle(Event::Found(&found), &mut out);
    h.end_turn(&mut out);
    assert_eq!(out.take(0), ["! the search failed"]);
    assert_eq!(out.take(1), ["<guest1> after"]);
}

#[test]
fn a_restart_brings_back_what_chatd_could_have_made_and_no_more() {
    let now = Instant::now();
    let mut h = Hub::new(config(3), now);
    let mut out = Out::default();
    let room = |name: &str, topic: Option<&str>, lines: Vec<StoredLine>| RestoredRoom {
        name: name.into(),
        topic: topic.map(Into::into),
        lines,
    };
    let restored = Restored {
        rooms: vec![
            room("Dev", Some("release"), vec![stored(7, "ana", "ship it")]),
            room("bad name!", None, vec![stored(8, "ana", "x")]),
            room("ops", Some("two\nlines"), vec![stored(9, "a\nb", "x")]),
            room("over", None, vec![stored(10, "ana", "past the limit")]),
        ],
        bans: vec![(IpAddr::from([127, 0, 0, 9]), 60, "op".into())],
        said: 41,
        accounts: Vec::new(),
    };
    h.handle(Event::Restored(&restored), &mut out);
    // The lobby, #Dev and #ops: three rooms, the limit.
    assert_eq!(h.rooms(), 3);
    h.handle(Event::Connected(0, LOCAL), &mut out);
    h.end_turn(&mut out);
    out.sent.clear();
    say(&mut h, &mut out, 0, "/rooms");
    assert_eq!(out.take(0), ["* rooms (3): #Dev (0), #lobby (1), #ops (0)"]);
    say(&mut h, &mut out, 0, "/join dev");
    assert_eq!(
        out.take(0),
        [
            "* you are in #Dev (1 here)",
            "* topic of #Dev: release",
            "* history of #Dev: 1 line",
            "<ana> ship it",
            "* end of history",
        ]
    );
    // A topic or a line with a break in it is not shown as two lines.
    say(&mut h, &mut out, 0, "/join ops");
    assert_eq!(out.take(0), ["* you are in #ops (1 here)"]);
    // Ids go on from the counter.
    say(&mut h, &mut out, 0, "next");
    assert_eq!(out.store.kept.borrow().last().unwrap(), "line ops 42 next");
    // The ban holds.
    h.handle(Event::Connected(5, IpAddr::from([127, 0, 0, 9])), &mut out);
    assert!(out.take(5)[0].starts_with("! banned ("));
}

#[test]
fn at_the_room_limit_the_resting_room_with_the_oldest_line_makes_way() {
    let (mut h, mut out, _) = hub(1, 3);
    for room in ["old", "new"] {
        say(&mut h, &mut out, 0, &format!("/join {room}"));
        say(&mut h, &mut out, 0, &format!("said in {room}"));
    }
    say(&mut h, &mut out, 0, "/join lobby");
    out.sent.clear();
    // Both rest (they have lines); a third room takes the place of #old.
    say(&mut h, &mut out, 0, "/join third");
    assert_eq!(out.take(0), ["* you are in #third (1 here)"]);
    say(&mut h, &mut out, 0, "/rooms");
    assert_eq!(
        out.take(0),
        ["* rooms (3): #lobby (0), #new (0), #third (1)"]
    );
    // The lobby never makes way, nor a room someone is in: #new goes (its line is older
    // than #third's), whether the move out of #third is counted first or not.
    say(&mut h, &mut out, 0, "said in third");
    say(&mut h, &mut out, 0, "/join fourth");
    say(&mut h, &mut out, 0, "/rooms");
    let rooms = out.take(0).pop().unwrap();
    assert_eq!(rooms, "* rooms (3): #fourth (1), #lobby (0), #third (0)");
}
