//! JSON events (`/format json`) over real sockets, in both concurrency models: a JSON client
//! and `nc`-style text clients in one room, each getting its own form of the same events.

mod common;

use common::{Client, Mode, Server};
use serde_json::Value;

both_modes!(
    a_json_client_and_text_clients_share_a_room,
    a_forged_me_is_a_me_event,
    history_in_json_has_each_lines_time_and_id,
);

/// The next line, as a JSON event (with a type and a time).
fn event(c: &mut Client) -> Value {
    let line = c.line();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert!(v["type"].is_string() && v["time"].is_string(), "{line}");
    v
}

/// The next event that is not a join (others connecting).
fn event_after_joins(c: &mut Client) -> Value {
    loop {
        let v = event(c);
        if v["type"] != "join" {
            return v;
        }
    }
}

/// `c` switches to JSON.
fn to_json(c: &mut Client) {
    c.send("/format json");
    loop {
        let line = c.line();
        if line.starts_with('{') {
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["code"], "format", "{line}");
            return;
        }
    }
}

fn a_json_client_and_text_clients_share_a_room(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    to_json(&mut c[1]);
    let (text_name, json_name) = (c[0].name.clone(), c[1].name.clone());
    c[0].send("hello");
    let v = event_after_joins(&mut c[1]);
    assert_eq!(
        (&v["type"], &v["room"], &v["from"], &v["text"]),
        (
            &"chat".into(),
            &"lobby".into(),
            &text_name.as_str().into(),
            &"hello".into()
        )
    );
    // What a JSON client sends is the same command language, and text for the others.
    c[1].send("hi back");
    c[0].expect_after_joins(&format!("<{json_name}> hi back"));
    c[1].send("/who");
    let who = event_after_joins(&mut c[1]);
    assert_eq!(who["type"], "who");
    assert_eq!(who["names"].as_array().map(Vec::len), Some(2));
    // A newcomer's join, a rename, a move and a leave: each its own event.
    let mut d = server.client();
    let joined = event(&mut c[1]);
    assert_eq!(joined["type"], "join");
    assert_eq!(joined["names"][0], d.name.as_str());
    d.send("/nick dora");
    let renamed = event(&mut c[1]);
    assert_eq!(
        (&renamed["type"], &renamed["new"]),
        (&"rename".into(), &"dora".into())
    );
    d.send("/join dev");
    let moved = event(&mut c[1]);
    assert_eq!(
        (&moved["type"], &moved["from"], &moved["to"]),
        (&"move".into(), &"lobby".into(), &"dev".into())
    );
    c[0].send("/quit gone fishing");
    let left = event(&mut c[1]);
    assert_eq!(
        (&left["type"], &left["name"], &left["reason"]),
        (
            &"leave".into(),
            &text_name.as_str().into(),
            &"gone fishing".into()
        )
    );
    // An error has a code; and back to text.
    c[1].send("/nick bad name");
    let err = event(&mut c[1]);
    assert_eq!(
        (&err["type"], &err["code"]),
        (&"error".into(), &"usage".into())
    );
    c[1].send("/format text");
    assert_eq!(c[1].line(), "* format: text");
}

fn a_forged_me_is_a_me_event(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    to_json(&mut c[1]);
    c[0].send("/me is now admin");
    c[0].send("/me left");
    let sender = c[0].name.clone();
    let sender = sender.as_str();
    for text in ["is now admin", "left"] {
        let v = event_after_joins(&mut c[1]);
        assert_eq!(
            (&v["type"], &v["from"], &v["text"]),
            (&"me".into(), &sender.into(), &text.into())
        );
    }
    c[1].send("/who");
    let who = event(&mut c[1]);
    let names: Vec<&str> = who["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        names.contains(&sender) && !names.contains(&"admin"),
        "{names:?}"
    );
}

fn history_in_json_has_each_lines_time_and_id(mode: Mode) {
    let server = Server::start(mode);
    let mut a = server.client();
    a.send("first");
    a.send("/me second");
    a.sync();
    let mut b = server.client();
    to_json(&mut b);
    b.send("/history");
    let h = event(&mut b);
    assert_eq!(
        (&h["type"], &h["room"]),
        (&"history".into(), &"lobby".into())
    );
    let lines = h["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (&lines[0]["type"], &lines[0]["text"]),
        (&"chat".into(), &"first".into())
    );
    assert_eq!(
        (&lines[1]["type"], &lines[1]["text"]),
        (&"me".into(), &"second".into())
    );
    assert_ne!(lines[0]["id"], lines[1]["id"]);
    assert!(lines[0]["time"].as_str().unwrap() <= lines[1]["time"].as_str().unwrap());
    assert!(lines[0]["time"].as_str().unwrap() <= h["time"].as_str().unwrap());
}
