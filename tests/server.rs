//! chatd's observable behaviour, over real sockets, in both concurrency modes.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{Client, Mode, Server, chatd};

both_modes!(
    relays_to_every_other_client_and_not_to_the_sender,
    a_line_sent_in_fragments_arrives_whole,
    concurrent_senders_are_received_exactly_once_in_order,
    five_hundred_clients_all_get_every_line,
    join_leave_and_rename_notices,
    who_msg_me_help_and_quit,
    command_errors_go_to_the_sender_only,
    an_overlong_line_is_refused_and_memory_stays_bounded,
    invalid_utf8_is_refused_and_not_relayed,
    terminal_escapes_never_reach_other_clients,
    a_slow_consumer_is_dropped_and_the_others_keep_receiving,
    clients_over_max_clients_are_told_server_full,
    a_burst_of_1000_connects_is_admitted_at_once,
    abrupt_resets_mid_traffic_disturb_no_one,
    a_half_closed_clients_last_line_is_delivered,
    what_a_client_is_told_before_its_input_ends_is_written,
    shutdown_tells_clients_and_exits_zero,
    a_stop_ends_once_every_goodbye_is_delivered,
    a_busy_port_is_a_clear_error,
    a_closed_stdout_does_not_stop_the_server,
    ipv6_loopback_works,
);

fn relays_to_every_other_client_and_not_to_the_sender(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(3);
    c[0].send("hello, room");
    let from = c[0].name.clone();
    c[1].expect(&format!("<{from}> hello, room"));
    c[2].expect(&format!("<{from}> hello, room"));
    assert_eq!(
        c[0].sync(),
        Vec::<String>::new(),
        "the sender got its own line back"
    );
    c[1].send("");
    c[1].send("   ");
    let (actor, observer) = Client::pair(&mut c, 1, 2);
    assert_eq!(
        observer.sync_with(actor),
        Vec::<String>::new(),
        "empty lines are not relayed"
    );
}

fn a_line_sent_in_fragments_arrives_whole(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    // Separate segments (nodelay, a pause between writes), the newline last and alone.
    for part in ["he", "llo wo", "rld\r", "\nsecond ", "line\n"] {
        c[0].send_bytes(part.as_bytes());
        thread::sleep(Duration::from_millis(20));
    }
    let from = c[0].name.clone();
    c[1].expect(&format!("<{from}> hello world"));
    c[1].expect(&format!("<{from}> second line"));
    // Several lines in one segment are split.
    c[0].send_bytes(b"one\ntwo\r\nthree\n");
    for word in ["one", "two", "three"] {
        c[1].expect(&format!("<{from}> {word}"));
    }
}

/// Every receiver checks that each sender's lines arrive once each, in order, none missing.
fn check_all_received(rx: &mut Client, senders: &HashMap<String, usize>, per_sender: usize) {
    let mut next: HashMap<String, usize> = HashMap::new();
    let expected: usize = senders.iter().filter(|(n, _)| **n != rx.name).count() * per_sender;
    let mut got = 0;
    while got < expected {
        let line = rx.line();
        let Some(rest) = line.strip_prefix('<') else {
            continue;
        };
        let (name, text) = rest.split_once("> ").expect("chat line");
        assert_ne!(name, rx.name, "got its own line");
        let seq: usize = text
            .strip_prefix("msg ")
            .and_then(|s| s.parse().ok())
            .expect(&line);
        let want = next.entry(name.to_string()).or_insert(0);
        assert_eq!(
            seq, *want,
            "{}: from {name}, out of order or duplicated",
            rx.name
        );
        *want += 1;
        got += 1;
    }
    for (name, _) in senders.iter().filter(|(n, _)| **n != rx.name) {
        assert_eq!(
            next.get(name),
            Some(&per_sender),
            "{}: lines from {name} missing",
            rx.name
        );
    }
}

fn concurrent_senders_are_received_exactly_once_in_order(mode: Mode) {
    const SENDERS: usize = 20;
    const LINES: usize = 200;
    let server = Server::start_with(mode, &["--msg-rate", "0"]);
    let clients = server.clients(SENDERS);
    let names: HashMap<String, usize> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    let start = Arc::new(Barrier::new(SENDERS));
    let handles: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let (start, names) = (Arc::clone(&start), names.clone());
            let mut writer = c.stream().try_clone().unwrap();
            thread::spawn(move || {
                start.wait();
                let sender = thread::spawn(move || {
                    // Many lines per write, so lines straddle segments on the way in.
                    let mut batch = String::new();
                    for seq in 0..LINES {
                        batch.push_str(&format!("msg {seq}\n"));
                        if seq % 7 == 6 {
                            writer.write_all(batch.as_bytes()).unwrap();
                            batch.clear();
                        }
                    }
                    writer.write_all(batch.as_bytes()).unwrap();
                });
                check_all_received(&mut c, &names, LINES);
                sender.join().unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a receiver failed");
    }
}

fn five_hundred_clients_all_get_every_line(mode: Mode) {
    let server = Server::start(mode);
    let mut clients: Vec<Client> = (0..500).map(|_| server.client()).collect();
    let mut sender = server.client();
    for i in 0..10 {
        sender.send(&format!("line {i}"));
    }
    let from = sender.name.clone();
    for c in &mut clients {
        let mut seen = 0;
        while seen < 10 {
            let line = c.line();
            if line.starts_with('<') {
                assert_eq!(line, format!("<{from}> line {seen}"));
                seen += 1;
            }
        }
    }
}

fn join_leave_and_rename_notices(mode: Mode) {
    let server = Server::start(mode);
    let mut a = server.client();
    assert_eq!(a.name, "guest1");
    let mut b = server.connect();
    b.expect("* welcome guest2, 2 online; type /help for commands");
    a.expect("* guest2 joined");
    b.send("/nick Bob");
    b.expect("* you are now Bob");
    a.expect("* guest2 is now Bob");
    b.send("hi");
    a.expect("<Bob> hi");
    drop(b);
    a.expect("* Bob left");
}

fn who_msg_me_help_and_quit(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(3);
    c[0].send("/nick ann");
    c[0].expect("* you are now ann");
    c[1].expect("* guest1 is now ann");
    c[2].expect("* guest1 is now ann");
    c[1].send("/who");
    c[1].expect("* online in #lobby (3): ann, guest2, guest3");
    c[0].send("/msg GUEST3 just for you");
    c[2].expect("*ann* just for you");
    let (actor, observer) = Client::pair(&mut c, 0, 1);
    assert_eq!(
        observer.sync_with(actor),
        Vec::<String>::new(),
        "a private message leaked"
    );
    c[0].send("/me waves");
    c[1].expect("* ann waves");
    c[2].expect("* ann waves");
    c[0].send("/help");
    c[0].expect(&format!("* {}", chatd::command::HELP));
    c[0].send("//slash at the start");
    c[1].expect("<ann> /slash at the start");
    c[2].expect("<ann> /slash at the start");
    c[0].send("/quit off to lunch");
    c[0].expect("* bye");
    assert_eq!(c[0].until_closed(), Vec::<String>::new());
    c[1].expect("* ann left (off to lunch)");
    c[2].expect("* ann left (off to lunch)");
}

fn command_errors_go_to_the_sender_only(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    let cases = [
        (
            "/frobnicate now",
            "! unknown command: /frobnicate (try /help)",
        ),
        ("/nick", "! usage: /nick NAME"),
        ("/nick two words", "! usage: /nick NAME"),
        (
            "/nick b@d",
            "! invalid name: b@d (1 to 32 letters, digits, _ or -)",
        ),
        (
            &format!("/nick {}", "x".repeat(33)),
            &format!(
                "! invalid name: {} (1 to 32 letters, digits, _ or -)",
                "x".repeat(33)
            ),
        ),
        ("/nick GUEST2", "! name taken: GUEST2"),
        ("/msg nobody hello", "! no such user: nobody"),
        ("/msg guest2", "! usage: /msg NAME TEXT"),
        ("/me", "! usage: /me TEXT"),
    ];
    for (send, want) in cases {
        c[0].send(send);
        c[0].expect(want);
    }
    let (actor, observer) = Client::pair(&mut c, 0, 1);
    assert_eq!(
        observer.sync_with(actor),
        Vec::<String>::new(),
        "an error reached another client"
    );
}

fn an_overlong_line_is_refused_and_memory_stays_bounded(mode: Mode) {
    let server = Server::start_with(mode, &["--max-line", "100"]);
    let mut c = server.clients(2);
    let from = c[0].name.clone();
    c[0].send(&"x".repeat(100));
    c[1].expect(&format!("<{from}> {}", "x".repeat(100)));
    c[0].send_bytes("y".repeat(60).as_bytes());
    c[0].send_bytes("y".repeat(60).as_bytes());
    c[0].send_bytes(b"tail of the long line\nnext\n");
    c[0].expect("! line too long (max 100 bytes)");
    c[1].expect(&format!("<{from}> next"));
    // 64 MiB without a newline: one error, and the server's memory does not follow.
    let before = server.rss_kib();
    let chunk = vec![b'z'; 1 << 20];
    for _ in 0..64 {
        c[0].send_bytes(&chunk);
    }
    c[0].send_bytes(b"\nstill usable\n");
    c[0].expect("! line too long (max 100 bytes)");
    c[1].expect(&format!("<{from}> still usable"));
    let after = server.rss_kib();
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

fn invalid_utf8_is_refused_and_not_relayed(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    c[0].send_bytes(b"caf\xe9 au lait\n\xff\xfe\n");
    c[0].expect("! invalid UTF-8, line not relayed");
    c[0].expect("! invalid UTF-8, line not relayed");
    let (actor, observer) = Client::pair(&mut c, 0, 1);
    assert_eq!(observer.sync_with(actor), Vec::<String>::new());
    c[0].send("café ok 👋");
    let from = c[0].name.clone();
    c[1].expect(&format!("<{from}> café ok 👋"));
}

fn terminal_escapes_never_reach_other_clients(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(2);
    c[0].send_bytes(b"\x1b[2J\x1b]0;pwned\x07clear\x08\x7f \xc2\x9b31m\tred\x1bc\n");
    c[0].send("/me \x1b[5mblinks");
    // Controls are stripped from the whole line before it is read as a command.
    c[0].send("/nick ev\x1bil");
    c[0].expect("* you are now evil");
    let from = c[0].name.clone();
    c[1].expect(&format!("<{from}> [2J]0;pwnedclear 31m\tredc"));
    c[1].expect(&format!("* {from} [5mblinks"));
    c[1].expect(&format!("* {from} is now evil"));
}

fn a_slow_consumer_is_dropped_and_the_others_keep_receiving(mode: Mode) {
    let server = Server::start_with(mode, &["--max-backlog", "262144", "--msg-rate", "0"]);
    let mut sender = server.client();
    let mut reader = server.client();
    // A client with a tiny receive window that never reads.
    let slow_sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow_sock.set_recv_buffer_size(4096).unwrap();
    slow_sock.connect(&server.addr.into()).unwrap();
    let mut slow = Client::new(slow_sock.into());
    slow.speak_unread();
    reader.until(&format!("* {} joined", slow.name));
    sender.sync();
    reader.sync();
    let from = sender.name.clone();
    let line = "p".repeat(1000);
    // 20 MB: the slow client's kernel buffers and its 256 KiB backlog many times over. The
    // sender waits for the reader every WINDOW lines, so only the client that never reads can
    // fall behind, however loaded the machine is.
    const LINES: usize = 20_000;
    const WINDOW: usize = 64;
    let (ack, acks) = std::sync::mpsc::channel::<()>();
    let mut writer = sender.stream().try_clone().unwrap();
    let writing = thread::spawn(move || {
        for i in 0..LINES {
            if i % WINDOW == 0 && i > 0 {
                acks.recv_timeout(common::DEADLINE)
                    .expect("the reader stalled");
            }
            writer
                .write_all(format!("{i} {line}\n").as_bytes())
                .unwrap();
        }
        writer.write_all(b"done\n").unwrap();
    });
    let mut slow_left = false;
    let mut next = 0;
    loop {
        let got = reader.line();
        if got == format!("<{from}> done") {
            break;
        }
        if got.ends_with(" left (too slow)") {
            slow_left = true;
            continue;
        }
        // The slow client's join may be announced after the syncs above (threads mode
        // announces an accept batch once it is taken): it is not what this test is about.
        if got.ends_with(" joined") {
            continue;
        }
        let seq: usize = got
            .strip_prefix(&format!("<{from}> "))
            .and_then(|r| r.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("unexpected {got:.80}"));
        assert_eq!(seq, next, "the reader lost or reordered lines");
        next += 1;
        if next % WINDOW == 0 {
            let _ = ack.send(());
        }
    }
    writing.join().unwrap();
    assert_eq!(next, LINES);
    assert!(slow_left, "the slow client was never dropped");
    drop(slow);
}

fn clients_over_max_clients_are_told_server_full(mode: Mode) {
    let server = Server::start_with(mode, &["--max-clients", "3"]);
    let mut c = server.clients(3);
    let mut extra = server.connect();
    assert_eq!(extra.until_closed(), ["! server full"]);
    assert_eq!(
        c[0].sync(),
        Vec::<String>::new(),
        "the refused client was announced"
    );
    drop(c.pop());
    c[0].line(); // its leave notice
    let mut now_fits = server.client();
    now_fits.send("made it");
    assert!(c[0].line().ends_with("joined"));
    assert_eq!(c[0].line(), format!("<{}> made it", now_fits.name));
}

/// Threads mode only (poll mode starts no thread per client): it never starts more client
/// threads than `--max-threads` (by default what the system allows: past `vm.max_map_count`
/// the process would abort), one per client with an eighth kept for writers, and tells the
/// client over it `! server full`.
#[test]
fn threads_mode_refuses_clients_past_its_thread_limit() {
    // 3 threads: 3 clients (3 / 8 rounds down to no thread kept for writers).
    let server = Server::start_with(Mode::Threads, &["--max-threads", "3"]);
    let mut c = server.clients(3);
    let mut extra = server.connect();
    assert_eq!(extra.until_closed(), ["! server full"]);
    assert_eq!(c[0].sync(), Vec::<String>::new());
    c[1].send("still here");
    assert_eq!(c[0].line(), format!("<{}> still here", c[1].name));
}

fn a_burst_of_1000_connects_is_admitted_at_once(mode: Mode) {
    const N: usize = 1000;
    let server = Server::start(mode);
    let addr = server.addr;
    let go = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let go = Arc::clone(&go);
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    go.wait();
                    // A dropped SYN (listen queue full) is retried after 1 s: fail before that.
                    let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(900))
                        .expect("connect within 900 ms");
                    let mut c = Client::new(stream);
                    let welcome = c.line();
                    assert!(welcome.starts_with("* welcome guest"), "{welcome}");
                    c
                })
                .unwrap()
        })
        .collect();
    let mut clients: Vec<Client> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut last = server.client();
    assert_eq!(last.name, format!("guest{}", N + 1));
    last.send("/who");
    let who = last.line();
    assert!(
        who.starts_with(&format!("* online in #lobby ({}): ", N + 1)),
        "{who:.80}"
    );
    // And the room works: everyone hears the latecomer.
    last.send("hello all");
    for c in clients.iter_mut().step_by(50) {
        let got = loop {
            let l = c.line();
            if !l.ends_with(" joined") {
                break l;
            }
        };
        assert_eq!(got, format!("<{}> hello all", last.name));
    }
}

fn abrupt_resets_mid_traffic_disturb_no_one(mode: Mode) {
    let server = Server::start_with(mode, &["--msg-rate", "0"]);
    let mut c = server.clients(6);
    let from = c[0].name.clone();
    let mut sender = c.remove(0);
    let mut victims: Vec<Client> = c.drain(2..).collect();
    let mut writer = sender.stream().try_clone().unwrap();
    let writing = thread::spawn(move || {
        for i in 0..2000 {
            writer.write_all(format!("m {i}\n").as_bytes()).unwrap();
        }
        writer.write_all(b"end\n").unwrap();
    });
    // Half the victims reset with unread data, half after sending a partial line.
    for (i, v) in victims.drain(..).enumerate() {
        if i % 2 == 0 {
            v.send_bytes_then_reset(b"half a li");
        } else {
            v.reset();
        }
    }
    writing.join().unwrap();
    for rx in &mut c {
        let mut next = 0;
        let mut left = 0;
        loop {
            let line = rx.line();
            if line == format!("<{from}> end") {
                break;
            }
            if line.ends_with(" left") {
                left += 1;
                continue;
            }
            assert_eq!(line, format!("<{from}> m {next}"));
            next += 1;
        }
        assert_eq!(next, 2000);
        while left < 3 {
            assert!(rx.line().ends_with(" left"));
            left += 1;
        }
    }
    assert_eq!(
        sender
            .sync()
            .iter()
            .filter(|l| l.ends_with(" left"))
            .count(),
        3
    );
}

fn a_half_closed_clients_last_line_is_delivered(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.clients(3);
    let (a, b) = (c[0].name.clone(), c[1].name.clone());
    c[0].send_bytes(b"my last words\n");
    c[0].shutdown_write();
    c[1].send_bytes(b"no newline at the end");
    c[1].shutdown_write();
    let mut got = vec![c[2].line(), c[2].line(), c[2].line(), c[2].line()];
    got.sort();
    assert_eq!(
        got,
        [
            format!("* {a} left"),
            format!("* {b} left"),
            format!("<{a}> my last words"),
            format!("<{b}> no newline at the end"),
        ]
    );
}

/// `printf '/help\n/quit' | nc -q 1 HOST PORT`: its input ends right after its last line;
/// the answers to both lines are written, then the connection closes. Likewise a client whose
/// last line is answered but does not close it.
fn what_a_client_is_told_before_its_input_ends_is_written(mode: Mode) {
    let server = Server::start(mode);
    for _ in 0..10 {
        let mut c = server.client();
        c.send_bytes(b"/limits\n/quit");
        c.shutdown_write();
        let lines = c.until_closed();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("* limits: "), "{lines:?}");
        assert_eq!(lines[1], "* bye");
        let mut d = server.client();
        d.send_bytes(b"/nick last_words\n/who");
        d.shutdown_write();
        let lines = d.until_closed();
        assert_eq!(lines[0], "* you are now last_words", "{lines:?}");
        assert!(lines[1].starts_with("* online in #lobby"), "{lines:?}");
    }
}

fn shutdown_tells_clients_and_exits_zero(mode: Mode) {
    let mut server = Server::start(mode);
    let mut c = server.clients(3);
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    for client in &mut c {
        assert_eq!(client.until_closed(), ["* server shutting down"]);
    }
}

fn a_stop_ends_once_every_goodbye_is_delivered(mode: Mode) {
    let dir = std::env::temp_dir().join(format!("chatd-stop-{}-{mode:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("chatd.log");
    // Clients that keep their side open (as an interactive nc does) and read: let go of as
    // soon as their goodbye is acknowledged, well before the drain time (2 s) ends. (The
    // span is the server's own, from its log: from the stop to the end.)
    let mut server = Server::start_logged(mode, &[], &log);
    let mut c = server.clients(3);
    assert!(server.stop().success());
    for client in &mut c {
        assert_eq!(client.until_closed(), ["* server shutting down"]);
    }
    let took = stop_span(&log);
    assert!(took < Duration::from_millis(1500), "the stop took {took:?}");
    // One that reads nothing while its socket is full is still owed lines: the stop waits
    // for it until the drain time ends.
    let mut server = Server::start_logged(mode, &["--msg-rate", "0"], &log);
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&server.addr.into()).unwrap();
    let mut talker = server.client();
    let line = format!("{}\n", "x".repeat(100));
    for _ in 0..20 {
        talker.send_bytes(line.repeat(100).as_bytes());
    }
    talker.sync();
    assert!(server.stop().success());
    let took = stop_span(&log);
    assert!(
        took >= Duration::from_millis(1900),
        "the stop took {took:?}"
    );
    drop(sock);
    let _ = std::fs::remove_dir_all(dir);
}

/// From the log's `stopping:` line to its `stopped;` line, by their time stamps
/// (`2026-11-30T01:48:29.478Z`).
fn stop_span(log: &std::path::Path) -> Duration {
    let said = std::fs::read_to_string(log).unwrap();
    let at = |what: &str| -> Duration {
        let line = said
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in {said}"));
        let time = &line[line.find('T').unwrap() + 1..line.find('Z').unwrap()];
        let parts: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
        Duration::from_secs_f64(parts[0] * 3600.0 + parts[1] * 60.0 + parts[2])
    };
    at("] stopped;").saturating_sub(at("stopping: telling"))
}

fn a_busy_port_is_a_clear_error(mode: Mode) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = chatd(mode, &["--port", &port])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("in use"), "{err}");
    let out = chatd(mode, &["--host", "not an address"])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on not an address:0"));
}

/// A script that reads the address and goes away (`chatd | head -1`) closes chatd's stdout
/// before the start-up lines are written; chatd must go on serving. Here its stdout is a pipe
/// closed before it starts, and the port is read from /proc.
fn a_closed_stdout_does_not_stop_the_server(mode: Mode) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = chatd(mode, &[])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_port_of(child.id());
    let connect = || {
        let s = TcpStream::connect_timeout(&addr, common::DEADLINE).unwrap();
        let mut c = Client::new(s);
        c.name = common::welcome_name(&c.line());
        c
    };
    let (mut a, mut b) = (connect(), connect());
    a.send("still here");
    b.expect_after_joins(&format!("<{}> still here", a.name));
    common::signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The 127.0.0.1 address process `pid` listens on, from /proc (its socket inodes matched
/// against /proc/net/tcp), waited for up to the deadline.
fn listening_port_of(pid: u32) -> std::net::SocketAddr {
    let until = std::time::Instant::now() + common::DEADLINE;
    loop {
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|link| {
                let link = link.to_string_lossy().into_owned();
                Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
            })
            .collect();
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
        for row in table.lines().skip(1) {
            let f: Vec<&str> = row.split_whitespace().collect();
            // local_address rem_address st ... inode (the 10th field)
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = u16::from_str_radix(f[1].rsplit(':').next().unwrap(), 16).unwrap();
                return std::net::SocketAddr::from(([127, 0, 0, 1], port));
            }
        }
        assert!(std::time::Instant::now() < until, "chatd did not listen");
        thread::sleep(Duration::from_millis(10));
    }
}

fn ipv6_loopback_works(mode: Mode) {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let server = Server::start_with(mode, &["--host", "::1"]);
    assert!(server.addr.is_ipv6());
    let mut c = server.clients(2);
    c[0].send("over v6");
    let from = c[0].name.clone();
    c[1].expect(&format!("<{from}> over v6"));
}

trait ResetExt {
    fn send_bytes_then_reset(self, bytes: &[u8]);
}

impl ResetExt for Client {
    fn send_bytes_then_reset(mut self, bytes: &[u8]) {
        self.send_bytes(bytes);
        self.reset();
    }
}
