//! The `chat` line client against a real chatd, in both server modes.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use common::cut::Cut;
use common::pty::Pty;
use common::{DEADLINE, Mode, Server, chat, finish, lines_of, until_output as until_line};

both_modes!(
    pipe_mode_sends_its_lines_and_exits_once_delivered,
    a_taken_name_asked_for_on_the_command_line_is_an_error,
    a_bad_name_or_room_is_refused_before_anything_is_sent,
    room_puts_the_client_in_a_room_first,
    a_refused_connection_is_one_clear_line,
    the_server_going_away_is_reported,
    the_line_client_comes_back_after_a_restart,
    a_replayed_history_is_not_shown_twice,
    back_in_another_room_it_shows_that_rooms_lines_once,
    the_password_is_asked_on_the_terminal_without_echo,
    the_tui_comes_back_after_a_restart,
    the_tui_is_in_several_rooms_and_comes_back_to_them,
    a_pipe_is_paced_at_the_server_rate_and_says_so,
    a_registered_name_is_asked_its_password_without_echo,
    a_registered_client_logs_back_in_after_a_restart,
);

/// Registers `name` with `password` on `server` through a plain client, which then quits.
fn register(server: &Server, name: &str, password: &str) {
    let mut c = server.client();
    c.send(&format!("/nick {name}"));
    c.expect(&format!("* you are now {name}"));
    c.send(&format!("/register {password}"));
    c.expect(&format!(
        "* {name} is registered: it is yours (/login {name} PASSWORD takes it back)"
    ));
    // Gone once `* bye` is read: the name is free for the client under test.
    c.send("/quit");
    c.until("* bye");
}

fn a_registered_name_is_asked_its_password_without_echo(mode: Mode) {
    let server = Server::start(mode);
    register(&server, "kim", "kims-secret");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args(["--port", &server.addr.port().to_string(), "--name", "kim"]);
    let mut pty = Pty::spawn(&mut cmd);
    pty.expect("Password for kim: ", DEADLINE);
    pty.type_text("kims-secret\n");
    pty.expect("logged in as kim", DEADLINE);
    assert!(
        !pty.text().contains("kims-secret"),
        "echoed: {}",
        pty.text()
    );
    pty.type_text("/who\n");
    pty.expect("* online in #lobby (1): kim", DEADLINE);
    // A wrong password: the client says why, and does not take the name.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args(["--port", &server.addr.port().to_string(), "--name", "kim"]);
    let mut wrong = Pty::spawn(&mut cmd);
    wrong.expect("Password for kim: ", DEADLINE);
    wrong.type_text("not-kims\n");
    wrong.expect("cannot be kim: wrong name or password", DEADLINE);
}

fn a_registered_client_logs_back_in_after_a_restart(mode: Mode) {
    let dir = common::TempDir::new(&format!("client-relogin-{mode:?}"));
    let (store, secret) = (dir.path("chatd.db"), dir.path("secret"));
    std::fs::write(&secret, "stays-mine\n").unwrap();
    let mut server = Server::start_with(mode, &["--store", &store]);
    let port = server.addr.port();
    register(&server, "stay", "stays-mine");
    let Running {
        child,
        mut stdin,
        stderr,
        ..
    } = running(
        port,
        &["--name", "stay", "--account-password-file", &secret],
    );
    assert!(server.stop().success());
    until_line(&stderr, |l| l.starts_with("! disconnected: "));
    let port_arg = port.to_string();
    let server = Server::start_with(mode, &["--port", &port_arg, "--store", &store]);
    let mut watcher = server.client();
    // Back as its account (the name is registered: only a login gives it).
    until_line(&stderr, |l| {
        l == format!("reconnected to {} as stay", server.addr)
    });
    stdin.write_all(b"still me\n").unwrap();
    until_watcher(&mut watcher, |l| l == "<stay> still me");
    drop(stdin);
    assert!(exited(child).success());
}

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
    watcher.expect_arrival("bot");
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
    let mut child = chat(server.addr.port(), &["--name", "stay", "--no-reconnect"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    watcher.expect_arrival("stay");
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

/// A line client started with `args` against `port`, its input a pipe the test writes and its
/// output read line by line, once it says it is connected.
struct Running {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
}

fn running(port: u16, args: &[&str]) -> Running {
    let mut child = chat(port, args).stdin(Stdio::piped()).spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    until_line(&stderr, |l| l.starts_with("connected to "));
    Running {
        child,
        stdin,
        stdout,
        stderr,
    }
}

fn the_line_client_comes_back_after_a_restart(mode: Mode) {
    let mut server = Server::start(mode);
    let port = server.addr.port();
    let Running {
        child,
        mut stdin,
        stderr,
        ..
    } = running(port, &["--name", "stay", "--room", "dev"]);
    assert!(server.stop().success());
    // Said at once.
    until_line(&stderr, |l| {
        l.starts_with("! disconnected: server closed the connection; reconnecting in ")
    });
    let server = Server::start_with(mode, &["--port", &port.to_string()]);
    let mut watcher = server.client();
    watcher.send("/join dev");
    until_watcher(&mut watcher, |l| l.starts_with("* you are in #dev"));
    // Back as the same name, in the same room.
    let said = until_line(&stderr, |l| {
        l == format!("reconnected to {} as stay", server.addr)
    });
    assert!(
        said.iter().all(|l| l.starts_with("! disconnected: ")),
        "{said:?}"
    );
    stdin.write_all(b"back again\n").unwrap();
    until_watcher(&mut watcher, |l| l == "<stay> back again");
    drop(stdin);
    assert!(exited(child).success());
}

/// Waits (bounded) for a child whose output is read elsewhere.
fn exited(mut child: std::process::Child) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("chat did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the watcher's lines until one satisfies `want` (each read has the client's deadline).
fn until_watcher(c: &mut common::Client, want: impl Fn(&str) -> bool) {
    while !want(&c.line()) {}
}

fn a_replayed_history_is_not_shown_twice(mode: Mode) {
    // A client silent for 2 s is closed: the line client's connection ends while the server
    // and the room's history stay.
    let server = Server::start_with(mode, &["--idle-timeout", "2"]);
    let Running {
        child,
        stdin,
        stdout,
        stderr,
    } = running(server.addr.port(), &["--name", "ana"]);
    let mut bob = server.client();
    bob.send("one");
    bob.send("two");
    until_line(&stdout, |l| l.ends_with("> two"));
    drop(bob);
    until_line(&stderr, |l| l.starts_with("reconnected to "));
    let mut carol = server.client();
    carol.send("three");
    carol.sync();
    drop(stdin);
    assert!(exited(child).success());
    // Everything it printed after "two", to its end.
    let mut shown = Vec::new();
    while let Ok(line) = stdout.recv_timeout(DEADLINE) {
        shown.push(line);
    }
    let count = |want: &str| shown.iter().filter(|l| l.ends_with(want)).count();
    assert_eq!(
        count("> one"),
        0,
        "shown before the reconnection already: {shown:?}"
    );
    assert_eq!(count("> two"), 0, "{shown:?}");
    assert_eq!(count("> three"), 1, "{shown:?}");
}

/// A line client in `#ops` loses its connection (cut on the way) and comes back: of the lobby
/// it passes through, nothing; of `#ops`, each line once, those said while it was away
/// included.
fn back_in_another_room_it_shows_that_rooms_lines_once(mode: Mode) {
    let server = Server::start(mode);
    let relay = Cut::to(server.addr);
    let mut carl = server.client();
    carl.send("lobby line one");
    carl.sync();
    let Running {
        child,
        stdin,
        stdout,
        stderr,
    } = running(relay.addr.port(), &["--name", "lobx", "--room", "ops"]);
    let mut ana = server.client();
    ana.send("/nick ana");
    ana.send("/join ops");
    ana.send("ops one");
    until_line(&stdout, |l| l == "<ana> ops one");
    relay.cut();
    until_line(&stderr, |l| l.starts_with("! disconnected: "));
    // Said while it is away (or, should it be back already, live).
    ana.send("ops two");
    carl.send("lobby line two");
    ana.sync();
    carl.sync();
    until_line(&stderr, |l| l.starts_with("reconnected to "));
    ana.send("ops three");
    let mut shown = until_line(&stdout, |l| l == "<ana> ops three");
    drop(stdin);
    assert!(exited(child).success());
    while let Ok(line) = stdout.recv_timeout(DEADLINE) {
        shown.push(line);
    }
    // Everything after "ops one", to its end.
    let count = |want: &str| shown.iter().filter(|l| *l == want).count();
    assert_eq!(count("<ana> ops one"), 0, "shown twice: {shown:?}");
    assert_eq!(count("<ana> ops two"), 1, "{shown:?}");
    assert!(
        shown.iter().all(|l| !l.contains("lobby line")),
        "the lobby's lines: {shown:?}"
    );
    assert!(
        shown.iter().all(|l| !l.starts_with("* history of #lobby")),
        "{shown:?}"
    );
}

fn the_password_is_asked_on_the_terminal_without_echo(mode: Mode) {
    let dir = std::env::temp_dir().join(format!("chatd-pty-pass-{}-{mode:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pass");
    std::fs::write(&file, "open sesame\n").unwrap();
    let server = Server::start_with(mode, &["--password-file", &file.display().to_string()]);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args(["--port", &server.addr.port().to_string(), "--name", "kim"]);
    let mut pty = Pty::spawn(&mut cmd);
    pty.expect("Password: ", DEADLINE);
    pty.type_text("open sesame\n");
    pty.expect("as kim", DEADLINE);
    assert!(
        !pty.text().contains("open sesame"),
        "echoed: {}",
        pty.text()
    );
    pty.type_text("/who\n");
    pty.expect("* online in #lobby (1): kim", DEADLINE);
    let _ = std::fs::remove_dir_all(dir);
}

fn the_tui_comes_back_after_a_restart(mode: Mode) {
    let mut server = Server::start(mode);
    let port = server.addr.port().to_string();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args(["--port", &port, "--name", "tui", "--room", "dev", "--tui"]);
    let mut pty = Pty::spawn(&mut cmd);
    pty.expect("#dev", DEADLINE);
    assert!(server.stop().success());
    // The screen says so, and stays.
    pty.expect("reconnecting in", DEADLINE);
    let server = Server::start_with(mode, &["--port", &port]);
    pty.expect("reconnected as tui", DEADLINE + Duration::from_secs(2));
    let mut watcher = server.client();
    watcher.send("/who dev");
    until_watcher(&mut watcher, |l| l == "* online in #dev (1): tui");
    // What it types reaches the room.
    watcher.send("/join dev");
    until_watcher(&mut watcher, |l| l.starts_with("* you are in #dev"));
    pty.type_text("hello from the tui\r");
    until_watcher(&mut watcher, |l| l == "<tui> hello from the tui");
    assert!(
        pty.child.try_wait().unwrap().is_none(),
        "it is still running"
    );
}

/// Asks `c`'s server `/who ROOM` until `name` is there, or fails after [`DEADLINE`].
fn until_in(c: &mut common::Client, room: &str, name: &str) {
    let until = std::time::Instant::now() + DEADLINE;
    loop {
        c.send(&format!("/who {room}"));
        let mut who = c.line();
        while !who.starts_with("* online in #") && !who.starts_with("! ") {
            who = c.line();
        }
        if who.starts_with(&format!("* online in #{room} "))
            && who.split([' ', ',']).any(|n| n == name)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "no {name} in #{room}: {who}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn the_tui_is_in_several_rooms_and_comes_back_to_them(mode: Mode) {
    let mut server = Server::start(mode);
    let port = server.addr.port().to_string();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args(["--port", &port, "--name", "tui", "--tui"]);
    let mut pty = Pty::spawn(&mut cmd);
    pty.expect("#lobby", DEADLINE);
    let mut watcher = server.client();
    until_in(&mut watcher, "lobby", "tui");
    // It adds #dev and stays in the lobby: the lobby's line counts as unread there.
    pty.type_text("/join dev\r");
    until_in(&mut watcher, "dev", "tui");
    until_in(&mut watcher, "lobby", "tui");
    pty.expect("2 #dev", DEADLINE);
    // (One word: the screen is redrawn in pieces, escape sequences between its words.)
    watcher.send("psst");
    pty.expect("1 #lobby (1)", DEADLINE);
    assert!(!pty.text().contains("psst"), "shown in #dev");
    // Alt+1 shows the lobby (and its line); what it types goes there.
    pty.type_text("\x1b1");
    pty.expect("psst", DEADLINE);
    pty.type_text("back in the lobby\r");
    until_watcher(&mut watcher, |l| l == "<tui> back in the lobby");
    // `/switch dev` makes #dev where its lines go.
    pty.type_text("/switch dev\r");
    let mut dev = server.client();
    dev.send("/join dev");
    until_watcher(&mut dev, |l| l.starts_with("* you are in #dev"));
    pty.type_text("to dev\r");
    until_watcher(&mut dev, |l| l == "<tui> to dev");
    drop((watcher, dev));
    // After a restart it is back in both, #dev where its lines go.
    assert!(server.stop().success());
    pty.expect("reconnecting in", DEADLINE);
    let server = Server::start_with(mode, &["--port", &port]);
    pty.expect("reconnected as tui", DEADLINE + Duration::from_secs(2));
    let mut watcher = server.client();
    until_in(&mut watcher, "lobby", "tui");
    until_in(&mut watcher, "dev", "tui");
    watcher.send("/join dev");
    until_watcher(&mut watcher, |l| l.starts_with("* you are in #dev"));
    pty.type_text("dev again\r");
    until_watcher(&mut watcher, |l| l == "<tui> dev again");
}

fn a_pipe_is_paced_at_the_server_rate_and_says_so(mode: Mode) {
    let server = Server::start_with(mode, &["--msg-rate", "20", "--msg-burst", "5"]);
    let mut watcher = server.client();
    let mut child = chat(server.addr.port(), &["--name", "piper"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: String = (0..45).map(|i| format!("line {i}\n")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = finish(child);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 5 at once; the 6th waits, with as many more behind it as the client has read of its
    // input by then (all 39, unless its reading thread lags: a loaded machine was seen to
    // have read 1).
    let said = stderr
        .lines()
        .find_map(|l| l.strip_prefix("sending paced at 20 lines a second: "))
        .unwrap_or_else(|| panic!("never said it paces: {stderr}"));
    let waiting: usize = said.split(' ').next().unwrap().parse().unwrap();
    assert!((1..=40).contains(&waiting), "{stderr}");
    assert!(stderr.ends_with("all lines sent\n"), "{stderr}");
    for i in 0..45 {
        until_watcher(&mut watcher, |l| l == format!("<piper> line {i}"));
    }
}
