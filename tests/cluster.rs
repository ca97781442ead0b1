//! Several chatd nodes sharing one chat through a real nats-server of the test's own (see
//! common/nats.rs), over loopback: messages, roster, private messages, a node killed or
//! stopped, the broker restarted, and a broker that carries garbage. Each test body runs with
//! all nodes in poll mode, then in threads mode.

mod common;

use common::certs::Certs;

use std::time::{Duration, Instant};

use common::irc::Irc;
use common::nats::{Link, Nats};
use common::pty::Pty;
use common::{Client, DEADLINE, Mode, Server, chat, lines_of, signal, until_output};

both_modes!(
    three_nodes_are_one_chat,
    an_irc_client_on_one_node_talks_with_an_nc_client_on_another,
    a_killed_node_is_lost_within_seconds_and_its_names_kept_until_they_expire,
    a_node_that_only_seemed_lost_keeps_its_names_until_they_expire,
    the_names_of_nodes_that_all_stopped_are_free,
    a_rename_as_a_node_starts_waits_for_its_link,
    a_restarted_node_takes_its_chat_clients_back_under_their_names,
    a_restarted_node_knows_the_cluster_before_its_clients_do,
    a_node_started_after_a_topic_was_set_knows_it,
    a_room_with_lines_rests_on_every_node_once_empty,
    a_stopping_node_says_so_at_once,
    the_broker_restarted_and_every_node_goes_on,
    garbage_on_the_broker_is_ignored,
    of_two_nodes_asked_for_one_name_at_once_exactly_one_grants_it,
    a_node_started_later_shows_the_same_history,
    a_node_serves_its_own_clients_until_the_broker_comes,
    counts_are_cluster_wide,
    a_broker_outage_is_not_everyone_leaving,
    a_node_lost_during_an_outage_is_told_once_the_link_is_back,
    a_line_after_nick_carries_the_new_name_everywhere,
    nick_is_refused_at_once_while_the_broker_is_away,
    a_malformed_cluster_address_is_refused_at_start,
    a_broker_with_users_lets_in_only_the_clusters_nodes,
    a_token_file_and_tls_to_the_broker,
    an_account_of_its_own_keeps_other_users_out,
    operators_act_on_every_node_and_bans_outlive_a_node,
    after_an_outage_every_node_shows_the_same_history,
    a_node_receives_only_the_rooms_its_clients_are_in,
    a_client_in_several_rooms_is_in_each_on_every_node,
    keep_days_and_mb_are_the_history_streams_limits,
    accounts_are_the_clusters,
);

const LINK_DOWN: &str = "* cluster link down: lines reach this node only until it is back";
const LINK_BACK: &str = "* cluster link back: lines reach every node again";

fn node(mode: Mode, nats: &Nats) -> Server {
    Server::start_with(mode, &["--cluster", &nats.url()])
}

/// Two nodes with a client each, each client knowing of the other.
struct Pair {
    a: Server,
    b: Server,
    ca: Client,
    cb: Client,
}

impl Pair {
    fn start(mode: Mode, nats: &Nats) -> Pair {
        Pair::start_with(mode, &["--cluster", &nats.url()])
    }

    /// Two nodes started with `args`.
    fn start_with(mode: Mode, args: &[&str]) -> Pair {
        let (a, b) = (
            Server::start_with(mode, args),
            Server::start_with(mode, args),
        );
        let (mut ca, mut cb) = (a.client(), b.client());
        until_online(&mut ca, 2);
        until_online(&mut cb, 2);
        Pair { a, b, ca, cb }
    }
}

/// Asks `/who` until the lobby holds `n`, or fails after [`DEADLINE`]: the nodes learn of each
/// other's clients through the broker, a few milliseconds after they come.
fn until_online(c: &mut Client, n: usize) {
    let until = Instant::now() + DEADLINE;
    let want = format!("* online in #lobby ({n}): ");
    loop {
        let lines = c.sync_lines();
        if lines.last().is_some_and(|l| l.starts_with(&want)) {
            return;
        }
        assert!(
            Instant::now() < until,
            "{}: not {n} online: {lines:?}",
            c.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks `/who` until `name` is in the lobby, or fails after [`DEADLINE`].
fn until_sees(c: &mut Client, name: &str) {
    let until = Instant::now() + DEADLINE;
    loop {
        let lines = c.sync_lines();
        let who = lines.last().map(String::as_str).unwrap_or("");
        if who.split([' ', ',']).any(|n| n == name) {
            return;
        }
        assert!(Instant::now() < until, "{}: no {name} in {who:?}", c.name);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads up to `want`, letting only notices (`* ...`) come first.
fn until_line(c: &mut Client, want: &str) {
    // Shown if the test fails: what it was waiting for.
    eprintln!("{} waits for {want:?}", c.name);
    loop {
        let got = c.line();
        if got == want {
            return;
        }
        assert!(
            got.starts_with("* "),
            "{} expected {want:?}, got {got:?}",
            c.name
        );
    }
}

fn three_nodes_are_one_chat(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let nodes: Vec<Server> = (0..3).map(|_| node(mode, &nats)).collect();
    let mut c: Vec<Client> = nodes.iter().map(|n| n.client()).collect();
    for client in &mut c {
        until_online(client, 3);
    }
    let names: Vec<String> = c.iter().map(|c| c.name.clone()).collect();
    // Plain guestN names, from each node's block of numbers: unique across the nodes.
    let plain = |n: &String| {
        n.strip_prefix("guest")
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    assert!(names.iter().all(plain), "{names:?}");
    let distinct: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(distinct.len(), 3, "{names:?}");
    c[0].send("hello from node one");
    for i in [1, 2] {
        until_line(&mut c[i], &format!("<{}> hello from node one", names[0]));
        // Exactly once: nothing more of it before a later private message from the sender.
        let (sender, other) = Client::pair(&mut c, 0, i);
        let between = other.sync_with(sender);
        assert!(
            between.iter().all(|l| !l.contains("hello from node one")),
            "{between:?}"
        );
    }
    c[2].send("/rooms");
    until_line(&mut c[2], "* rooms (1): #lobby (3)");
    c[1].send("/nick bee");
    c[1].expect("* you are now bee");
    until_line(&mut c[0], &format!("* {} is now bee", names[1]));
    // The sender's node must have heard of the new name too.
    until_line(&mut c[2], &format!("* {} is now bee", names[1]));
    c[2].send("/msg BEE across nodes");
    until_line(&mut c[1], &format!("*{}* across nodes", names[2]));
    // A taken name is taken everywhere.
    c[0].send("/nick bee");
    until_line(&mut c[0], "! name taken: bee");
    c[2].send("/join dev");
    until_line(&mut c[2], "* you are in #dev (1 here)");
    until_line(&mut c[0], &format!("* {} went to #dev", names[2]));
    c[1].send("/quit");
    until_line(&mut c[1], "* bye");
    until_line(&mut c[0], "* bee left");
}

fn a_killed_node_is_lost_within_seconds_and_its_names_kept_until_they_expire(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a: _a,
        b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    // A name of its own, claimed in the cluster.
    cb.send("/nick bea");
    until_line(&mut cb, "* you are now bea");
    until_line(&mut ca, &format!("* {} is now bea", cb.name));
    let killed = Instant::now();
    signal(b.pid(), "KILL");
    until_line(&mut ca, "* bea left (node lost)");
    let took = killed.elapsed();
    assert!(took <= Duration::from_secs(6), "took {took:?}");
    // Lost to the others is not given away: across a split, the node still holds it.
    ca.send("/nick bea");
    ca.expect("! name taken: bea");
    // Free once it was not renewed for NAME_TTL (15 s).
    until_nick(&mut ca, "bea", Duration::from_secs(20));
    assert!(
        killed.elapsed() >= Duration::from_secs(10),
        "free after {:?}",
        killed.elapsed()
    );
}

/// Asks for `name` once a second until it is granted, within `within` (notices meanwhile are
/// let by).
fn until_nick(c: &mut Client, name: &str, within: Duration) {
    let until = Instant::now() + within;
    let (granted, taken) = (
        format!("* you are now {name}"),
        format!("! name taken: {name}"),
    );
    loop {
        c.send(&format!("/nick {name}"));
        loop {
            let got = c.line();
            if got == granted {
                return;
            }
            if got == taken {
                break;
            }
            assert!(got.starts_with("* "), "{}: {got}", c.name);
        }
        assert!(
            Instant::now() < until,
            "{name} still taken after {within:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A node frozen long enough for the others to take it for lost (SIGSTOP: a split, as the
/// others see it) keeps its client's name while it is kept; frozen past the names' expiry, it
/// finds the name someone else's and its client becomes a guest: never two of one name.
fn a_node_that_only_seemed_lost_keeps_its_names_until_they_expire(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a: _a,
        b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    cb.send("/nick bea");
    until_line(&mut cb, "* you are now bea");
    until_line(&mut ca, &format!("* {} is now bea", cb.name));
    signal(b.pid(), "STOP");
    until_line(&mut ca, "* bea left (node lost)");
    ca.send("/nick bea");
    ca.expect("! name taken: bea");
    signal(b.pid(), "CONT");
    // Back: it renews the name, which it still holds.
    until_sees(&mut ca, "bea");
    ca.send("/nick bea");
    ca.expect("! name taken: bea");
    // Frozen past the expiry: the name goes to whoever asks.
    signal(b.pid(), "STOP");
    until_nick(&mut ca, "bea", Duration::from_secs(25));
    signal(b.pid(), "CONT");
    let lost = "! your name bea was given to someone else while this node was cut off from \
                the cluster; you are ";
    let until = Instant::now() + DEADLINE;
    let guest = loop {
        let got = cb.line();
        if let Some(guest) = got.strip_prefix(lost) {
            break guest.strip_suffix(" now").unwrap().to_string();
        }
        assert!(Instant::now() < until, "not told: {got}");
    };
    until_line(&mut cb, &format!("* you are now {guest}"));
    // Both nodes see one bea, and the guest.
    cb.name = guest.clone();
    for c in [&mut ca, &mut cb] {
        until_sees(c, &guest);
        until_sees(c, "bea");
        let who = c.sync_lines().pop().unwrap();
        let bea = who.split([' ', ',']).filter(|n| *n == "bea").count();
        assert_eq!(bea, 1, "{who}");
    }
}

fn the_names_of_nodes_that_all_stopped_are_free(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        mut a,
        mut b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    ca.send("/nick ana");
    until_line(&mut ca, "* you are now ana");
    cb.send("/nick bea");
    until_line(&mut cb, "* you are now bea");
    for node in [&a, &b] {
        signal(node.pid(), "TERM");
    }
    assert!(a.wait().success() && b.wait().success());
    let c = node(mode, &nats);
    let mut cc = c.client();
    for name in ["ana", "bea"] {
        cc.send(&format!("/nick {name}"));
        cc.expect(&format!("* you are now {name}"));
    }
}

fn a_rename_as_a_node_starts_waits_for_its_link(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let _first = node(mode, &nats);
    for i in 0..3 {
        let started = Instant::now();
        let n = node(mode, &nats);
        let mut c = n.connect();
        c.send(&format!("/nick qa{i}"));
        let sent = started.elapsed();
        assert!(c.line().starts_with("* welcome "));
        loop {
            let got = c.line();
            if got == format!("* you are now qa{i}") {
                break;
            }
            assert!(
                got.starts_with("* "),
                "sent {sent:?} after the start: {got}"
            );
        }
    }
}

/// A node restarted (SIGTERM, then the same port) with a line client and a TUI in `#dev`:
/// both come back under their names, in their room, as the other node sees them.
fn a_restarted_node_takes_its_chat_clients_back_under_their_names(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let other = node(mode, &nats);
    let mut restarted = node(mode, &nats);
    let port = restarted.addr.port();
    let mut line = chat(port, &["--name", "stay", "--room", "dev"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = line.stdin.take().unwrap();
    let stderr = lines_of(line.stderr.take().unwrap());
    until_output(&stderr, |l| l.starts_with("connected to "));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
    let port_arg = port.to_string();
    cmd.args([
        "--port", &port_arg, "--name", "tui", "--room", "dev", "--tui",
    ]);
    let mut tui = Pty::spawn(&mut cmd);
    tui.expect("#dev", DEADLINE);
    let mut watcher = other.client();
    until_in_dev(&mut watcher, &["stay", "tui"]);
    assert!(restarted.stop().success());
    let cluster = nats.url();
    let _back = Server::start_with(mode, &["--cluster", &cluster, "--port", &port_arg]);
    until_output(&stderr, |l| l.ends_with(" as stay"));
    tui.expect("reconnected as tui", DEADLINE + Duration::from_secs(2));
    until_in_dev(&mut watcher, &["stay", "tui"]);
    drop(stdin);
    let _ = line.wait();
}

/// A client back on a restarted node the moment it listens is told what is true: everyone
/// online across the cluster, what was said while its node was away, and no join for someone
/// who never left.
fn a_restarted_node_knows_the_cluster_before_its_clients_do(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let other = node(mode, &nats);
    let mut restarted = node(mode, &nats);
    let mut carl = other.client();
    carl.send("/nick carl");
    until_line(&mut carl, "* you are now carl");
    let port = restarted.addr.port().to_string();
    assert!(restarted.stop().success());
    carl.send("said while it was away");
    carl.sync();
    let back = Server::start_with(mode, &["--cluster", &nats.url(), "--port", &port]);
    let mut c = back.connect();
    c.send("/nick dee");
    let welcome = c.line();
    assert!(
        welcome.starts_with("* welcome ") && welcome.contains(", 2 online;"),
        "{welcome}"
    );
    let mut got = c.sync_lines();
    assert_eq!(
        got.drain(..3).collect::<Vec<_>>(),
        [
            "* history of #lobby: 1 line",
            "<carl> said while it was away",
            "* end of history",
        ]
    );
    assert_eq!(got.first().map(String::as_str), Some("* you are now dee"));
    assert_eq!(
        got.last().map(String::as_str),
        Some("* online in #lobby (2): carl, dee")
    );
    assert!(!got.iter().any(|l| l.contains("carl joined")), "{got:?}");
    // And carl's node knows dee.
    until_sees(&mut carl, "dee");
}

/// Asks `/who dev` until all of `names` are there, within [`DEADLINE`].
fn until_in_dev(c: &mut Client, names: &[&str]) {
    let until = Instant::now() + DEADLINE;
    loop {
        c.send("/who dev");
        let who = c.line();
        let here: Vec<&str> = who
            .split_once("): ")
            .map_or(vec![], |(_, list)| list.split(", ").collect());
        if names.iter().all(|n| here.contains(n)) {
            return;
        }
        assert!(
            Instant::now() < until,
            "not all of {names:?} in #dev: {who}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn a_stopping_node_says_so_at_once(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a: _a,
        mut b,
        mut ca,
        cb,
    } = Pair::start(mode, &nats);
    let stopped = Instant::now();
    signal(b.pid(), "TERM");
    until_line(&mut ca, &format!("* {} left (node stopped)", cb.name));
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    assert!(b.wait().success());
}

fn the_broker_restarted_and_every_node_goes_on(mode: Mode) {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let a = node(mode, &nats);
    let b = node(mode, &nats);
    let mut a1 = a.client();
    let mut a2 = a.client();
    let mut b1 = b.client();
    for c in [&mut a1, &mut a2, &mut b1] {
        until_online(c, 3);
    }
    nats.kill();
    let down = "* cluster link down: lines reach this node only until it is back";
    for c in [&mut a1, &mut a2, &mut b1] {
        until_line(c, down);
    }
    // Each node serves its own clients meanwhile.
    a1.send("while the broker is away");
    until_line(&mut a2, &format!("<{}> while the broker is away", a1.name));
    nats.restart();
    let back = "* cluster link back: lines reach every node again";
    for c in [&mut a1, &mut a2, &mut b1] {
        until_line(c, back);
    }
    for c in [&mut a1, &mut a2, &mut b1] {
        until_online(c, 3);
    }
    b1.send("after the restart");
    until_line(&mut a1, &format!("<{}> after the restart", b1.name));
    // Told once: no second notice came before this line.
}

fn garbage_on_the_broker_is_ignored(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    let subject = "chatd.chatd.events";
    let huge = vec![b'x'; 900_000];
    for junk in [
        &b"hello"[..],
        b"\xff\xfe\x00",
        b"chatd1 other n1 line lobby <evil> from another cluster",
        b"chatd1 chatd NODE line lobby <evil> bad node",
        b"chatd1 chatd n1 line lobby \x1b[2Jescape",
        b"chatd1 chatd n1 joined b@d lobby",
        b"chatd1 chatd n1 left",
        b"chatd1 chatd n1 roster a",
        &huge,
    ] {
        nats.publish_raw(subject, junk);
    }
    // A well-formed lie about a client of ours is not taken either.
    let lie = format!("chatd1 chatd zz left {}", ca.name);
    nats.publish_raw(subject, lie.as_bytes());
    ca.send("still one chat");
    until_line(&mut cb, &format!("<{}> still one chat", ca.name));
    let seen = cb.sync_with(&mut ca);
    assert!(seen.iter().all(|l| !l.contains("evil")), "{seen:?}");
    until_online(&mut cb, 2);
}

fn of_two_nodes_asked_for_one_name_at_once_exactly_one_grants_it(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    for round in 0..5 {
        let name = format!("same{round}");
        // Both asked before either node can hear of the other's answer.
        ca.send(&format!("/nick {name}"));
        cb.send(&format!("/nick {}", name.to_uppercase()));
        let answer = |c: &mut Client| loop {
            let line = c.line();
            if line.starts_with("* you are now ") || line.starts_with("! ") {
                return line;
            }
        };
        let (got_a, got_b) = (answer(&mut ca), answer(&mut cb));
        let granted = [&got_a, &got_b]
            .iter()
            .filter(|l| l.starts_with("* you are now "))
            .count();
        assert_eq!(granted, 1, "round {round}: {got_a:?}, {got_b:?}");
        assert!(
            got_a.starts_with("! name taken: ") || got_b.starts_with("! name taken: "),
            "round {round}: {got_a:?}, {got_b:?}"
        );
    }
    // A name let go of (by a rename, then by leaving) can be had again.
    ca.send("/nick free-again");
    until_line(&mut ca, "* you are now free-again");
    ca.send("/quit");
    until_line(&mut ca, "* bye");
    // Its node lets go of the name before it tells the others it left.
    until_line(&mut cb, "* free-again left");
    cb.send("/nick free-again");
    until_line(&mut cb, "* you are now free-again");
}

/// A newcomer's history block: the lines between `* history of #lobby: N lines` and
/// `* end of history`, after its welcome.
fn history_of(server: &Server) -> Vec<String> {
    let mut c = server.client();
    let head = c.line();
    assert!(head.starts_with("* history of #lobby: "), "{head}");
    let mut lines = Vec::new();
    loop {
        let line = c.line();
        if line == "* end of history" {
            return lines;
        }
        lines.push(line);
    }
}

fn a_node_started_later_shows_the_same_history(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let a = node(mode, &nats);
    let mut talker = a.client();
    until_online(&mut talker, 1);
    for i in 0..3 {
        talker.send(&format!("line {i}"));
    }
    // Everyone has them once the talker's next command is answered... on its own node; the
    // stream has them once another node has seen them live.
    let mut b = node(mode, &nats);
    let mut watcher = b.client();
    until_online(&mut watcher, 2);
    talker.send("line 3");
    until_line(&mut watcher, &format!("<{}> line 3", talker.name));
    let want: Vec<String> = (0..4)
        .map(|i| format!("<{}> line {i}", talker.name))
        .collect();
    assert_eq!(history_of(&a), want, "node a");
    // A node started after the lines were said shows them too, once it has read them from
    // the cluster (which it does before it hears of the others' clients).
    let c = node(mode, &nats);
    until_sees(&mut c.client(), &talker.name);
    assert_eq!(history_of(&c), want, "node c, started later");
    // And a node restarted.
    b.stop();
    let b = node(mode, &nats);
    until_sees(&mut b.client(), &talker.name);
    assert_eq!(history_of(&b), want, "node b, restarted");
}

fn a_node_serves_its_own_clients_until_the_broker_comes(mode: Mode) {
    let Some(mut nats) = Nats::reserve() else {
        return;
    };
    let a = node(mode, &nats);
    let mut a1 = a.client();
    let down = "* cluster link down: lines reach this node only until it is back";
    until_line(&mut a1, down);
    // A newcomer meanwhile is told at once, after its welcome.
    let mut a2 = a.connect();
    assert!(a2.line().starts_with("* welcome "));
    a2.expect(down);
    a2.name = "a2".into();
    a1.send("alone for now");
    until_line(&mut a2, &format!("<{}> alone for now", a1.name));
    nats.restart();
    let back = "* cluster link back: lines reach every node again";
    until_line(&mut a1, back);
    let b = node(mode, &nats);
    let mut b1 = b.client();
    until_sees(&mut b1, &a1.name);
    b1.send("now together");
    until_line(&mut a1, &format!("<{}> now together", b1.name));
}

fn counts_are_cluster_wide(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    cb.send("/join dev");
    until_line(&mut cb, "* you are in #dev (1 here)");
    until_line(&mut ca, &format!("* {} went to #dev", cb.name));
    ca.send("/join dev");
    until_line(&mut ca, "* you are in #dev (2 here)");
    ca.send("/rooms");
    until_line(&mut ca, "* rooms (2): #dev (2), #lobby (0)");
    ca.send("/who");
    let mut both = [ca.name.clone(), cb.name.clone()];
    both.sort_by_key(|n| n.to_ascii_lowercase());
    until_line(
        &mut ca,
        &format!("* online in #dev (2): {}, {}", both[0], both[1]),
    );
    // A newcomer on either node is welcomed with everyone counted, itself included.
    let welcome = a.connect().line();
    assert!(welcome.contains(", 3 online;"), "{welcome}");
}

fn a_broker_outage_is_not_everyone_leaving(mode: Mode) {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    nats.kill();
    until_line(&mut ca, LINK_DOWN);
    until_line(&mut cb, LINK_DOWN);
    // Longer than a silent node takes to be called lost while the link is up.
    let during = ca.lines_within(Duration::from_secs(6));
    assert!(during.iter().all(|l| !l.contains(" left")), "{during:?}");
    nats.restart();
    until_line(&mut ca, LINK_BACK);
    until_line(&mut cb, LINK_BACK);
    // Nothing was told of cb meanwhile: no leave, no join, just its line. (Sent again until one
    // arrives: one sent the instant the links are back may find a's subscription not yet
    // renewed at the broker.)
    let until = Instant::now() + DEADLINE * 2;
    'heard: for n in 0.. {
        cb.send(&format!("still here {n}"));
        for line in ca.lines_within(Duration::from_secs(1)) {
            if line.starts_with(&format!("<{}> still here ", cb.name)) {
                break 'heard;
            }
            assert!(!line.contains(&cb.name), "{line}");
        }
        assert!(Instant::now() < until, "cb's line never reached ca");
    }
    until_online(&mut ca, 2);
}

fn a_node_lost_during_an_outage_is_told_once_the_link_is_back(mode: Mode) {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let Pair {
        a: _a,
        b,
        mut ca,
        cb,
    } = Pair::start(mode, &nats);
    nats.kill();
    until_line(&mut ca, LINK_DOWN);
    signal(b.pid(), "KILL");
    nats.restart();
    until_line(&mut ca, LINK_BACK);
    let back = Instant::now();
    until_line(&mut ca, &format!("* {} left (node lost)", cb.name));
    assert!(
        back.elapsed() < Duration::from_secs(8),
        "{:?}",
        back.elapsed()
    );
    until_online(&mut ca, 1);
}

fn a_line_after_nick_carries_the_new_name_everywhere(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    let old = ca.name.clone();
    // One write: the line is read before the cluster has answered the claim.
    ca.send_bytes(b"/nick renamed\nfirst words\n/nick again\nsecond words\n");
    until_line(&mut cb, &format!("* {old} is now renamed"));
    until_line(&mut cb, "<renamed> first words");
    until_line(&mut cb, "* renamed is now again");
    until_line(&mut cb, "<again> second words");
    ca.expect("* you are now renamed");
    ca.expect("* you are now again");
}

fn nick_is_refused_at_once_while_the_broker_is_away(mode: Mode) {
    let refusal = "! names cannot be changed while the cluster is unreachable; try again later";
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let a = node(mode, &nats);
    let mut ca = a.client();
    until_online(&mut ca, 1);
    nats.kill();
    until_line(&mut ca, LINK_DOWN);
    let asked = Instant::now();
    ca.send("/nick someone");
    until_line(&mut ca, refusal);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    // And on a node that never reached its broker.
    let Some(never) = Nats::reserve() else { return };
    let b = node(mode, &never);
    let mut cb = b.client();
    until_line(&mut cb, LINK_DOWN);
    let asked = Instant::now();
    cb.send("/nick someone");
    until_line(&mut cb, refusal);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
}

fn a_malformed_cluster_address_is_refused_at_start(mode: Mode) {
    for (bad, says) in [
        ("http://x", "not a NATS broker's address"),
        ("nats://host:port", "is not a port"),
    ] {
        // Refused at start, in one line: it must not go on to serve.
        let (status, err) = refused_at_start(mode, &["--cluster", bad]);
        assert_eq!(status.code(), Some(1), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
        assert!(
            err.starts_with("chatd: --cluster ") && err.contains(says),
            "{bad}: {err}"
        );
    }
}

/// Starts chatd with `args` and waits (at most [`DEADLINE`]) for it to exit by itself: its exit
/// status and what it said on stderr.
fn refused_at_start(mode: Mode, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = common::chatd(mode, args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("chatd {args:?} is still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

fn a_broker_with_users_lets_in_only_the_clusters_nodes(mode: Mode) {
    // chatd's nodes may do anything; another user of the same broker may not speak on chatd's
    // subjects (nor on JetStream's, where the names and the history are).
    let conf = r#"
        authorization {
          users = [
            { user: chatd, password: s3cret }
            { user: other, password: other,
              permissions: { publish: { deny: ["chatd.>", "$JS.>", "$KV.>"] } } }
          ]
        }
    "#;
    let Some(nats) = Nats::start_with_config(conf) else {
        return;
    };
    let url = format!("nats://chatd:s3cret@127.0.0.1:{}", nats.port);
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start_with(mode, &["--cluster", &url]);
    let forged = "chatd1 chatd zz line lobby 1 1 <mallory> forged";
    let refused = nats.publish_as(
        r#""user":"other","pass":"other","#,
        "chatd.chatd.events",
        forged.as_bytes(),
    );
    assert!(
        refused.is_err_and(|e| e.contains("Permissions Violation")),
        "other's publish was taken"
    );
    let anonymous = nats.publish_as("", "chatd.chatd.events", forged.as_bytes());
    assert!(
        anonymous.is_err_and(|e| e.contains("Authorization Violation")),
        "anonymous publish was taken"
    );
    ca.send("only nodes speak");
    until_line(&mut cb, &format!("<{}> only nodes speak", ca.name));
    let seen = cb.sync_with(&mut ca);
    assert!(seen.iter().all(|l| !l.contains("mallory")), "{seen:?}");
    // A node with the wrong password does not start, and says why.
    let wrong = format!("nats://chatd:wrong@127.0.0.1:{}", nats.port);
    let (status, err) = refused_at_start(mode, &["--cluster", &wrong]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("refused this node"), "{err}");
    assert!(!err.contains("wrong"), "the password is not shown: {err}");
}

fn a_token_file_and_tls_to_the_broker(mode: Mode) {
    let certs = Certs::new();
    let conf = format!(
        r#"
        authorization {{ token: "t0ken-of-the-cluster" }}
        tls {{ cert_file: "{}", key_file: "{}" }}
        "#,
        certs.path("server-cert.pem").display(),
        certs.path("server-key.pem").display()
    );
    let Some(nats) = Nats::start_with_config(&conf) else {
        return;
    };
    let token = certs.path("token");
    std::fs::write(&token, "t0ken-of-the-cluster\n").unwrap();
    let (url, token, ca) = (
        format!("tls://127.0.0.1:{}", nats.port),
        token.display().to_string(),
        certs.ca_pem().display().to_string(),
    );
    let args = [
        "--cluster",
        &url,
        "--cluster-creds",
        &token,
        "--cluster-ca",
        &ca,
    ];
    let (a, b) = (
        Server::start_with(mode, &args),
        Server::start_with(mode, &args),
    );
    let (mut ca_, mut cb) = (a.client(), b.client());
    until_online(&mut ca_, 2);
    until_online(&mut cb, 2);
    cb.send("over TLS, with a token");
    until_line(&mut ca_, &format!("<{}> over TLS, with a token", cb.name));
    // Without the CA, the broker's certificate is not trusted: refused at start.
    let (status, err) = refused_at_start(mode, &["--cluster", &url, "--cluster-creds", &token]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("refused this node"), "{err}");
    // Without the token: likewise.
    let (status, err) = refused_at_start(mode, &["--cluster", &url, "--cluster-ca", &ca]);
    assert_eq!(status.code(), Some(1), "{err}");
    // A credentials file that is not one is refused before anything else.
    let bad = certs.path("bad.creds");
    std::fs::write(
        &bad,
        "-----BEGIN NATS USER JWT-----\nnot a jwt\n------END NATS USER JWT------\n",
    )
    .unwrap();
    let bad = bad.display().to_string();
    let (status, err) = refused_at_start(mode, &["--cluster", &url, "--cluster-creds", &bad]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("credentials"), "{err}");
}

/// The broker setup the README recommends: chatd's nodes in an account of their own.
const ACCOUNTS: &str = r#"
    accounts {
      CHATD: { jetstream: enabled, users: [ { user: chatd, password: s3cret } ] }
      APPS: { users: [ { user: app, password: app } ] }
    }
"#;

fn an_account_of_its_own_keeps_other_users_out(mode: Mode) {
    let Some(nats) = Nats::start_with_config(ACCOUNTS) else {
        return;
    };
    let url = format!("nats://chatd:s3cret@127.0.0.1:{}", nats.port);
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start_with(mode, &["--cluster", &url]);
    // Another account's user may publish on the same subject: it is another subject space.
    let forged = "chatd1 chatd zz line lobby 1 1 <mallory> forged";
    let app = r#""user":"app","pass":"app","#;
    nats.publish_as(app, "chatd.chatd.events", forged.as_bytes())
        .unwrap();
    nats.publish_as(app, "chatd.chatd.room.lobby", forged.as_bytes())
        .unwrap();
    ca.send("only our account");
    until_line(&mut cb, &format!("<{}> only our account", ca.name));
    let seen = cb.sync_with(&mut ca);
    assert!(seen.iter().all(|l| !l.contains("mallory")), "{seen:?}");
}

fn operators_act_on_every_node_and_bans_outlive_a_node(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let dir = std::env::temp_dir().join(format!(
        "chatd-cluster-oper-{}-{}",
        std::process::id(),
        mode.flag()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let oper = dir.join("oper");
    std::fs::write(&oper, "op-secret\n").unwrap();
    let oper = oper.display().to_string();
    let args = ["--cluster", &nats.url(), "--oper-password-file", &oper];
    let (a, mut b) = (
        Server::start_with(mode, &args),
        Server::start_with(mode, &args),
    );
    let mut op = a.client();
    let mut far = b.client_from("127.0.0.7");
    until_online(&mut op, 2);
    until_online(&mut far, 2);
    op.send("/oper op-secret");
    until_line(&mut op, "* you are now an operator");
    // Mute and unmute a client of the other node.
    op.send(&format!("/mute {}", far.name));
    until_line(
        &mut op,
        &format!("* {} is on another node: asked it to mute them", far.name),
    );
    until_line(&mut far, &format!("* you were muted by {}", op.name));
    far.send("can I speak?");
    until_line(&mut far, "! you are muted");
    op.send(&format!("/unmute {}", far.name));
    until_line(&mut far, &format!("* you were unmuted by {}", op.name));
    // Kick it.
    op.send(&format!("/kick {} enough", far.name));
    until_line(&mut far, &format!("! kicked by {} (enough)", op.name));
    assert!(far.until_closed().is_empty());
    // Ban another from that address: refused by both nodes, and by a node started after.
    let mut again = b.client_from("127.0.0.7");
    until_sees(&mut op, &again.name);
    op.send(&format!("/ban {} 5", again.name));
    until_line(
        &mut again,
        &format!("! banned by {} for 5 minutes", op.name),
    );
    until_refused(&b, "127.0.0.7", true);
    // The other node hears of it through the broker.
    until_refused(&a, "127.0.0.7", true);
    b.stop();
    // A node started after the ban has it before it serves anyone.
    let c = Server::start_with(mode, &args);
    let first = c.connect_from("127.0.0.7").line();
    assert_eq!(
        first, "! banned (5 more minutes)",
        "node c, started after the ban"
    );
    // Lifted on one node, lifted on all.
    op.send("/unban 127.0.0.7");
    until_line(&mut op, "* 127.0.0.7 is no longer banned");
    until_refused(&c, "127.0.0.7", false);
    until_refused(&a, "127.0.0.7", false);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Connects from `source` until the node refuses it as banned (`banned`) or lets it in, or
/// fails after [`DEADLINE`]: news of a ban reaches the other nodes a moment after it is made.
fn until_refused(node: &Server, source: &str, banned: bool) {
    let until = Instant::now() + DEADLINE;
    loop {
        let first = node.connect_from(source).line();
        let refused = first.starts_with("! banned");
        if refused == banned {
            return;
        }
        assert!(first.starts_with("* welcome ") || refused, "{first}");
        assert!(Instant::now() < until, "{source}: still {first:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn after_an_outage_every_node_shows_the_same_history(mode: Mode) {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let Pair {
        a,
        b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    ca.send("before");
    until_line(&mut cb, &format!("<{}> before", ca.name));
    nats.kill();
    until_line(&mut ca, LINK_DOWN);
    until_line(&mut cb, LINK_DOWN);
    // Each side's lines, one after the other (each handled before the next is sent).
    ca.send("a during");
    ca.sync();
    cb.send("b during");
    cb.sync();
    ca.send("a again");
    ca.sync();
    nats.restart();
    until_line(&mut ca, LINK_BACK);
    until_line(&mut cb, LINK_BACK);
    // Live clients on the other side are not shown them: they are history now. (A barrier
    // through the broker: a private message sent the instant the links are back may find b's
    // subscription not yet renewed at the broker, and is lost, as any message then would be;
    // so it is sent again until one arrives.)
    let mut seen = Vec::new();
    let until = Instant::now() + DEADLINE * 2;
    for n in 0.. {
        ca.send(&format!("/msg {} mark {n}", cb.name));
        let got = cb.lines_within(Duration::from_secs(1));
        let arrived = got.iter().any(|l| l.ends_with(&format!("* mark {n}")));
        seen.extend(got);
        if arrived {
            break;
        }
        assert!(
            Instant::now() < until,
            "no private message from a to b: {seen:?}"
        );
    }
    assert!(
        seen.iter()
            .all(|l| !l.contains("during") && !l.contains("again")),
        "{seen:?}"
    );
    let want = [
        format!("<{}> before", ca.name),
        format!("<{}> a during", ca.name),
        format!("<{}> b during", cb.name),
        format!("<{}> a again", ca.name),
    ];
    // The other side's lines reach each node a moment after its link is back.
    for (node, which) in [(&a, "a"), (&b, "b")] {
        let until = Instant::now() + DEADLINE;
        loop {
            let history = history_of(node);
            if history == want {
                break;
            }
            assert!(Instant::now() < until, "node {which}: {history:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Asks the broker about the nodes' connections until `ok` says yes, or fails after
/// [`DEADLINE`] (subscribing and unsubscribing reach the broker a moment after the client
/// moved).
fn until_links(nats: &Nats, what: &str, ok: impl Fn(&[Link]) -> bool) -> Vec<Link> {
    let until = Instant::now() + DEADLINE;
    loop {
        let links = nats.nodes();
        if ok(&links) {
            return links;
        }
        assert!(Instant::now() < until, "{what}: {links:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn a_node_receives_only_the_rooms_its_clients_are_in(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start_with(mode, &["--cluster", &url, "--msg-rate", "0"]);
    ca.send("/join dev");
    until_line(&mut ca, "* you are in #dev (1 here)");
    let one_follows = |links: &[Link]| {
        links.len() == 2 && links.iter().filter(|l| l.follows(".room.dev")).count() == 1
    };
    until_links(&nats, "only a follows #dev", one_follows);
    // (And b knows where ca is.)
    until_line(&mut cb, &format!("* {} went to #dev", ca.name));
    for i in 0..20 {
        ca.send(&format!("before {i}"));
    }
    // (Kept by the broker before bob comes: else they are news to him, and come live.)
    let until = Instant::now() + DEADLINE;
    while nats.stored_lines() < 20 {
        assert!(Instant::now() < until, "{} lines kept", nats.stored_lines());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Bob enters: his node follows #dev from now on, and shows him what was said before, read
    // from the cluster's stream; then the room's lines live, each once.
    cb.send("/join dev");
    until_line(&mut cb, "* you are in #dev (2 here)");
    assert_eq!(cb.line(), "* history of #dev: 20 lines");
    for i in 0..20 {
        assert_eq!(cb.line(), format!("<{}> before {i}", ca.name));
    }
    assert_eq!(cb.line(), "* end of history");
    until_links(&nats, "both follow #dev", |links| {
        links.iter().all(|l| l.follows(".room.dev"))
    });
    ca.send("live");
    assert_eq!(cb.line(), format!("<{}> live", ca.name));
    cb.send("/who");
    assert!(cb.line().starts_with("* online in #dev (2): "));
    // Bob leaves: his node stops following #dev, and receives none of its lines.
    cb.send("/part");
    until_line(&mut cb, "* you are in #lobby (1 here)");
    let links = until_links(&nats, "only a follows #dev again", one_follows);
    let b_link = links.iter().find(|l| !l.follows(".room.dev")).unwrap();
    let received_by_b = |links: &[Link]| {
        let b = links.iter().find(|l| l.name == b_link.name);
        b.map(|l| l.received).unwrap()
    };
    let before = b_link.received;
    for i in 0..50 {
        ca.send(&format!("after {i}"));
    }
    // Published after the fifty lines: once bob hears of it, the broker has dealt with them.
    ca.send("/part");
    until_line(&mut cb, &format!("* {} came from #dev", ca.name));
    let received = received_by_b(&nats.nodes()) - before;
    // Beats (one a second from each node) and the move, not the fifty lines.
    assert!(received < 20, "b received {received} messages");
}

fn a_node_started_after_a_topic_was_set_knows_it(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let (mut first, mut peer) = (node(mode, &nats), node(mode, &nats));
    let (mut c1, mut cp) = (first.client(), peer.client());
    // Both links are up: what c1 does now is published as it does it.
    until_online(&mut c1, 2);
    until_online(&mut cp, 2);
    let me = c1.name.clone();
    // A room no one will be in any more, then the lobby.
    c1.send("/join dev");
    until_line(&mut c1, "* you are in #dev (1 here)");
    c1.send("/topic dev things");
    until_line(
        &mut c1,
        &format!("* {me} set the topic of #dev: dev things"),
    );
    c1.send("/join lobby");
    until_line(&mut c1, "* you are in #lobby (2 here)");
    c1.send("/topic release on friday");
    // Heard on the other node: published, and kept before that.
    until_line(
        &mut cp,
        &format!("* {me} set the topic of #lobby: release on friday"),
    );
    // #dev, no one in it now, rests in the cluster as a room with a topic does on one node.
    cp.send("/rooms");
    until_line(&mut cp, "* rooms (2): #dev (0), #lobby (2)");
    let second = node(mode, &nats);
    let mut c2 = second.client();
    c2.send("/topic");
    until_line(&mut c2, "* topic of #lobby: release on friday");
    // And once every node is gone and one starts again.
    drop((c1, cp, c2));
    assert!(first.stop().success() && peer.stop().success());
    drop(second);
    let third = node(mode, &nats);
    let mut c3 = third.client();
    c3.send("/rooms");
    until_line(&mut c3, "* rooms (2): #dev (0), #lobby (1)");
    c3.send("/join dev");
    until_line(&mut c3, "* you are in #dev (1 here)");
    c3.send("/topic");
    until_line(&mut c3, "* topic of #dev: dev things");
}

/// Sends `/rooms` until its answer is `want`, or fails after [`DEADLINE`]: a node reads an
/// emptied room's lines from the cluster when it had none of them, a moment after it empties.
fn until_rooms(c: &mut Client, want: &str) {
    let until = Instant::now() + DEADLINE;
    loop {
        c.send("/rooms");
        let got = loop {
            let line = c.line();
            if line.starts_with("* rooms (") {
                break line;
            }
        };
        if got == want {
            return;
        }
        assert!(Instant::now() < until, "{}: {got:?}, not {want:?}", c.name);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A room with lines and no topic, once no one is in it, rests across the cluster as on one
/// node: listed by `/rooms` on the node its lines were said on and on a peer that never
/// followed it, its lines shown to whoever enters it later.
fn a_room_with_lines_rests_on_every_node_once_empty(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a: _a,
        b: _b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    let me = ca.name.clone();
    ca.send("/join Dev");
    until_line(&mut ca, "* you are in #Dev (1 here)");
    ca.send("ship it");
    // The room exists on b too (a's client is in it): listed with its one member.
    until_rooms(&mut cb, "* rooms (2): #Dev (1), #lobby (1)");
    ca.send("/join lobby");
    // (Its own line may come back first, in #Dev's history if the cluster's came after it.)
    while ca.line() != "* you are in #lobby (2 here)" {}
    until_rooms(&mut ca, "* rooms (2): #Dev (0), #lobby (2)");
    until_rooms(&mut cb, "* rooms (2): #Dev (0), #lobby (2)");
    // A room with neither lines nor a topic does not rest.
    cb.send("/join empty");
    until_line(&mut cb, "* you are in #empty (1 here)");
    cb.send("/join lobby");
    until_line(&mut cb, "* you are in #lobby (2 here)");
    cb.send("/join dev");
    until_line(&mut cb, &format!("<{me}> ship it"));
    until_line(&mut cb, "* end of history");
    cb.send("/join lobby");
    until_line(&mut cb, "* you are in #lobby (2 here)");
    until_rooms(&mut cb, "* rooms (2): #Dev (0), #lobby (2)");
    until_rooms(&mut ca, "* rooms (2): #Dev (0), #lobby (2)");
}

/// In a cluster the broker is the store: `--keep-days` and `--keep-mb` are the history
/// stream's limits (beside `--history` lines a room), and a node started with others sets
/// them again.
fn keep_days_and_mb_are_the_history_streams_limits(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let limits_become = |want: (i64, u64, i64)| {
        let until = Instant::now() + DEADLINE;
        loop {
            let have = nats.history_limits();
            if have == Some(want) {
                return;
            }
            assert!(Instant::now() < until, "limits {have:?}, not {want:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let day_ns = 86_400 * 1_000_000_000u64;
    let url = nats.url();
    let mut first = Server::start_with(
        mode,
        &[
            "--cluster",
            &url,
            "--history",
            "7",
            "--keep-days",
            "2",
            "--keep-mb",
            "5",
        ],
    );
    limits_become((7, 2 * day_ns, 5 << 20));
    assert!(first.stop().success());
    let _second = Server::start_with(mode, &["--cluster", &url, "--keep-days", "1"]);
    limits_become((50, day_ns, -1));
}

/// Reads `c`'s JSON events up to the first of type `kind`: others' `join` and `move` may come
/// first, and a history (in a cluster, a room's history comes when the stream has answered).
fn json_event(c: &mut Client, kind: &str) -> serde_json::Value {
    loop {
        let line = c.line();
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        if e["type"] == kind {
            return e;
        }
        assert!(
            ["join", "move", "history"].contains(&e["type"].as_str().unwrap_or_default()),
            "{}: {line}",
            c.name
        );
    }
}

fn a_client_in_several_rooms_is_in_each_on_every_node(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a,
        b,
        ca: _ca,
        cb: mut lobby_b,
    } = Pair::start(mode, &nats);
    let mut dev_b = b.client();
    dev_b.send("/join dev");
    until_line(&mut dev_b, "* you are in #dev (1 here)");
    let mut j = a.client();
    let name = j.name.clone();
    until_sees(&mut lobby_b, &name);
    j.send("/format json");
    // (Past the text lines that came before.)
    while !j.line().starts_with('{') {}
    // It adds #dev on node a: #dev on node b hears it joined; the lobby keeps it.
    j.send("/join dev");
    let room = json_event(&mut j, "room");
    assert_eq!(room["rooms"], serde_json::json!(["dev", "lobby"]));
    until_line(&mut dev_b, &format!("* {name} joined"));
    j.send("/say dev across");
    until_line(&mut dev_b, &format!("<{name}> across"));
    j.send("/say lobby in the lobby");
    until_line(&mut lobby_b, &format!("<{name}> in the lobby"));
    // Both rooms count it on node b.
    dev_b.send("/rooms");
    until_line(&mut dev_b, "* rooms (2): #dev (2), #lobby (3)");
    // Node b's lines of each room reach it, named.
    dev_b.send("from dev");
    // (Live, or in #dev's history if the stream's answer to node a came after it: it holds
    // the room's live lines until then and shows each once.)
    loop {
        let line = j.line();
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        let lines = match e["type"].as_str() {
            Some("chat") => vec![e],
            Some("history") => e["lines"].as_array().unwrap().clone(),
            _ => continue,
        };
        if let Some(chat) = lines.iter().find(|l| l["text"] == "from dev") {
            assert_eq!(chat["room"], "dev");
            break;
        }
    }
    // A part is a leave of that room only, everywhere.
    j.send("/part dev");
    json_event(&mut j, "room");
    until_line(&mut dev_b, &format!("* {name} left"));
    lobby_b.send(&format!("/msg {name} still here?"));
    assert_eq!(json_event(&mut j, "private")["text"], "still here?");
    // Quitting from two rooms is one leave in each.
    j.send("/join dev");
    json_event(&mut j, "room");
    until_line(&mut dev_b, &format!("* {name} joined"));
    j.send("/quit");
    let left = format!("* {name} left");
    until_line(&mut dev_b, &left);
    until_line(&mut lobby_b, &left);
    for c in [&mut dev_b, &mut lobby_b] {
        let lines = c.sync();
        assert!(!lines.contains(&left), "{}: told twice: {lines:?}", c.name);
    }
}

/// Sends `/nick NAME` until the answer is `want`, or fails after [`DEADLINE`]: a node learns of
/// an account made on another a few milliseconds after it is made.
fn until_nick_answer(c: &mut Client, name: &str, want: &str) {
    let until = Instant::now() + DEADLINE;
    loop {
        c.send(&format!("/nick {name}"));
        let got = c.sync();
        if got.iter().any(|l| l == want) {
            return;
        }
        assert!(Instant::now() < until, "{}: {got:?}, not {want:?}", c.name);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn accounts_are_the_clusters(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let Pair {
        a,
        mut b,
        mut ca,
        mut cb,
    } = Pair::start(mode, &nats);
    ca.send("/nick alice");
    until_line(&mut ca, "* you are now alice");
    ca.send("/register correct-horse");
    until_line(
        &mut ca,
        "* alice is registered: it is yours (/login alice PASSWORD takes it back)",
    );
    ca.name = "alice".into();
    // Registered on a, refused on b; registering it there is refused too.
    until_nick_answer(
        &mut cb,
        "Alice",
        "! Alice is registered: /login Alice PASSWORD",
    );
    let guest = cb.name.clone();
    // Logged in on b: the connection on a is closed, and everyone hears of it once.
    cb.send("/login alice wrong-horse");
    until_line(&mut cb, "! wrong name or password");
    cb.send("/login alice correct-horse");
    until_line(&mut cb, "* you are now alice");
    until_line(&mut cb, "* logged in as alice");
    cb.name = "alice".into();
    assert_eq!(
        ca.until_closed().last().map(String::as_str),
        Some("! logged in elsewhere")
    );
    let mut watcher = a.client();
    until_sees(&mut watcher, "alice");
    let who = watcher.sync_lines();
    let who = who.last().map(String::as_str).unwrap_or("");
    assert!(
        !who.split([' ', ',']).any(|n| n == guest),
        "{guest} still online: {who:?}"
    );
    // Its password changed on b is the one a checks.
    cb.send("/password correct-horse battery-staple");
    until_line(&mut cb, "* password changed");
    // Away from every node: a message sent on a waits in the cluster.
    drop(cb);
    until_online(&mut watcher, 1);
    watcher.send("/msg alice see you at five");
    until_line(
        &mut watcher,
        "* alice is away: your message waits for their next login",
    );
    let mut alice = a.client();
    // The new password, checked on a once a has heard of it.
    let until = Instant::now() + DEADLINE;
    loop {
        alice.send("/login alice battery-staple");
        let got = alice.line();
        if got == "* you are now alice" {
            break;
        }
        assert_eq!(got, "! wrong name or password");
        assert!(Instant::now() < until, "the new password never reached a");
        std::thread::sleep(Duration::from_millis(1100));
    }
    until_line(&mut alice, "* logged in as alice");
    until_line(&mut alice, "* 1 message while you were away");
    let waited = alice.line();
    assert!(
        waited.starts_with('[')
            && waited.ends_with(&format!(" UTC] *{}* see you at five", watcher.name)),
        "{waited}"
    );
    until_line(&mut alice, "* end of messages");
    // A node started later knows the account.
    drop((alice, watcher));
    assert!(b.stop().success());
    drop(a);
    let c = node(mode, &nats);
    let mut late = c.client();
    late.send("/nick alice");
    until_line(&mut late, "! alice is registered: /login alice PASSWORD");
    late.send("/login alice battery-staple");
    until_line(&mut late, "* you are now alice");
    until_line(&mut late, "* logged in as alice");
    late.send("/unregister battery-staple");
    until_line(&mut late, "* alice is no longer registered");
}

fn an_irc_client_on_one_node_talks_with_an_nc_client_on_another(mode: Mode) {
    let Some(nats) = Nats::start() else { return };
    let a = Server::start_with(mode, &["--cluster", &nats.url(), "--irc-port", "0"]);
    let b = node(mode, &nats);
    let mut bob = b.client();
    bob.send("/nick bob");
    bob.until("* you are now bob");
    let mut ana = Irc::registered(&a, "ana");
    until_sees(&mut bob, "ana");
    // Lines both ways, in the lobby and in a room both join.
    bob.send("hi from b");
    ana.until(":bob!bob@chatd PRIVMSG #lobby :hi from b");
    ana.send("PRIVMSG #lobby :hi from a");
    until_line(&mut bob, "<ana> hi from a");
    ana.send("JOIN #dev");
    ana.until(":chatd 366 ana #dev ");
    bob.send("/join dev");
    ana.until(":bob!bob@chatd JOIN #dev");
    ana.send("PRIVMSG #dev :in dev");
    until_line(&mut bob, "<ana> in dev");
    // Private messages both ways; WHOIS names the other node.
    ana.send("PRIVMSG bob :psst");
    until_line(&mut bob, "*ana* psst");
    bob.send("/msg ana back at you");
    ana.until(":bob!bob@chatd PRIVMSG ana :back at you");
    ana.send("WHOIS bob");
    ana.until(":chatd 311 ana bob bob chatd * :bob");
    assert_eq!(ana.line(), ":chatd 319 ana bob :#dev");
    let node_line = ana.line();
    assert!(
        node_line.starts_with(":chatd 312 ana bob chatd :node ")
            && node_line.ends_with(" of the cluster"),
        "{node_line}"
    );
}
