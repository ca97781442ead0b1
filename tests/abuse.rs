//! Floods, idle and greedy clients, descriptor exhaustion: chatd holds, in both modes.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{Client, DEADLINE, Mode, Server};

both_modes!(
    lines_over_the_rate_are_paced_not_dropped,
    a_sustained_flooder_is_dropped_and_the_others_are_unaffected,
    a_silent_client_is_closed_when_idle_timeout_is_set,
    a_client_that_never_speaks_is_closed_at_the_first_line_deadline,
    connections_per_address_are_limited_when_asked,
    new_connections_per_address_are_paced,
    loopback_is_exempt_from_the_address_limits_by_default,
    only_the_ranges_given_are_exempt,
    the_defaults_refuse_an_address_17th_connection_and_its_flood,
    accepted_sockets_have_tcp_keepalive,
    descriptor_exhaustion_neither_spins_nor_kills_the_server,
    a_churn_of_short_connections_disturbs_no_one,
);

fn lines_over_the_rate_are_paced_not_dropped(mode: Mode) {
    let server = Server::start_with(mode, &["--msg-rate", "20", "--msg-burst", "5"]);
    let mut c = server.clients(2);
    let from = c[0].name.clone();
    let burst: String = (0..25).map(|i| format!("line {i}\n")).collect();
    let sent = Instant::now();
    c[0].send_bytes(burst.as_bytes());
    for i in 0..25 {
        c[1].expect(&format!("<{from}> line {i}"));
    }
    // 5 at once, then 20 more at 20 per second: the last cannot come before 1 s after they
    // were sent (a bound that a loaded machine only makes later, never earlier).
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "25 lines in {took:?}: not paced"
    );
    assert_eq!(
        c[0].sync(),
        Vec::<String>::new(),
        "a paced client is not told anything"
    );
}

fn a_sustained_flooder_is_dropped_and_the_others_are_unaffected(mode: Mode) {
    let server = Server::start_with(
        mode,
        &["--msg-rate", "20", "--msg-burst", "5", "--flood-after", "1"],
    );
    let mut c = server.clients(3);
    let mut flooder = c.remove(0);
    let flooder_name = flooder.name.clone();
    let mut writer = flooder.stream().try_clone().unwrap();
    let flooding = thread::spawn(move || {
        let until = Instant::now() + DEADLINE;
        let mut i = 0u64;
        while Instant::now() < until {
            let batch: String = (i..i + 100).map(|n| format!("flood {n}\n")).collect();
            if writer.write_all(batch.as_bytes()).is_err() {
                return;
            }
            i += 100;
        }
    });
    let talker = c[0].name.clone();
    c[0].send("still here");
    let mut flood_lines = 0;
    let mut heard_talker = false;
    loop {
        let line = c[1].line();
        if line == format!("<{talker}> still here") {
            heard_talker = true;
        } else if line.starts_with(&format!("<{flooder_name}> flood ")) {
            flood_lines += 1;
        } else if line == format!("* {flooder_name} left (flooding)") {
            break;
        } else {
            panic!("unexpected {line}");
        }
    }
    assert!(heard_talker, "the other client's line was lost");
    // 5 at once and 20 a second for the 1 s grace (plus timer slack): never thousands.
    assert!(
        (5..=80).contains(&flood_lines),
        "{flood_lines} flood lines relayed"
    );
    let told: Vec<String> = flooder.until_closed();
    assert!(
        told.iter().any(|l| l == "! flooding"),
        "the flooder was not told: {told:?}"
    );
    flooding.join().unwrap();
    c[0].send("after the flood");
    c[1].expect(&format!("<{talker}> after the flood"));
}

fn a_silent_client_is_closed_when_idle_timeout_is_set(mode: Mode) {
    let server = Server::start_with(mode, &["--idle-timeout", "1"]);
    let mut silent = server.client();
    let mut talker = server.client();
    let silent_name = silent.name.clone();
    let started = Instant::now();
    // The talker keeps talking (sync sends /who); the silent one says nothing.
    let mut seen_left = false;
    while started.elapsed() < Duration::from_millis(2500) && !seen_left {
        for line in talker.sync() {
            seen_left |= line == format!("* {silent_name} left (idle timeout)");
        }
        thread::sleep(Duration::from_millis(200));
    }
    let told = silent.until_closed();
    assert!(told.ends_with(&["! idle timeout".to_string()]), "{told:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed too early"
    );
    assert!(
        seen_left
            || talker
                .sync()
                .contains(&format!("* {silent_name} left (idle timeout)"))
    );
    assert!(talker.sync().is_empty(), "the active client was affected");
}

fn a_client_that_never_speaks_is_closed_at_the_first_line_deadline(mode: Mode) {
    let server = Server::start_with(mode, &["--first-line-timeout", "1"]);
    let mut silent = server.silent_client();
    let mut talker = server.client();
    let started = Instant::now();
    // One line is enough: the talker has no deadline after it.
    assert!(talker.sync().iter().all(|l| l.ends_with(" joined")));
    let told = silent.until_closed();
    assert_eq!(
        told.last().map(String::as_str),
        Some("! idle timeout"),
        "{told:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed too early"
    );
    talker.expect_after_joins(&format!("* {} left (idle timeout)", silent.name));
    // Silent now for longer than the deadline, and still in.
    assert_eq!(
        talker.lines_within(Duration::from_millis(1500)),
        Vec::<String>::new()
    );
    assert_eq!(talker.sync(), Vec::<String>::new());
}

fn only_the_ranges_given_are_exempt(mode: Mode) {
    let server = Server::start_with(mode, &["--max-per-ip", "1", "--exempt", "127.0.0.2/32"]);
    let _first = server.client();
    let mut second = server.connect();
    assert_eq!(
        second.until_closed(),
        ["! too many connections from your address"],
        "127.0.0.1 is not in the range given"
    );
    let mut exempt: Vec<Client> = (0..3).map(|_| connect_from(&server, "127.0.0.2")).collect();
    for c in &mut exempt {
        assert!(c.line().starts_with("* welcome "));
    }
}

fn the_defaults_refuse_an_address_17th_connection_and_its_flood(mode: Mode) {
    // The default limits, with 127.0.0.1 alone exempt: the others of 127/8 stand for the
    // addresses of the internet.
    let server = Server::start_with(mode, &["--exempt", "127.0.0.1/32"]);
    let mut talkers = server.clients(2);
    let mut held: Vec<Client> = (0..16)
        .map(|_| connect_from(&server, "127.0.0.2"))
        .collect();
    for c in &mut held {
        assert!(c.line().starts_with("* welcome "));
    }
    // It speaks first: the refusal must still reach it (no reset for unread input).
    let mut seventeenth = connect_from(&server, "127.0.0.2");
    seventeenth.send("hello");
    assert_eq!(
        seventeenth.until_closed(),
        ["! too many connections from your address"],
        "the 17th at once"
    );
    // A flood from another address: 60 new connections a minute, then refusals.
    let mut refused = 0;
    for i in 0..100 {
        let mut c = connect_from(&server, "127.0.0.3");
        let first = c.line();
        if first == "! too many connections from your address; try again later" {
            refused += 1;
        } else {
            assert!(first.starts_with("* welcome "), "{i}: {first}");
            // Gone before the next comes (the server counts it out before it closes it):
            // what limits these is the rate, not how many are open at once.
            c.send("/quit");
            c.until_closed();
        }
    }
    assert_eq!(refused, 40, "60 of the 100 let in");
    // Everyone else was served meanwhile (past the flood's joins and leaves; `line` fails
    // after its deadline).
    let want = format!("<{}> still here", talkers[0].name);
    talkers[0].send("still here");
    while talkers[1].line() != want {}
}

fn connect_from(server: &Server, source: &str) -> Client {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    sock.bind(&local.into()).unwrap();
    sock.connect(&server.addr.into()).unwrap();
    Client::new(TcpStream::from(sock))
}

fn connections_per_address_are_limited_when_asked(mode: Mode) {
    let server = Server::start_with(mode, &["--max-per-ip", "2", "--exempt", "none"]);
    let mut first = server.client();
    let second = server.client();
    let mut third = server.connect();
    assert_eq!(
        third.until_closed(),
        ["! too many connections from your address"]
    );
    // Another address of the loopback range is another address.
    let mut other = connect_from(&server, "127.0.0.2");
    assert!(other.line().starts_with("* welcome "));
    let second_name = second.name.clone();
    drop(second);
    // Wait for the server to see it go.
    first.expect_after_joins(&format!("* {second_name} left"));
    let mut again = server.connect();
    assert!(
        again.line().starts_with("* welcome "),
        "the freed place is not taken back"
    );
}

fn new_connections_per_address_are_paced(mode: Mode) {
    let server = Server::start_with(mode, &["--max-connects-per-ip", "3", "--exempt", "none"]);
    // Three connections in a row, each closed at once: the fourth is one too many this minute.
    for _ in 0..3 {
        drop(server.client());
    }
    let mut fourth = server.connect();
    assert_eq!(
        fourth.until_closed(),
        ["! too many connections from your address; try again later"]
    );
    let mut other = connect_from(&server, "127.0.0.3");
    assert!(other.line().starts_with("* welcome "));
}

fn loopback_is_exempt_from_the_address_limits_by_default(mode: Mode) {
    let server = Server::start_with(mode, &["--max-per-ip", "2", "--max-connects-per-ip", "2"]);
    // Five at once, from 127.0.0.1 (a reverse proxy, a test): all let in.
    let clients = server.clients(5);
    assert_eq!(clients.len(), 5);
}

fn accepted_sockets_have_tcp_keepalive(mode: Mode) {
    let server = Server::start(mode);
    let _c = server.clients(1);
    let port = server.addr.port();
    // ss shows one timer per socket: while a reply is unacknowledged it shows the retransmit
    // timer, so look again until the keepalive timer shows.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let out = std::process::Command::new("ss")
            .args([
                "-tnoH",
                "state",
                "established",
                &format!("( sport = :{port} )"),
            ])
            .output()
            .expect("ss (iproute2) is needed");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("timer:(keepalive") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no keepalive timer on the server side:\n{text}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn descriptor_exhaustion_neither_spins_nor_kills_the_server(mode: Mode) {
    let server = Server::start_wrapped(mode, &["prlimit", "--nofile=64:64", "--"], &[]);
    // Connect until the server runs out of descriptors and turns clients away.
    let mut admitted = Vec::new();
    let mut turned_away = 0;
    for _ in 0..100 {
        let mut c = server.connect();
        match c.try_line() {
            Some(l) if l.starts_with("* welcome ") => {
                c.name = l["* welcome ".len()..]
                    .split(',')
                    .next()
                    .unwrap()
                    .to_string();
                admitted.push(c);
            }
            Some(l) => {
                assert_eq!(l, "! server full");
                turned_away += 1;
            }
            None => turned_away += 1,
        }
        if turned_away >= 5 {
            break;
        }
    }
    assert!(admitted.len() >= 10, "only {} admitted", admitted.len());
    assert!(turned_away >= 5, "the descriptor limit was never reached");
    // With no descriptor left, one more connection waits: the loop must not spin on it.
    let _waiting = TcpStream::connect(server.addr).unwrap();
    let before = server.cpu_ticks();
    thread::sleep(Duration::from_secs(1));
    let used = server.cpu_ticks() - before;
    assert!(
        used <= 20,
        "the server used {used} ticks (1/100 s) in 1 s while out of descriptors"
    );
    // Still serving the ones it has...
    admitted[0].send("still alive");
    let from = admitted[0].name.clone();
    admitted[1].expect_after_joins(&format!("<{from}> still alive"));
    // ...and accepting again once descriptors are free.
    admitted.truncate(2);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut c = server.connect();
        if c.try_line().is_some_and(|l| l.starts_with("* welcome ")) {
            break;
        }
        assert!(Instant::now() < deadline, "never accepted again");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Descriptors the server has open.
fn open_fds(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn a_churn_of_short_connections_disturbs_no_one(mode: Mode) {
    const SHORT: usize = 3000;
    const TICKS: usize = 50;
    let server = Server::start(mode);
    let mut c = server.clients(2);
    let mut talker = c.remove(0);
    let mut listener = c.remove(0);
    let talker_name = talker.name.clone();
    let fds_before = open_fds(&server);
    // The listener reads on its own thread, so that the churn's notices never back up.
    let want = format!("<{talker_name}> tick ");
    let listening = thread::spawn(move || {
        let mut next = 0;
        let mut newcomer_heard = false;
        while next < TICKS || !newcomer_heard {
            let line = listener.line();
            if let Some(seq) = line.strip_prefix(&want) {
                assert_eq!(seq, next.to_string(), "a tick was lost or reordered");
                next += 1;
            }
            newcomer_heard |= line.ends_with("> newcomer here");
        }
    });
    let addr = server.addr;
    let mut held = std::collections::VecDeque::new();
    let mut newcomer = None;
    for i in 0..SHORT {
        let mut short = TcpStream::connect(addr).expect("a short connection");
        short.write_all(b"hello\n").unwrap();
        // Every other one stays open while the next 20 come: those get a thread in threads
        // mode; the others are over before the server accepts them.
        if i % 2 == 0 {
            held.push_back(short);
            if held.len() > 20 {
                held.pop_front();
            }
        }
        if i % (SHORT / TICKS) == 0 {
            talker.send(&format!("tick {}", i / (SHORT / TICKS)));
        }
        if i == SHORT / 2 {
            let mut n = server.connect();
            let welcome = n.line();
            assert!(welcome.starts_with("* welcome "), "{welcome}");
            n.send("newcomer here");
            newcomer = Some(n);
        }
    }
    held.clear();
    listening.join().expect("the listener missed something");
    drop(newcomer);
    // Every short connection's descriptor is given back.
    let deadline = Instant::now() + DEADLINE;
    while open_fds(&server) > fds_before {
        assert!(
            Instant::now() < deadline,
            "{} descriptors open, {fds_before} before the churn",
            open_fds(&server)
        );
        thread::sleep(Duration::from_millis(50));
    }
    // And the room still works for someone who comes after: it is shown the lobby's history,
    // then at most the churn's tail. (Descriptors back where they were does not mean the churn
    // is over: connections still in the listen queue have none yet, and the observer may be
    // accepted with the last of them, and hear their visits.)
    let mut observer = server.client();
    let seen = observer.sync_with(&mut talker);
    assert!(
        seen.first()
            .is_some_and(|l| l.starts_with("* history of #lobby: ")),
        "{seen:?}"
    );
    let end = seen
        .iter()
        .position(|l| l == "* end of history")
        .unwrap_or_else(|| panic!("no end of history: {seen:?}"));
    for line in &seen[end + 1..] {
        let churn = line.ends_with(" joined")
            || (line.starts_with("<guest") && line.ends_with("> hello"))
            || (line.starts_with("* guest") && line.ends_with(" left"));
        assert!(churn, "{line:?} after the history: {seen:?}");
    }
}
