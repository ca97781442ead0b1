//! The operator's view over real sockets, in both concurrency models: `GET /metrics` on the web
//! port, read with a Prometheus text-format parser, against a known state; `GET /healthz`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::scrape::{get, scrape, value};
use common::{Client, DEADLINE, Mode, Server};

both_modes!(
    metrics_count_what_happened,
    healthz_says_the_server_accepts,
    the_log_names_each_connection_event_once,
);

const LINES: usize = 200;

fn metrics_count_what_happened(mode: Mode) {
    let server = Server::start_with(
        mode,
        &[
            "--web-port",
            "0",
            "--msg-rate",
            "0",
            "--max-backlog",
            "262144",
            "--max-line",
            "60000",
        ],
    );
    let web = server.web_addr.unwrap();
    let mut sender = server.client();
    let mut reader = server.client();
    // A client with a tiny receive window that never reads: dropped as too slow.
    let slow_sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow_sock.set_recv_buffer_size(4096).unwrap();
    slow_sock.connect(&server.addr.into()).unwrap();
    let mut slow = Client::new(slow_sock.into());
    slow.speak_unread();
    // And a WebSocket client (its handshake answered, it reads nothing more).
    let mut ws = TcpStream::connect_timeout(&web, DEADLINE).unwrap();
    ws.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    // In once its welcome has come (a WebSocket client's join takes its own thread in threads
    // mode); then it reads (and drops) what it gets, so that only the slow one is slow.
    ws.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = Vec::new();
    while !got.windows(9).any(|w| w == b"\"welcome\"") {
        let mut buf = [0u8; 4096];
        let n = ws.read(&mut buf).expect("a welcome within the deadline");
        assert!(n > 0, "closed before its welcome");
        got.extend_from_slice(&buf[..n]);
    }
    let mut ws_reader = ws.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(ws_reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    reader.until(&format!("* {} joined", slow.name));
    sender.sync();
    reader.sync();
    // 10 MB: more than the slow client's kernel buffers and its backlog can hold. The sender
    // waits for the reader every WINDOW lines, so only the client that never reads falls behind.
    let long = "m".repeat(50_000);
    const WINDOW: usize = 2;
    let (ack, acks) = std::sync::mpsc::channel::<()>();
    let mut writer = sender.stream().try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        for i in 0..LINES {
            if i % WINDOW == 0 && i > 0 {
                acks.recv_timeout(DEADLINE).expect("the reader stalled");
            }
            writer
                .write_all(format!("{i} {long}\n").as_bytes())
                .unwrap();
        }
    });
    let mut slow_left = false;
    let mut next = 0;
    while next < LINES {
        let line = reader.line();
        if line.ends_with(" left (too slow)") {
            slow_left = true;
        } else if line.starts_with('<') {
            assert!(line.starts_with(&format!("<{}> {next} ", sender.name)));
            next += 1;
            if next % WINDOW == 0 {
                let _ = ack.send(());
            }
        }
    }
    writing.join().unwrap();
    if !slow_left {
        loop {
            if reader.line().ends_with(" left (too slow)") {
                break;
            }
        }
    }
    // The dropped client counts until its socket is gone (threads mode's reaper lets it
    // linger a moment): scraped until it is.
    let until = std::time::Instant::now() + DEADLINE;
    let s = loop {
        let s = scrape(web);
        let tcp = value(&s, "chatd_clients_connected", Some(("transport", "tcp")));
        if tcp == 2.0 || std::time::Instant::now() > until {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        value(&s, "chatd_clients_connected", Some(("transport", "tcp"))),
        2.0
    );
    assert_eq!(
        value(
            &s,
            "chatd_clients_connected",
            Some(("transport", "websocket"))
        ),
        1.0
    );
    assert_eq!(
        value(&s, "chatd_clients_connected", Some(("transport", "tls"))),
        0.0
    );
    assert_eq!(value(&s, "chatd_lines_received_total", None), LINES as f64);
    let deliveries = value(&s, "chatd_deliveries_total", None);
    // Every line to the reader and the WebSocket client, and to the slow one until dropped.
    let lines = LINES as f64;
    assert!(
        (2.0 * lines..3.0 * lines).contains(&deliveries),
        "{deliveries}"
    );
    assert_eq!(
        value(
            &s,
            "chatd_clients_dropped_total",
            Some(("reason", "too_slow"))
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "chatd_clients_dropped_total",
            Some(("reason", "flooding"))
        ),
        0.0
    );
    assert!(value(&s, "chatd_sent_bytes_total", None) >= 2.0 * lines * 50_000.0);
    assert_eq!(value(&s, "chatd_rooms", None), 1.0);
    assert_eq!(value(&s, "chatd_cluster_link_up", None), 0.0);
    let build = s
        .samples
        .iter()
        .find(|x| x.metric == "chatd_build_info")
        .unwrap();
    assert_eq!(build.labels.get("mode"), Some(mode.flag()));
    assert!(value(&s, "chatd_uptime_seconds", None) > 0.0);
    drop((slow, ws));
}

fn healthz_says_the_server_accepts(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0"]);
    let (status, body) = get(server.web_addr.unwrap(), "/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "ok\n");
}

/// At info, a scrape is no client (nothing logged), a connection turned away by a limit is
/// logged as refused, with why, and a client's arrival and departure once each.
fn the_log_names_each_connection_event_once(mode: Mode) {
    let dir = std::env::temp_dir().join(format!("chatd-logevents-{}-{mode:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("chatd.log");
    let args = ["--web-port", "0", "--max-per-ip", "1", "--exempt", "none"];
    let server = Server::start_logged(mode, &args, &log);
    let web = server.web_addr.unwrap();
    scrape(web);
    scrape(web);
    let mut client = server.client();
    let mut refused = server.connect();
    assert_eq!(
        refused.until_closed(),
        ["! too many connections from your address"]
    );
    client.send("/quit");
    client.until_closed();
    let until = std::time::Instant::now() + DEADLINE;
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("disconnected (client") {
            break text;
        }
        assert!(
            std::time::Instant::now() < until,
            "no departure logged:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let count = |what: &dyn Fn(&str) -> bool| text.lines().filter(|l| what(l)).count();
    let arrivals = count(&|l| l.contains(" connected (client"));
    let departures = count(&|l| l.contains(" disconnected (client"));
    let refusals = count(&|l| l.contains("refused") && l.contains("too many connections"));
    assert_eq!(
        (arrivals, departures, refusals),
        (1, 1, 1),
        "the log:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
