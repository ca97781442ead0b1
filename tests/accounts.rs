//! Accounts over real sockets, in both concurrency modes: a registered name is its owner's
//! (refused to anyone else, kept across a restart), `/login` takes it (a second login takes it
//! over), private messages wait for an owner who is away, wrong tries are slowed before any
//! hashing, accounts named by `--operators` are operators once logged in, every command's bad
//! input gets its error, and no password ever reaches the log, even at `-vv`.

mod common;

use common::{Client, Mode, Server, TempDir};

both_modes!(
    a_name_registered_is_its_owners_across_a_restart,
    a_second_login_takes_the_name_over,
    a_login_sent_first_is_announced_once,
    private_messages_wait_for_the_owner,
    wrong_tries_are_slowed_and_answered_alike,
    accounts_named_operators_are_operators_and_may_drop_accounts,
    logout_password_and_unregister,
    bad_input_gets_a_clear_error,
    lines_after_login_are_said_under_the_account,
    no_password_reaches_the_log,
);

/// Reads `c`'s lines up to `want`, and returns those before it.
fn until(c: &mut Client, want: &str) -> Vec<String> {
    c.until(want)
}

/// Reads `c`'s lines up to one that starts with `prefix`, and returns it.
fn until_starts(c: &mut Client, prefix: &str) -> String {
    loop {
        let line = c.line();
        if line.starts_with(prefix) {
            return line;
        }
    }
}

/// A client named `name` with an account of that name and `password`.
fn registered(server: &Server, name: &str, password: &str) -> Client {
    let mut c = server.client();
    c.send(&format!("/nick {name}"));
    c.expect(&format!("* you are now {name}"));
    c.send(&format!("/register {password}"));
    c.expect(&format!(
        "* {name} is registered: it is yours (/login {name} PASSWORD takes it back)"
    ));
    c.name = name.to_string();
    c
}

/// Logs `c` in as `name`, up to its `logged in` notice; the lines before it.
fn login(c: &mut Client, name: &str, password: &str) -> Vec<String> {
    c.send(&format!("/login {name} {password}"));
    let before = until(c, &format!("* logged in as {name}"));
    c.name = name.to_string();
    before
}

fn a_name_registered_is_its_owners_across_a_restart(mode: Mode) {
    let dir = TempDir::new(&format!("accounts-restart-{mode:?}"));
    let store = dir.path("chatd.db");
    let args = ["--store", &store];
    let mut server = Server::start_with(mode, &args);
    let alice = registered(&server, "alice", "correct-horse");
    let mut other = server.client();
    other.send("/nick Alice");
    other.expect("! Alice is registered: /login Alice PASSWORD");
    drop(alice);
    assert!(server.stop().success());

    let server = Server::start_with(mode, &args);
    let mut other = server.client();
    other.send("/nick alice");
    other.expect("! alice is registered: /login alice PASSWORD");
    other.send("/login alice wrong-horse");
    other.expect("! wrong name or password");
    other.send("/login ALICE correct-horse");
    let before = until(&mut other, "* logged in as alice");
    assert!(
        before.iter().any(|l| l == "* you are now alice"),
        "{before:?}"
    );
    // Its name is the account's, as registered.
    other.send("/who");
    let who = until_starts(&mut other, "* online in #lobby");
    assert!(who.contains("alice"), "{who}");
    other.send("/nick bob");
    other.expect("! you are logged in as alice: /logout first");
}

fn a_second_login_takes_the_name_over(mode: Mode) {
    let server = Server::start(mode);
    let mut first = registered(&server, "alice", "correct-horse");
    let mut watcher = server.client();
    watcher.sync();
    let mut second = server.client();
    second.sync();
    let guest = second.name.clone();
    login(&mut second, "alice", "correct-horse");
    assert_eq!(
        first.until_closed().last().map(String::as_str),
        Some("! logged in elsewhere")
    );
    until(&mut watcher, "* alice left (logged in elsewhere)");
    until(&mut watcher, &format!("* {guest} is now alice"));
}

fn a_login_sent_first_is_announced_once(mode: Mode) {
    let server = Server::start(mode);
    let mut watcher = server.client();
    watcher.sync();
    drop(registered(&server, "alice", "correct-horse"));
    until(&mut watcher, "* alice left");
    // Its first line: the room hears of alice, once, and never of the guest it was.
    let mut alice = server.connect();
    alice.send("/login alice correct-horse");
    assert!(alice.line().starts_with("* welcome"));
    until(&mut alice, "* logged in as alice");
    alice.name = "alice".into();
    assert_eq!(watcher.sync_with(&mut alice), ["* alice joined"]);
    // A wrong one: announced once it is answered, as the guest it stays.
    let mut guest = server.connect();
    guest.send("/login alice wrong-horse");
    guest.name = common::welcome_name(&guest.line());
    guest.expect("! wrong name or password");
    assert_eq!(
        watcher.sync_with(&mut guest),
        [format!("* {} joined", guest.name)]
    );
}

fn private_messages_wait_for_the_owner(mode: Mode) {
    let server = Server::start(mode);
    let alice = registered(&server, "alice", "correct-horse");
    let mut bob = server.client();
    bob.send("/nick bob");
    bob.expect("* you are now bob");
    drop(alice);
    until(&mut bob, "* alice left");
    bob.send("/msg alice are you there?");
    bob.expect("* alice is away: your message waits for their next login");
    bob.send("/msg alice second one");
    bob.expect("* alice is away: your message waits for their next login");
    bob.send("/msg nobody hello");
    bob.expect("! no such user: nobody");
    let mut alice = server.client();
    let before = login(&mut alice, "alice", "correct-horse");
    assert!(
        before.iter().any(|l| l == "* you are now alice"),
        "{before:?}"
    );
    alice.expect("* 2 messages while you were away");
    let first = alice.line();
    assert!(
        first.starts_with('[') && first.ends_with(" UTC] *bob* are you there?"),
        "{first}"
    );
    let second = alice.line();
    assert!(second.ends_with(" UTC] *bob* second one"), "{second}");
    alice.expect("* end of messages");
    // Given once.
    alice.send("/logout");
    until(&mut alice, "* logged out of alice");
    login(&mut alice, "alice", "correct-horse");
    let after = alice.sync();
    assert!(after.is_empty(), "{after:?}");
}

fn wrong_tries_are_slowed_and_answered_alike(mode: Mode) {
    let server = Server::start(mode);
    // Kept connected: its leave would come between the guesser's lines.
    let _alice = registered(&server, "alice", "correct-horse");
    let mut guesser = server.client_from("127.0.0.7");
    // A wrong password and a name no one registered: the same answer.
    guesser.send("/login nobody whatever1");
    guesser.expect("! wrong name or password");
    for _ in 0..2 {
        guesser.send("/login alice whatever1");
        guesser.expect("! wrong name or password");
    }
    // The fourth from this address waits, not even checked, the right password included.
    guesser.send("/login alice correct-horse");
    let wait = guesser.line();
    assert!(
        wait.starts_with("! too many wrong tries; try again in "),
        "{wait}"
    );
    // The account had two wrong tries, fewer than it takes to slow it: its owner, from
    // another address, logs in.
    let mut owner = server.client_from("127.0.0.8");
    login(&mut owner, "alice", "correct-horse");
}

fn accounts_named_operators_are_operators_and_may_drop_accounts(mode: Mode) {
    let server = Server::start_with(mode, &["--operators", "Root,ops"]);
    let mut root = registered(&server, "root", "the-root-pw");
    root.expect("* you are now an operator");
    let mut bob = registered(&server, "bob", "bobs-password");
    bob.send("/drop root");
    bob.expect("! not an operator");
    root.send("/drop bob");
    until(&mut root, "* account bob dropped");
    bob.expect("* your account bob was dropped by root");
    root.send("/drop bob");
    root.expect("! no such account: bob");
    // bob keeps the name, unowned: anyone may register it again.
    bob.send("/register bobs new password");
    bob.expect("! usage: /register PASSWORD");
    bob.send("/register bobs-new-pw");
    bob.expect("* bob is registered: it is yours (/login bob PASSWORD takes it back)");
    // Logged out, an account operator is an operator no more.
    root.send("/logout");
    until(&mut root, "* logged out of root");
    root.send("/drop bob");
    until(&mut root, "! not an operator");
}

fn logout_password_and_unregister(mode: Mode) {
    let server = Server::start(mode);
    let mut alice = registered(&server, "alice", "correct-horse");
    alice.send("/password wrong-old new-horse");
    alice.expect("! wrong password");
    alice.send("/password correct-horse tiny");
    alice.expect("! a password is 8 to 256 bytes, with no spaces");
    alice.send("/password correct-horse new-horse");
    alice.expect("* password changed");
    // Back to a guest name on logout.
    alice.send("/logout");
    alice.expect("* logged out of alice");
    let now = alice.line();
    assert!(now.starts_with("* you are now guest"), "{now}");
    alice.send("/logout");
    alice.expect("! you are not logged in");
    alice.send("/login alice correct-horse");
    alice.expect("! wrong name or password");
    login(&mut alice, "alice", "new-horse");
    alice.send("/unregister nope-nope");
    alice.expect("! wrong password");
    alice.send("/unregister new horse");
    alice.expect("! usage: /unregister PASSWORD");
    alice.send("/unregister new-horse");
    alice.expect("* alice is no longer registered");
    // The name stays, unowned: another may register it once it is free.
    alice.send("/nick alice2");
    alice.expect("* you are now alice2");
    let mut other = server.client();
    other.send("/nick alice");
    other.expect("* you are now alice");
}

fn bad_input_gets_a_clear_error(mode: Mode) {
    let server = Server::start(mode);
    let mut c = server.client();
    for (line, answer) in [
        ("/register", "! usage: /register PASSWORD"),
        ("/register two words", "! usage: /register PASSWORD"),
        (
            "/register longenough",
            "! a guest name cannot be registered: /nick NAME first",
        ),
        ("/login", "! usage: /login NAME PASSWORD"),
        ("/login alice", "! usage: /login NAME PASSWORD"),
        (
            "/login bad!name password",
            "! invalid name: bad!name (1 to 32 letters, digits, _ or -)",
        ),
        ("/logout now", "! usage: /logout"),
        ("/logout", "! you are not logged in"),
        ("/password", "! usage: /password OLD NEW"),
        ("/password old-one new-one", "! you are not logged in"),
        ("/unregister", "! usage: /unregister PASSWORD"),
        ("/unregister something", "! you are not logged in"),
        ("/drop", "! usage: /drop NAME"),
        ("/drop alice", "! not an operator"),
    ] {
        c.send(line);
        c.expect(answer);
    }
    c.send("/nick carol");
    c.expect("* you are now carol");
    c.send("/register short");
    c.expect("! a password is 8 to 256 bytes, with no spaces");
    c.send(&format!("/register {}", "x".repeat(257)));
    c.expect("! a password is 8 to 256 bytes, with no spaces");
    c.send("/register longenough");
    c.expect("* carol is registered: it is yours (/login carol PASSWORD takes it back)");
    c.send("/register longenough");
    c.expect("! you are logged in as carol already");
}

fn lines_after_login_are_said_under_the_account(mode: Mode) {
    let server = Server::start(mode);
    drop(registered(&server, "alice", "correct-horse"));
    let mut bob = server.client();
    bob.sync();
    let mut c = server.client();
    // In one write: the line waits for the login's answer.
    c.send_bytes(b"/login alice correct-horse\nhello from alice\n");
    until(&mut c, "* logged in as alice");
    until(&mut bob, "<alice> hello from alice");
}

fn no_password_reaches_the_log(mode: Mode) {
    let dir = TempDir::new(&format!("accounts-log-{mode:?}"));
    let log = dir.0.join("chatd.log");
    let store = dir.path("chatd.db");
    let server = Server::start_logged(mode, &["-vv", "--store", &store], &log);
    let secrets = [
        "s3cret-Register",
        "s3cret-Wrong",
        "s3cret-New",
        "s3cret-Gone",
    ];
    let mut alice = registered(&server, "alice", secrets[0]);
    alice.send(&format!("/login alice {}", secrets[1]));
    alice.expect("! wrong name or password");
    alice.send(&format!("/password {} {}", secrets[0], secrets[2]));
    alice.expect("* password changed");
    alice.send(&format!("/unregister {}", secrets[3]));
    alice.expect("! wrong password");
    alice.send(&format!("/unregister {}", secrets[2]));
    alice.expect("* alice is no longer registered");
    drop(alice);
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("account alice registered"),
        "the log is read: {text}"
    );
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in the log");
    }
    let stored = std::fs::read(&store).unwrap_or_default();
    let stored = String::from_utf8_lossy(&stored);
    for secret in secrets {
        assert!(!stored.contains(secret), "{secret} in the store");
    }
}
