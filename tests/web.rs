//! The web listener over real sockets, in both concurrency models: the page, WebSocket clients
//! chatting with TCP ones (JSON events in, the command language out), and what a broken or
//! hostile browser or program can do to it: another origin, an oversized frame, a binary
//! frame, a stalled or garbage request, a WebSocket reader that stops reading.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::certs::Certs;
use common::{DEADLINE, Mode, Server};
use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

both_modes!(
    a_websocket_client_chats_with_tcp_clients,
    the_page_and_its_files_are_served,
    a_page_from_another_origin_is_refused,
    an_oversized_frame_is_refused_with_1009,
    a_binary_frame_gets_the_error_a_tcp_client_gets,
    pings_are_answered,
    a_stalled_or_garbage_request_is_closed_in_time,
    a_slow_websocket_reader_is_dropped_and_the_others_get_everything,
    the_web_port_speaks_tls_with_a_certificate,
    a_thousand_websocket_clients_beside_a_thousand_tcp_clients_lose_nothing,
    no_password_reaches_the_log_at_the_highest_level,
);

/// A WebSocket client of the chat.
struct Ws {
    ws: WebSocket<TcpStream>,
    name: String,
}

fn web(server: &Server) -> SocketAddr {
    server.web_addr.expect("a web listener")
}

/// Opens `/ws` with this `Origin` (none: as a program, not a browser).
fn ws_open(
    server: &Server,
    origin: Option<&str>,
) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let addr = web(server);
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    tungstenite::client::client(request, stream)
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
        })
}

impl Ws {
    /// A WebSocket client, past its welcome (a JSON event, as every line it gets).
    fn join(server: &Server) -> Ws {
        let addr = web(server);
        let origin = format!("http://{addr}");
        let ws = ws_open(server, Some(&origin)).expect("WebSocket handshake");
        let mut c = Ws {
            ws,
            name: String::new(),
        };
        let welcome = c.event();
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        c.name = welcome["name"].as_str().unwrap().to_string();
        c
    }

    fn send(&mut self, line: &str) {
        self.ws.send(Message::text(line)).unwrap();
    }

    /// The next message that is not a ping or pong.
    fn message(&mut self) -> Message {
        loop {
            match self.ws.read() {
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(m) => return m,
                Err(e) => panic!("{}: nothing within {DEADLINE:?}: {e}", self.name),
            }
        }
    }

    /// The next event.
    fn event(&mut self) -> Value {
        match self.message() {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"));
                assert!(v["type"].is_string() && v["time"].is_string(), "{t}");
                v
            }
            other => panic!("{}: not a text frame: {other:?}", self.name),
        }
    }

    /// The next event of `kind`, letting others go by (each within the deadline).
    fn expect(&mut self, kind: &str) -> Value {
        loop {
            let v = self.event();
            if v["type"] == kind {
                return v;
            }
            assert_ne!(
                v["type"], "error",
                "{} waited for {kind}, got {v}",
                self.name
            );
        }
    }
}

/// An HTTP request on a fresh connection; the whole answer (the server closes after it).
fn http_get(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .expect("closed within the deadline");
    String::from_utf8_lossy(&answer).into_owned()
}

fn a_websocket_client_chats_with_tcp_clients(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0"]);
    let mut c = server.client();
    let mut w = Ws::join(&server);
    c.expect_after_joins(&format!("* {} joined", w.name));
    c.send("hello browser");
    let chat = w.expect("chat");
    assert_eq!(
        (&chat["from"], &chat["text"]),
        (&c.name.as_str().into(), &"hello browser".into())
    );
    // A text frame is a line, in the same command language.
    w.send("hello nc");
    c.expect_after_joins(&format!("<{}> hello nc", w.name));
    w.send("/nick webby");
    let renamed = w.expect("rename");
    assert_eq!(
        (&renamed["new"], &renamed["you"]),
        (&"webby".into(), &true.into())
    );
    c.expect_after_joins(&format!("* {} is now webby", w.name));
    w.name = "webby".into();
    // Rooms and history with their times, as for anyone.
    c.send("/join dev");
    c.expect("* you are in #dev (1 here)");
    c.send("said in dev");
    c.sync();
    w.send("/join dev");
    let room = w.expect("room");
    assert_eq!((&room["room"], &room["here"]), (&"dev".into(), &2.into()));
    // (A WebSocket client reads JSON: it adds #dev to its rooms and stays in the lobby.)
    assert_eq!(room["rooms"], serde_json::json!(["dev", "lobby"]));
    let history = w.expect("history");
    assert_eq!(history["lines"][0]["text"], "said in dev");
    assert!(history["lines"][0]["time"].is_string());
    c.expect_after_joins("* webby joined");
    // A private message, both ways.
    c.send("/msg webby psst");
    let private = w.expect("private");
    assert_eq!(private["text"], "psst");
    w.send(&format!("/msg {} back", c.name));
    c.expect_after_joins("*webby* back");
    // Leaving is a leave for the others.
    w.ws.close(None).unwrap();
    c.expect_after_joins("* webby left");
}

fn the_page_and_its_files_are_served(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0"]);
    let page = http_get(web(&server), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("<html") && page.contains("/chat.js"));
    for path in ["/chat.js", "/chat.css"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let answer = http_get(web(&server), req.as_bytes());
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "{path}: {answer}"
        );
    }
    let missing = http_get(web(&server), b"GET /secret HTTP/1.1\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    // None of them is a client of the chat.
    let mut c = server.client();
    c.send("/who");
    assert_eq!(c.line(), format!("* online in #lobby (1): {}", c.name));
}

fn a_page_from_another_origin_is_refused(mode: Mode) {
    let log = std::env::temp_dir().join(format!(
        "chatd-web-origin-{}-{}.log",
        std::process::id(),
        mode.flag()
    ));
    let server = Server::start_logged(mode, &["--web-port", "0"], &log);
    match ws_open(&server, Some("https://evil.example")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Err(e) => panic!("refused, but not with 403: {e}"),
        Ok(_) => panic!("a page from another origin was let in"),
    }
    // Its own origin and an allowed one are let in.
    let allowed = Server::start_with(
        mode,
        &[
            "--web-port",
            "0",
            "--web-origin",
            "https://chat.example.org",
        ],
    );
    assert!(ws_open(&allowed, Some("https://chat.example.org")).is_ok());
    let own = format!("http://{}", web(&allowed));
    assert!(ws_open(&allowed, Some(&own)).is_ok());
    // The log says why.
    let until = Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("origin https://evil.example refused") {
            break;
        }
        assert!(Instant::now() < until, "no reason in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
    let _ = std::fs::remove_file(&log);
}

fn an_oversized_frame_is_refused_with_1009(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0", "--max-line", "100"]);
    let mut c = server.client();
    let mut w = Ws::join(&server);
    w.send("hello");
    c.expect_after_joins(&format!("<{}> hello", w.name));
    w.send(&"x".repeat(101));
    match w.message() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("not a close with 1009: {other:?}"),
    }
    c.expect_after_joins(&format!("* {} left", w.name));
    // A line at the limit is fine for the next one.
    let mut w2 = Ws::join(&server);
    w2.send(&"y".repeat(100));
    c.expect_after_joins(&format!("<{}> {}", w2.name, "y".repeat(100)));
}

fn a_binary_frame_gets_the_error_a_tcp_client_gets(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0"]);
    let mut c = server.client();
    let mut w = Ws::join(&server);
    w.ws.send(Message::binary(vec![0u8, 159, 146, 150]))
        .unwrap();
    let err = w.expect("error");
    assert_eq!(err["code"], "invalid_utf8");
    // Nothing of it reached anyone, and the connection goes on.
    w.send("still here");
    c.expect_after_joins(&format!("<{}> still here", w.name));
}

fn pings_are_answered(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0"]);
    let mut w = Ws::join(&server);
    w.ws.send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    loop {
        match w.ws.read().expect("a pong") {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"are you there");
                break;
            }
            Message::Text(_) => {} // a join, say
            other => panic!("{other:?}"),
        }
    }
}

fn a_stalled_or_garbage_request_is_closed_in_time(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0", "--tls-handshake-timeout", "1"]);
    let addr = web(&server);
    let mut stalled = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    stalled
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let start = Instant::now();
    // It costs the others nothing meanwhile.
    let mut a = server.client();
    let mut b = server.client();
    a.send("meanwhile");
    b.expect_after_joins(&format!("<{}> meanwhile", a.name));
    stalled.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    let garbage = http_get(addr, b"\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    // Nobody joined the chat from there.
    let who = a.sync_lines();
    assert!(
        who.last().unwrap().starts_with("* online in #lobby (2): "),
        "{who:?}"
    );
}

fn a_slow_websocket_reader_is_dropped_and_the_others_get_everything(mode: Mode) {
    let server = Server::start_with(
        mode,
        &[
            "--web-port",
            "0",
            "--max-backlog",
            "262144",
            "--msg-rate",
            "0",
        ],
    );
    let mut sender = server.client();
    let mut reader = Ws::join(&server);
    // A WebSocket client with a tiny receive window that reads its welcome, then nothing.
    let slow_sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow_sock.set_recv_buffer_size(4096).unwrap();
    slow_sock.connect(&web(&server).into()).unwrap();
    let stream: TcpStream = slow_sock.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let request = format!("ws://{}/ws", web(&server))
        .into_client_request()
        .unwrap();
    let (mut slow, _) = tungstenite::client::client(request, stream).expect("handshake");
    let welcome = slow.read().unwrap();
    let welcome: Value = serde_json::from_str(welcome.to_text().unwrap()).unwrap();
    let slow_name = welcome["name"].as_str().unwrap().to_string();
    // Its first words make it news, and its being dropped too.
    slow.send(Message::text("/who")).unwrap();
    loop {
        let v = reader.expect("join");
        if v["names"][0] == slow_name.as_str() {
            break;
        }
    }
    sender.sync();
    let from = sender.name.clone();
    let line = "p".repeat(1000);
    // 10 MB: the slow client's kernel buffers and its 256 KiB backlog many times over. The
    // sender waits for the reader every WINDOW lines, so only the client that never reads can
    // fall behind, however loaded the machine is.
    const LINES: usize = 10_000;
    const WINDOW: usize = 64;
    let (ack, acks) = std::sync::mpsc::channel::<()>();
    let mut writer = sender.stream().try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        for i in 0..LINES {
            if i % WINDOW == 0 && i > 0 {
                acks.recv_timeout(DEADLINE).expect("the reader stalled");
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
        let v = reader.event();
        match v["type"].as_str() {
            Some("chat") => {
                assert_eq!(v["from"], from.as_str());
                let text = v["text"].as_str().unwrap();
                if text == "done" {
                    break;
                }
                assert!(
                    text.starts_with(&format!("{next} ")),
                    "line {next} out of order: {text:.20}"
                );
                next += 1;
                if next % WINDOW == 0 {
                    let _ = ack.send(());
                }
            }
            Some("leave") => {
                assert_eq!(v["name"], slow_name.as_str());
                assert_eq!(v["reason"], "too slow");
                slow_left = true;
            }
            _ => {}
        }
    }
    writing.join().unwrap();
    assert_eq!(next, LINES, "every line, in order");
    assert!(
        slow_left,
        "the WebSocket client that never read was dropped"
    );
    drop(slow);
}

fn the_web_port_speaks_tls_with_a_certificate(mode: Mode) {
    let certs = Certs::new();
    let args = certs.server_args("server");
    // Only the web port over TLS (with the plain one for the nc client).
    let args: Vec<&str> = ["--web-port", "0"]
        .into_iter()
        .chain(args[2..].iter().map(String::as_str))
        .collect();
    let server = Server::start_with(mode, &args);
    let mut nc = server.client();
    let addr = web(&server);
    let config = chatd::tls::client_config(chatd::tls::Trust::Ca(&certs.ca_pem())).unwrap();
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls =
        rustls::StreamOwned::new(rustls::ClientConnection::new(config, name).unwrap(), stream);
    let mut request = format!("wss://localhost:{}/ws", addr.port())
        .into_client_request()
        .unwrap();
    let origin = format!("https://localhost:{}", addr.port());
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    let (mut ws, _) = tungstenite::client::client(request, tls).expect("wss handshake");
    let welcome: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(welcome["type"], "welcome");
    let who = welcome["name"].as_str().unwrap().to_string();
    ws.send(Message::text("over wss")).unwrap();
    nc.expect_after_joins(&format!("<{who}> over wss"));
    // The page over https, too.
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let config = chatd::tls::client_config(chatd::tls::Trust::Ca(&certs.ca_pem())).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls =
        rustls::StreamOwned::new(rustls::ClientConnection::new(config, name).unwrap(), stream);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut page = Vec::new();
    let _ = tls.read_to_end(&mut page);
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page:.200}");
}

fn a_thousand_websocket_clients_beside_a_thousand_tcp_clients_lose_nothing(mode: Mode) {
    let server = Server::start_with(mode, &["--web-port", "0", "--msg-rate", "0"]);
    // chatbench: clients 0..1000 over WebSocket (two of them senders), 1000..2000 over TCP;
    // every line to every other client, each once, in order.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatbench"))
        .args(["--port", &server.addr.port().to_string()])
        .args(["--web-port", &web(&server).port().to_string()])
        .args([
            "--ws", "1000", "-n", "2000", "-s", "2", "-m", "50", "--json",
        ])
        .args(["--settle-ms", "300", "--drain-timeout", "20"])
        .output()
        .expect("run chatbench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("chatbench's JSON");
    assert_eq!(report["connected"], 2000, "{report}");
    assert_eq!(report["admitted"], 2000, "{report}");
    assert_eq!(report["expected"], 2 * 50 * 1999, "{report}");
    assert_eq!(report["received"], report["expected"], "{report}");
    for key in ["lost", "duplicated", "out_of_order"] {
        assert_eq!(report[key], 0, "{key}: {report}");
    }
}

/// `chatd -vv` logs every line a client sends, and the crates under it their own details: no
/// password given over TCP or WebSocket (the server's, the operators') is in that log.
fn no_password_reaches_the_log_at_the_highest_level(mode: Mode) {
    let dir = std::env::temp_dir().join(format!("chatd-logsecret-{}-{mode:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pass, oper, log) = (dir.join("pass"), dir.join("oper"), dir.join("chatd.log"));
    std::fs::write(&pass, "Server-S3cret\n").unwrap();
    std::fs::write(&oper, "Oper-S3cret\n").unwrap();
    for f in [&pass, &oper] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    }
    let (p, o) = (pass.display().to_string(), oper.display().to_string());
    let args = [
        "-vv",
        "--web-port",
        "0",
        "--password-file",
        &p,
        "--oper-password-file",
        &o,
    ];
    let server = Server::start_logged(mode, &args, &log);
    let mut c = server.connect();
    c.expect("* password required: send /pass PASSWORD");
    c.send("/pass Wrong-S3cret");
    c.expect("! wrong password (2 tries left)");
    c.send("/pass Server-S3cret");
    assert!(c.line().starts_with("* welcome"));
    c.send("/oper Wrong-S3cret");
    c.expect("! wrong password");
    c.send("/OPER Oper-S3cret");
    c.expect("* you are now an operator");
    let addr = web(&server);
    let mut w = ws_open(&server, Some(&format!("http://{addr}"))).expect("WebSocket handshake");
    let next = |w: &mut WebSocket<TcpStream>| loop {
        if let Message::Text(t) = w.read().expect("an event") {
            return serde_json::from_str::<Value>(&t).unwrap();
        }
    };
    assert_eq!(next(&mut w)["code"], "password_required");
    w.send(Message::text("/pass Server-S3cret")).unwrap();
    assert_eq!(next(&mut w)["type"], "welcome");
    w.send(Message::text("/oper Oper-S3cret")).unwrap();
    loop {
        let v = next(&mut w);
        if v["type"] == "notice" && v["code"] == "operator" {
            break;
        }
    }
    c.send("/quit");
    c.until_closed();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("/OPER (arguments not logged)"),
        "the log is at its highest level and shows the command:\n{text}"
    );
    for secret in ["Server-S3cret", "Oper-S3cret", "Wrong-S3cret"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
