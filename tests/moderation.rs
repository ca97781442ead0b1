//! Who may be here: operators (`/oper`) who kick, ban and mute, and a server password
//! (`/pass`). Both modes. Clients that must be told apart by address connect from other
//! loopback addresses (127.0.0.2 and up), all on this machine.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Client, DEADLINE, Mode, Server, chat, finish};

both_modes!(
    oper_needs_its_password_and_others_are_refused,
    kick_tells_why_and_closes_even_a_client_that_stays,
    ban_holds_against_reconnects_but_not_against_operators,
    a_ban_expires,
    mute_refuses_lines_and_unmute_lifts_it,
    the_password_gate,
    a_throttled_oper_at_the_gate_is_told_to_wait_and_uses_no_try,
    a_muted_clients_refused_move_is_not_its_move_of_the_minute,
    a_pass_and_a_nick_in_one_write_are_announced_once,
    chat_gives_the_password_from_a_file,
    operator_actions_are_logged,
);

/// A directory of the test's own, with the operators' and the server's password files.
struct Secrets {
    dir: PathBuf,
}

impl Secrets {
    fn new(tag: &str) -> Secrets {
        let dir = std::env::temp_dir().join(format!("chatd-secrets-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("oper"), "op-secret\n").unwrap();
        std::fs::write(dir.join("pass"), "let me in\n").unwrap();
        Secrets { dir }
    }

    fn oper(&self) -> String {
        self.dir.join("oper").display().to_string()
    }

    fn pass(&self) -> String {
        self.dir.join("pass").display().to_string()
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(mode: Mode, secrets: &Secrets, extra: &[&str]) -> Server {
    let oper = secrets.oper();
    let mut args = vec!["--oper-password-file", &oper];
    args.extend_from_slice(extra);
    Server::start_with(mode, &args)
}

fn make_oper(c: &mut Client) {
    c.send("/oper op-secret");
    c.expect("* you are now an operator");
}

fn oper_needs_its_password_and_others_are_refused(mode: Mode) {
    let secrets = Secrets::new(&format!("oper-{mode:?}"));
    let server = start(mode, &secrets, &[]);
    let mut a = server.client();
    let mut b = server.client();
    a.expect(&format!("* {} joined", b.name));
    for cmd in [
        "/kick x",
        "/ban x",
        "/unban 127.0.0.9",
        "/bans",
        "/mute x",
        "/unmute x",
    ] {
        a.send(cmd);
        a.expect("! not an operator");
    }
    a.send("/oper wrong");
    a.expect("! wrong password");
    make_oper(&mut a);
    a.send("/bans");
    a.expect("* bans (0)");
    a.send("/kick nobody");
    a.expect("! no such user: nobody");
    // b heard none of it.
    let before = b.sync_with(&mut a);
    assert!(before.is_empty(), "{before:?}");
}

fn kick_tells_why_and_closes_even_a_client_that_stays(mode: Mode) {
    let secrets = Secrets::new(&format!("kick-{mode:?}"));
    let server = start(mode, &secrets, &[]);
    let mut op = server.client();
    let mut troll = server.client();
    let mut other = server.client();
    op.sync();
    troll.sync();
    other.sync();
    make_oper(&mut op);
    let threads_before = server.threads();
    op.send(&format!("/kick {} enough of that", troll.name));
    let seen = format!(
        "* {} was kicked by {} (enough of that)",
        troll.name, op.name
    );
    other.expect(&seen);
    op.expect(&seen);
    // The troll is told why, then the server closes, though the troll keeps its socket open.
    assert_eq!(
        troll.until_closed(),
        [format!("! kicked by {} (enough of that)", op.name)]
    );
    other.send("/who");
    let who = other.line();
    assert!(who.starts_with("* online in #lobby (2): "), "{who}");
    assert!(!who.contains(&troll.name), "{who}");
    if mode == Mode::Threads {
        // Its thread ends: the server cuts a kicked client that does not close.
        let until = Instant::now() + DEADLINE;
        while server.threads() >= threads_before {
            assert!(Instant::now() < until, "the kicked client's thread stayed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(troll);
}

fn ban_holds_against_reconnects_but_not_against_operators(mode: Mode) {
    let secrets = Secrets::new(&format!("ban-{mode:?}"));
    let server = start(mode, &secrets, &[]);
    let mut op = server.client();
    let mut flooder = server.client_from("127.0.0.2");
    let mut friend = server.client_from("127.0.0.2");
    // Someone behind the same address as the flooder, who is an operator.
    let mut op2 = server.client_from("127.0.0.2");
    let mut bystander = server.client_from("127.0.0.3");
    for c in [&mut op, &mut flooder, &mut friend, &mut op2, &mut bystander] {
        c.sync();
    }
    make_oper(&mut op);
    make_oper(&mut op2);
    op.send(&format!("/ban {} 5", flooder.name));
    op.line();
    op.line();
    op.expect("* 127.0.0.2 is banned for 5 minutes");
    let told = format!("! banned by {} for 5 minutes", op.name);
    assert_eq!(flooder.until_closed(), std::slice::from_ref(&told));
    assert_eq!(friend.until_closed(), [told]);
    let mut seen = bystander.sync_with(&mut op);
    seen.sort();
    let mut want = vec![
        format!("* {} was banned by {} (5 minutes)", flooder.name, op.name),
        format!("* {} was banned by {} (5 minutes)", friend.name, op.name),
    ];
    want.sort();
    assert_eq!(seen, want);
    // The operator behind that address stays, and can still talk.
    op2.send("still here");
    bystander.expect(&format!("<{}> still here", op2.name));

    // Coming back from there: told and closed, at the first line or by itself.
    let mut again = server.connect_from("127.0.0.2");
    assert_eq!(again.line(), "! banned (5 more minutes)");
    again.send("hello?");
    assert_eq!(again.until_closed(), ["! banned"]);
    let mut quiet = server.connect_from("127.0.0.2");
    assert_eq!(quiet.until_closed(), ["! banned (5 more minutes)"]);
    // No one heard of those.
    assert!(bystander.sync_with(&mut op).is_empty());

    // An operator from there gets in with the operators' password first.
    let mut op3 = server.connect_from("127.0.0.2");
    assert_eq!(op3.line(), "! banned (5 more minutes)");
    op3.send("/oper op-secret");
    assert!(op3.line().starts_with("* welcome "));
    // The lobby's history comes between.
    while op3.line() != "* you are now an operator" {}

    // Listed, lifted.
    op.sync();
    op.send("/bans");
    op.expect(&format!("* bans (1): 127.0.0.2 (5 min, by {})", op.name));
    op.send("/unban 127.0.0.2");
    op.expect("* 127.0.0.2 is no longer banned");
    let back = server.client_from("127.0.0.2");
    assert!(!back.name.is_empty());
}

fn a_ban_expires(mode: Mode) {
    let secrets = Secrets::new(&format!("expiry-{mode:?}"));
    let server = start(mode, &secrets, &[]);
    let mut op = server.client();
    let mut x = server.client_from("127.0.0.4");
    op.sync();
    make_oper(&mut op);
    let banned_at = Instant::now();
    op.send(&format!("/ban {} 1", x.name));
    op.expect(&format!(
        "* {} was banned by {} (1 minute)",
        x.name, op.name
    ));
    op.expect("* 127.0.0.4 is banned for 1 minute");
    x.until_closed();
    let mut refused = server.connect_from("127.0.0.4");
    assert_eq!(refused.line(), "! banned (1 more minute)");
    // Time passing is what this test is about: nothing to wait on but the clock.
    let over = banned_at + Duration::from_secs(61);
    std::thread::sleep(over.saturating_duration_since(Instant::now()));
    let mut back = server.connect_from("127.0.0.4");
    let welcome = back.line();
    assert!(welcome.starts_with("* welcome "), "{welcome}");
}

fn mute_refuses_lines_and_unmute_lifts_it(mode: Mode) {
    let secrets = Secrets::new(&format!("mute-{mode:?}"));
    let server = start(mode, &secrets, &[]);
    let mut c = server.clients(3);
    make_oper(&mut c[0]);
    let (op_name, loud_name) = (c[0].name.clone(), c[1].name.clone());
    c[0].send(&format!("/mute {loud_name}"));
    c[0].expect(&format!("* {loud_name} is muted"));
    c[1].expect(&format!("* you were muted by {op_name}"));
    for line in [
        "spam".to_string(),
        "/me spams".into(),
        format!("/msg {} psst", c[2].name),
    ] {
        c[1].send(&line);
        c[1].expect("! you are muted");
    }
    // The refusals came back, so those lines were handled; what they caused for the listener
    // would come before the operator's barrier.
    let (op, listener) = Client::pair(&mut c, 0, 2);
    assert!(listener.sync_with(op).is_empty(), "nothing got through");
    c[0].send(&format!("/unmute {loud_name}"));
    c[0].expect(&format!("* {loud_name} is unmuted"));
    c[1].expect(&format!("* you were unmuted by {op_name}"));
    c[1].send("back");
    c[2].expect(&format!("<{loud_name}> back"));
}

fn the_password_gate(mode: Mode) {
    let secrets = Secrets::new(&format!("pass-{mode:?}"));
    let pass = secrets.pass();
    let server = start(mode, &secrets, &["--password-file", &pass]);
    let mut first = server.connect();
    first.expect("* password required: send /pass PASSWORD");
    for line in ["hello", "/nick bob", "/who"] {
        first.send(line);
        first.expect("! password required");
    }
    first.send("/pass let me in");
    first.name = common::welcome_name(&first.line());
    // Three wrong tries close the connection; no one hears of it.
    let mut guesser = server.connect_from("127.0.0.5");
    guesser.expect("* password required: send /pass PASSWORD");
    guesser.send("/pass a");
    guesser.expect("! wrong password (2 tries left)");
    guesser.send("/pass b");
    guesser.expect("! wrong password (1 try left)");
    guesser.send("/pass c");
    assert_eq!(guesser.until_closed(), ["! wrong password"]);
    // The right one lets in; the others hear of it with its first words (it may log in first).
    let mut second = server.connect();
    second.expect("* password required: send /pass PASSWORD");
    second.send("/pass let me in");
    second.name = common::welcome_name(&second.line());
    second.send("hi");
    first.expect(&format!("* {} joined", second.name));
    first.expect(&format!("<{}> hi", second.name));
}

/// `/pass P` and `/nick N` sent together: the others hear of one newcomer, N, never of its
/// guest name (in both modes, whatever reads the lines and however they are batched).
fn a_pass_and_a_nick_in_one_write_are_announced_once(mode: Mode) {
    let secrets = Secrets::new(&format!("passnick-{mode:?}"));
    let pass = secrets.pass();
    let server = start(mode, &secrets, &["--password-file", &pass]);
    let mut watcher = server.connect();
    watcher.expect("* password required: send /pass PASSWORD");
    watcher.send("/pass let me in");
    watcher.name = common::welcome_name(&watcher.line());
    let mut kept = Vec::new();
    for i in 0..5 {
        let mut quick = server.connect();
        quick.send_bytes(format!("/pass let me in\n/nick quick{i}\n").as_bytes());
        quick.expect("* password required: send /pass PASSWORD");
        assert!(quick.line().starts_with("* welcome guest"));
        quick.expect(&format!("* you are now quick{i}"));
        quick.name = format!("quick{i}");
        assert_eq!(
            watcher.sync_with(&mut quick),
            [format!("* quick{i} joined")]
        );
        kept.push(quick);
    }
}

fn chat_gives_the_password_from_a_file(mode: Mode) {
    let secrets = Secrets::new(&format!("chatpass-{mode:?}"));
    let pass = secrets.pass();
    let server = start(mode, &secrets, &["--password-file", &pass]);
    let mut watcher = server.connect();
    watcher.expect("* password required: send /pass PASSWORD");
    watcher.send("/pass let me in");
    watcher.line();
    let port = server.addr.port();
    let mut child = chat(port, &["--name", "bob", "--password-file", &pass])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = finish(child);
    assert!(out.status.success(), "{out:?}");
    watcher.expect_arrival("bob");
    watcher.expect("<bob> hello");
    // Without it: one clear line.
    let child = chat(port, &[]).stdin(Stdio::piped()).spawn().unwrap();
    let out = finish(child);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("asks for a password: use --password-file"),
        "{stderr}"
    );
}

fn operator_actions_are_logged(mode: Mode) {
    let secrets = Secrets::new(&format!("log-{mode:?}"));
    let log = secrets.dir.join("chatd.log");
    let oper = secrets.oper();
    let server = Server::start_logged(mode, &["--oper-password-file", &oper], &log);
    let mut op = server.client();
    let mut a = server.client_from("127.0.0.6");
    let mut b = server.client_from("127.0.0.7");
    for c in [&mut op, &mut a, &mut b] {
        c.sync();
    }
    op.send("/oper nope");
    op.expect("! wrong password");
    make_oper(&mut op);
    op.send(&format!("/mute {}", a.name));
    op.expect(&format!("* {} is muted", a.name));
    op.send(&format!("/kick {} bye", a.name));
    op.line();
    op.send(&format!("/ban {} 3", b.name));
    op.line();
    op.expect("* 127.0.0.7 is banned for 3 minutes");
    op.send("/unban 127.0.0.7");
    op.expect("* 127.0.0.7 is no longer banned");
    let text = std::fs::read_to_string(&log).unwrap();
    let (o, an, bn) = (&op.name, &a.name, &b.name);
    for want in [
        format!("{o} (127.0.0.1): wrong operator password"),
        format!("{o} (127.0.0.1) is now an operator"),
        format!("{o} muted {an} (127.0.0.6)"),
        format!("{o} kicked {an} (127.0.0.6): bye"),
        format!("{o} banned {bn} (127.0.0.7) for 3 minutes"),
        format!("{o} unbanned 127.0.0.7"),
    ] {
        assert!(text.contains(&want), "{want:?} not in the log:\n{text}");
    }
}

/// Wrong operator passwords from one address past the free ones: a further `/oper` at the
/// password gate, the right one included, is told to wait, and is not a try (the connection is
/// not closed after the gate's three).
fn a_throttled_oper_at_the_gate_is_told_to_wait_and_uses_no_try(mode: Mode) {
    let secrets = Secrets::new(&format!("throttled-{mode:?}"));
    let pass = secrets.pass();
    let server = start(
        mode,
        &secrets,
        &["--password-file", &pass, "--exempt", "none"],
    );
    for _ in 0..3 {
        let mut guesser = server.connect_from("127.0.0.6");
        guesser.expect("* password required: send /pass PASSWORD");
        guesser.send("/oper nope");
        let answer = guesser.line();
        assert!(answer.starts_with("! "), "{answer}");
    }
    let mut c = server.connect_from("127.0.0.6");
    c.expect("* password required: send /pass PASSWORD");
    for _ in 0..5 {
        c.send("/oper op-secret");
        let answer = c.line();
        assert!(
            answer.starts_with("! too many wrong passwords from 127.0.0.6; try again in "),
            "{answer}"
        );
    }
}

/// A muted client's move that is refused (no room left to make) leaves it its one move of the
/// minute.
fn a_muted_clients_refused_move_is_not_its_move_of_the_minute(mode: Mode) {
    let secrets = Secrets::new(&format!("mutedmove-{mode:?}"));
    let server = start(mode, &secrets, &["--max-rooms", "2"]);
    let mut c = server.clients(2);
    make_oper(&mut c[0]);
    let (op, muted) = (c[0].name.clone(), c[1].name.clone());
    c[0].send("/join full");
    c[0].expect("* you are in #full (1 here)");
    c[0].send(&format!("/mute {muted}"));
    c[0].expect(&format!("* {muted} is muted"));
    let said = c[1].sync();
    assert!(
        said.contains(&format!("* you were muted by {op}")),
        "{said:?}"
    );
    c[1].send("/join another");
    c[1].expect("! too many rooms (max 2)");
    c[1].send("/join full");
    c[1].expect("* you are in #full (2 here)");
    c[1].send("/part");
    c[1].expect("! you are muted: one room move a minute");
}
