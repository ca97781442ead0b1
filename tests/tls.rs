//! TLS: a listener beside the plain one, the same chat inside, and handshakes that cost
//! nothing when they fail or stall. Both modes; certificates are made for the run.

mod common;

use std::io::BufRead;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::certs::Certs;
use common::{DEADLINE, Mode, Server, chat, finish};

both_modes!(
    tls_and_plain_clients_chat_both_ways,
    tls_only_with_no_plain,
    garbage_instead_of_a_handshake_is_closed_and_costs_no_one,
    a_stalled_handshake_is_closed_at_its_deadline,
    many_lines_both_ways_over_tls_arrive_whole,
    chat_connects_over_tls_and_refuses_bad_certificates,
    openssl_s_client_is_a_client_too,
    ncat_ssl_is_a_client_too,
    a_tls_client_that_stops_reading_is_dropped_and_costs_no_one,
);

fn start(mode: Mode, certs: &Certs, cert: &str, extra: &[&str]) -> Server {
    let mut args: Vec<String> = certs.server_args(cert);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(mode, &args)
}

/// Reads a raw connection until the server closes it; returns what came. Fails the test if it
/// stays open past [`DEADLINE`].
fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

fn tls_and_plain_clients_chat_both_ways(mode: Mode) {
    let certs = Certs::new();
    let server = start(mode, &certs, "server", &[]);
    assert_ne!(server.tls_addr, Some(server.addr));
    let mut plain = server.client();
    let mut tls = server.tls_client(&certs.ca_pem());
    plain.expect(&format!("* {} joined", tls.name));
    tls.send("hello from TLS");
    plain.expect(&format!("<{}> hello from TLS", tls.name));
    plain.send("hello from plain");
    tls.expect(&format!("<{}> hello from plain", plain.name));
    tls.send("/who");
    let who = tls.line();
    assert!(who.starts_with("* online in #lobby (2): "), "{who}");
    tls.send("/quit");
    tls.expect("* bye");
    assert!(tls.try_line().is_none(), "closed after its last line");
    plain.expect(&format!("* {} left", tls.name));
}

fn tls_only_with_no_plain(mode: Mode) {
    let certs = Certs::new();
    let server = start(mode, &certs, "server", &["--no-plain"]);
    assert_eq!(server.tls_addr, Some(server.addr));
    let mut tls = server.tls_client(&certs.ca_pem());
    tls.send("/who");
    assert!(tls.line().starts_with("* online in #lobby (1)"));
    // Plain text on the TLS port gets no chat.
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.write_all(b"hello\n").unwrap();
    let got = until_closed(&mut raw);
    assert!(
        !String::from_utf8_lossy(&got).contains("welcome"),
        "{got:?}"
    );
}

fn garbage_instead_of_a_handshake_is_closed_and_costs_no_one(mode: Mode) {
    let certs = Certs::new();
    let server = start(mode, &certs, "server", &[]);
    let ca = certs.ca_pem();
    let mut a = server.tls_client(&ca);
    let mut b = server.tls_client(&ca);
    a.expect(&format!("* {} joined", b.name));
    for garbage in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01][..],
        &[0u8; 4096][..],
    ] {
        let mut raw = TcpStream::connect(server.tls_addr.unwrap()).unwrap();
        raw.write_all(garbage).unwrap();
        let _ = raw.shutdown(std::net::Shutdown::Write);
        let got = until_closed(&mut raw);
        assert!(!String::from_utf8_lossy(&got).contains("welcome"));
    }
    // No one heard of them, and the chat goes on.
    b.send("still here");
    a.expect(&format!("<{}> still here", b.name));
    a.send("/who");
    assert!(a.line().starts_with("* online in #lobby (2): "));
}

fn a_stalled_handshake_is_closed_at_its_deadline(mode: Mode) {
    let certs = Certs::new();
    let server = start(mode, &certs, "server", &["--tls-handshake-timeout", "1"]);
    let addr = server.tls_addr.unwrap();
    let started = Instant::now();
    // Some silent, some with half a record header, then nothing: more of them than this
    // machine has cores, so that none of them may hold up the others' handshakes.
    let mut stalled: Vec<TcpStream> = (0..16)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap();
            if i % 2 == 1 {
                s.write_all(&[0x16, 0x03, 0x01]).unwrap();
            }
            s
        })
        .collect();
    // Meanwhile others come in at once.
    let ca = certs.ca_pem();
    let mut a = server.tls_client(&ca);
    let mut b = server.tls_client(&ca);
    a.expect(&format!("* {} joined", b.name));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "not held up"
    );
    for stalled in &mut stalled {
        until_closed(stalled);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "closed early: {took:?}");
        assert!(took < Duration::from_secs(5), "closed late: {took:?}");
    }
    b.send("after");
    a.expect(&format!("<{}> after", b.name));
}

fn many_lines_both_ways_over_tls_arrive_whole(mode: Mode) {
    let certs = Certs::new();
    let server = start(mode, &certs, "server", &["--msg-rate", "0"]);
    let mut plain = server.client();
    let mut tls = server.tls_client(&certs.ca_pem());
    plain.expect(&format!("* {} joined", tls.name));
    const N: usize = 3000;
    let filler = "x".repeat(200);
    let text: String = (0..N).map(|i| format!("{i} {filler}\n")).collect();
    tls.send_bytes(text.as_bytes());
    for i in 0..N {
        plain.expect(&format!("<{}> {i} {filler}", tls.name));
    }
    plain.send_bytes(text.as_bytes());
    for i in 0..N {
        tls.expect(&format!("<{}> {i} {filler}", plain.name));
    }
}

fn chat_connects_over_tls_and_refuses_bad_certificates(mode: Mode) {
    let certs = Certs::new();
    let ca = certs.ca_pem().display().to_string();
    let run = |server: &Server, args: &[&str]| {
        let port = server.tls_addr.unwrap().port();
        let mut child = chat(port, args).stdin(Stdio::piped()).spawn().unwrap();
        // A client that refuses the certificate may be gone before it reads this (EPIPE): what
        // counts is how it exits and what it says.
        let _ = child.stdin.take().unwrap().write_all(b"hello\n");
        finish(child)
    };
    let server = start(mode, &certs, "server", &[]);
    let mut watcher = server.client();
    let out = run(&server, &["--tls", "--tls-ca", &ca, "--name", "bob"]);
    assert!(out.status.success(), "{out:?}");
    watcher.expect_arrival("bob");
    watcher.expect("<bob> hello");

    let expired = start(mode, &certs, "expired", &[]);
    let out = run(&expired, &["--tls", "--tls-ca", &ca]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("tls") && stderr.contains("expired"),
        "{stderr}"
    );

    let untrusted = start(mode, &certs, "untrusted", &[]);
    let out = run(&untrusted, &["--tls", "--tls-ca", &ca]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("tls") && stderr.contains("issuer"),
        "{stderr}"
    );
    // Only when asked for by name (which asks for TLS: --tls may be left out).
    let out = run(&untrusted, &["--tls-insecure", "--name", "carol"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("* bye"));
    let out = run(&server, &["--tls-ca", &ca, "--name", "dave"]);
    assert!(out.status.success(), "{out:?}");
    // The wrong way round, each is told what is likely wrong.
    let out = run(&server, &["--name", "eve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("if this is a TLS port, try --tls"),
        "{stderr}"
    );
    let plain = server.addr.port();
    let mut child = chat(plain, &["--tls-insecure", "--name", "eve"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(b"hello\n");
    let out = finish(child);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("this is not a TLS server: leave out --tls"),
        "{stderr}"
    );
}

fn openssl_s_client_is_a_client_too(mode: Mode) {
    let certs = Certs::new();
    let ca = certs.ca_pem().display().to_string();
    external_client(mode, &certs, "openssl", |port| {
        [
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-servername",
            "localhost",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            &ca,
        ]
        .map(String::from)
        .to_vec()
    });
}

fn ncat_ssl_is_a_client_too(mode: Mode) {
    let certs = Certs::new();
    let ca = certs.ca_pem().display().to_string();
    external_client(mode, &certs, "ncat", |port| {
        [
            "--ssl",
            "--ssl-verify",
            "--ssl-trustfile",
            &ca,
            "localhost",
            &port.to_string(),
        ]
        .map(String::from)
        .to_vec()
    });
}

/// `program` with the arguments `args(port)` as a TLS client: it gets its welcome, what it
/// sends reaches a plain client, and what that one sends reaches it. Skipped (saying so) when
/// `program` is not installed; `.ci/run` installs it.
fn external_client(mode: Mode, certs: &Certs, program: &str, args: impl Fn(u16) -> Vec<String>) {
    if Command::new(program).arg("--version").output().is_err() {
        eprintln!("SKIPPED: {program} is not installed (.ci/run installs it)");
        return;
    }
    let server = start(mode, certs, "server", &[]);
    let mut watcher = server.client();
    let port = server.tls_addr.unwrap().port();
    let mut child = Command::new(program)
        .args(args(port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _child = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let welcome = rx
        .recv_timeout(DEADLINE)
        .expect("a welcome through the client");
    let name = common::welcome_name(&welcome);
    stdin
        .write_all(format!("hello from {program}\n").as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    watcher.expect(&format!("* {name} joined"));
    watcher.expect(&format!("<{name}> hello from {program}"));
    watcher.send(&format!("hello, {program}"));
    let until = Instant::now() + DEADLINE;
    let want = format!("<{}> hello, {program}", watcher.name);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("the line, through the client");
        if line == want {
            break;
        }
    }
}

fn a_tls_client_that_stops_reading_is_dropped_and_costs_no_one(mode: Mode) {
    let certs = Certs::new();
    let server = start(
        mode,
        &certs,
        "server",
        &["--max-backlog", "262144", "--msg-rate", "0"],
    );
    let ca = certs.ca_pem();
    let mut sender = server.tls_client(&ca);
    let mut reader = server.tls_client(&ca);
    // A TLS client with a tiny receive window, which never reads after its handshake.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&server.tls_addr.unwrap().into()).unwrap();
    let mut slow = common::tls_over(sock.into(), &ca);
    slow.speak_unread();
    reader.until(&format!("* {} joined", slow.name));
    sender.sync();
    reader.sync();
    let from = sender.name.clone();
    let line = "q".repeat(1000);
    // 8 MB through TLS: the slow client's buffers and backlog many times over. The sender
    // waits for the reader every WINDOW lines, so only the client that never reads falls behind.
    const LINES: usize = 8_000;
    const WINDOW: usize = 64;
    let mut slow_left = false;
    let mut next = 0;
    for i in 0..LINES {
        sender.send(&format!("{i} {line}"));
        if i % WINDOW == WINDOW - 1 || i == LINES - 1 {
            while next <= i {
                let got = reader.line();
                if got.ends_with(" left (too slow)") {
                    slow_left = true;
                    continue;
                }
                if got.ends_with(" joined") {
                    continue;
                }
                assert_eq!(got, format!("<{from}> {next} {line}"), "in order, whole");
                next += 1;
            }
        }
    }
    if !slow_left {
        let before = reader.sync();
        slow_left = before.iter().any(|l| l.ends_with(" left (too slow)"));
    }
    assert!(slow_left, "the client that stopped reading was not dropped");
    drop(slow);
}
