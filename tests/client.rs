//! The `chat` line client against a real chatd, in both server modes.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;

use common::{Mode, Server, chat, finish};

both_modes!(
    pipe_mode_sends_its_lines_and_exits_once_delivered,
    a_taken_name_asked_for_on_the_command_line_is_an_error,
    a_bad_name_or_room_is_refused_before_anything_is_sent,
    room_puts_the_client_in_a_room_first,
    a_refused_connection_is_one_clear_line,
    the_server_going_away_is_reported,
);

fn pipe_mode_sends_its_lines_and_exits_once_delivered(mode: Mode) {
    let server = Server::start(mode);
    let mut watcher = server.client();
    let mut child = chat(server.addr.port(), &["--name", "bot"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nsecond line\n")
        .unwrap();
    let out = finish(child);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("connected to {} as bot", server.addr)),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("* bye"));
    watcher.expect("* guest2 joined");
    watcher.expect("* guest2 is now bot");
    watcher.expect("<bot> hello");
    watcher.expect("<bot> second line");
    watcher.expect("* bot left");
}

fn a_taken_name_asked_for_on_the_command_line_is_an_error(mode: Mode) {
    let server = Server::start(mode);
    let mut first = server.client();
    first.send("/nick bot");
    first.expect("* you are now bot");
    let mut child = chat(server.addr.port(), &["--name", "BOT"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(b"hi\n"); // it may be gone (EPIPE)
    let out = finish(child);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "chat: cannot be BOT: name taken: BOT\n"
    );
    // It came and went, and said nothing.
    first.expect("* guest2 joined");
    first.expect("* guest2 left");
}

fn a_bad_name_or_room_is_refused_before_anything_is_sent(mode: Mode) {
    let server = Server::start(mode);
    let mut watcher = server.client();
    for (args, said) in [
        (
            ["--name", "bad name"],
            "chat: invalid name: \"bad name\" (1 to 32 letters, digits, _ or -)\n",
        ),
        (
            ["--room", "bad!room"],
            "chat: invalid room: \"bad!room\" (1 to 32 letters, digits, _ or -)\n",
        ),
    ] {
        let mut child = chat(server.addr.port(), &args)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        // It may be gone before it reads this (EPIPE): what counts is that it sent nothing.
        let _ = child.stdin.take().unwrap().write_all(b"z\n");
        let out = finish(child);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), said);
    }
    // Nobody came: the watcher's /who sees itself alone.
    let who = watcher.sync_lines();
    assert_eq!(
        who.last().unwrap(),
        &format!("* online in #lobby (1): {}", watcher.name)
    );
}

fn room_puts_the_client_in_a_room_first(mode: Mode) {
    let server = Server::start(mode);
    let mut dev = server.client();
    dev.send("/join dev");
    dev.expect("* you are in #dev (1 here)");
    dev.send("before the bot");
    dev.sync();
    let mut child = chat(server.addr.port(), &["--name", "bot", "--room", "#dev"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"in dev\n").unwrap();
    let out = finish(child);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = [
        "* you are in #dev (2 here)",
        "* history of #dev: 1 line",
        &format!("<{}> before the bot", dev.name),
        "* end of history",
    ]
    .join("\n");
    assert!(stdout.contains(&want), "{stdout}");
    dev.expect("* bot came from #lobby");
    dev.expect("<bot> in dev");
    dev.expect("* bot left");
}

fn a_refused_connection_is_one_clear_line(_mode: Mode) {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let out = finish(
        chat(port, &["--name", "x"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("cannot connect to 127.0.0.1:{port}: connection refused; is chatd running?\n")
    );
}

fn the_server_going_away_is_reported(mode: Mode) {
    let mut server = Server::start(mode);
    let mut watcher = server.client();
    // stdin stays open: the client is waiting for input when the server stops.
    let mut child = chat(server.addr.port(), &["--name", "stay"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    watcher.expect("* guest2 joined");
    watcher.expect("* guest2 is now stay");
    assert!(server.stop().success());
    let out = finish(child);
    drop(stdin);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).ends_with("server disconnected\n"),
        "{out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("* server shutting down"));
}
