//! The `chat` line client against a real chatd, in both server modes.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;

use common::{Mode, Server, chat, finish};

both_modes!(
    pipe_mode_sends_its_lines_and_exits_once_delivered,
    a_taken_name_keeps_the_servers_name,
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

fn a_taken_name_keeps_the_servers_name(mode: Mode) {
    let server = Server::start(mode);
    let mut first = server.client();
    first.send("/nick bot");
    first.expect("* you are now bot");
    let mut child = chat(server.addr.port(), &["--name", "BOT"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let out = finish(child);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("! name taken: BOT; you are guest2"),
        "{stdout}"
    );
    first.expect("* guest2 joined");
    first.expect("<guest2> hi");
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
