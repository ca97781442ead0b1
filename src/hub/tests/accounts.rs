//! Accounts in the hub, with a pool that answers when the test says: lines held while a
//! password is checked, then said under the account; answers late, stale or never; a full
//! pool; messages that wait; names kept for their owners.

use super::*;

/// Gives the hub every answer the pool has, and those of the work that held lines asked
/// for once they went on.
fn answer(h: &mut Hub, r: &mut Recorder) {
    while !r.hashed.is_empty() {
        for hashed in std::mem::take(&mut r.hashed) {
            h.handle(Event::Hashed(&hashed), r);
        }
    }
}

/// Client `id` named `name`, registered with `password`; its lines taken.
fn registered(h: &mut Hub, r: &mut Recorder, id: ClientId, name: &str, password: &str) {
    say(h, r, id, &format!("/nick {name}"));
    say(h, r, id, &format!("/register {password}"));
    answer(h, r);
    let got = r.take(id);
    assert!(
        got.last()
            .is_some_and(|l| l.starts_with(&format!("* {name} is registered"))),
        "{got:?}"
    );
    // What the others saw of it.
    r.sent.clear();
}

#[test]
fn lines_wait_for_the_login_and_are_said_under_the_account() {
    let (mut h, mut r) = room(3);
    registered(&mut h, &mut r, 0, "alice", "secret-1");
    say(&mut h, &mut r, 0, "/quit");
    r.sent.clear();
    say(&mut h, &mut r, 1, "/login alice secret-1");
    say(&mut h, &mut r, 1, "hello");
    // Nothing said yet: the line waits for the answer.
    assert!(r.take(2).iter().all(|l| !l.contains("hello")));
    answer(&mut h, &mut r);
    let seen = r.take(2);
    assert_eq!(seen, ["* guest2 is now alice", "<alice> hello"]);
    assert_eq!(
        r.take(1),
        ["* you are now alice", "* logged in as alice"],
        "the line is not echoed to its sender"
    );
    // Anyone else is refused the name, and the owner cannot drop it by /nick.
    say(&mut h, &mut r, 2, "/nick ALICE");
    assert_eq!(r.take(2), ["! ALICE is registered: /login ALICE PASSWORD"]);
    say(&mut h, &mut r, 1, "/nick bob");
    assert_eq!(r.take(1), ["! you are logged in as alice: /logout first"]);
}

#[test]
fn a_pool_that_does_not_answer_lets_the_lines_go_on() {
    let (mut h, mut r) = room(2);
    registered(&mut h, &mut r, 0, "alice", "secret-1");
    say(&mut h, &mut r, 1, "/login alice secret-1");
    say(&mut h, &mut r, 1, "still here");
    let late = std::mem::take(&mut r.hashed);
    let later = h.next_deadline().expect("the wait has a deadline");
    h.tick(later, &mut r);
    assert_eq!(
        r.take(1),
        ["! the server did not check the password in time; try again"]
    );
    assert!(r.take(0).contains(&"<guest2> still here".to_string()));
    // The late answer is dropped: no login.
    for hashed in late {
        h.handle(Event::Hashed(&hashed), &mut r);
    }
    assert!(r.take(1).is_empty());
    assert_eq!(h.name(1), Some("guest2"));
}

#[test]
fn an_answer_for_a_client_gone_is_not_given_to_the_next_with_its_id() {
    let (mut h, mut r) = room(2);
    registered(&mut h, &mut r, 0, "alice", "secret-1");
    say(&mut h, &mut r, 0, "/quit");
    say(&mut h, &mut r, 1, "/login alice secret-1");
    h.handle(Event::Disconnected(1, Leave::Closed), &mut r);
    r.closed.remove(&1);
    h.handle(Event::Connected(1, LOCAL), &mut r);
    h.end_turn(&mut r);
    r.take(1);
    answer(&mut h, &mut r);
    assert!(r.take(1).is_empty());
    assert_ne!(h.name(1), Some("alice"));
}

#[test]
fn a_full_pool_is_said_at_once_and_a_wrong_name_is_answered_as_a_wrong_password() {
    let (mut h, mut r) = room(2);
    registered(&mut h, &mut r, 0, "alice", "secret-1");
    r.pool_busy = true;
    say(&mut h, &mut r, 1, "/login alice secret-1");
    assert_eq!(r.take(1), ["! busy, try again"]);
    r.pool_busy = false;
    say(&mut h, &mut r, 1, "/login nobody secret-1");
    say(&mut h, &mut r, 1, "/login alice wrong-one");
    answer(&mut h, &mut r);
    assert_eq!(
        r.take(1),
        ["! wrong name or password", "! wrong name or password"]
    );
    // The third wrong try from this address: the next waits, checked or not.
    say(&mut h, &mut r, 1, "/login alice wrong-two");
    answer(&mut h, &mut r);
    say(&mut h, &mut r, 1, "/login alice secret-1");
    let got = r.take(1);
    assert!(
        got.last()
            .is_some_and(|l| l.starts_with("! too many wrong tries; try again in ")),
        "{got:?}"
    );
    assert!(r.hashed.is_empty(), "a try that waits costs no hash");
}

#[test]
fn messages_wait_for_the_owner_and_are_given_once() {
    let (mut h, mut r) = room(2);
    registered(&mut h, &mut r, 0, "alice", "secret-1");
    say(&mut h, &mut r, 0, "/quit");
    say(&mut h, &mut r, 1, "/nick bob");
    r.take(1);
    for n in 0..MAX_WAITING + 2 {
        say(&mut h, &mut r, 1, &format!("/msg alice note {n}"));
    }
    let told = r.take(1);
    assert_eq!(told.len(), MAX_WAITING + 2);
    assert!(
        told.iter()
            .all(|l| l == "* alice is away: your message waits for their next login")
    );
    r.closed.remove(&0);
    h.handle(Event::Connected(0, LOCAL), &mut r);
    h.end_turn(&mut r);
    say(&mut h, &mut r, 0, "/login alice secret-1");
    answer(&mut h, &mut r);
    let got = r.take(0);
    let from = got
        .iter()
        .position(|l| l == &format!("* {MAX_WAITING} messages while you were away"))
        .expect("the count");
    // The oldest two went to make room.
    assert!(
        got[from + 1].ends_with("] *bob* note 2"),
        "{}",
        got[from + 1]
    );
    assert!(got[from + MAX_WAITING].ends_with(&format!("] *bob* note {}", MAX_WAITING + 1)));
    assert_eq!(got[from + MAX_WAITING + 1], "* end of messages");
    say(&mut h, &mut r, 0, "/logout");
    say(&mut h, &mut r, 0, "/login alice secret-1");
    answer(&mut h, &mut r);
    assert!(
        r.take(0)
            .iter()
            .all(|l| !l.contains("messages while you were away"))
    );
}

#[test]
fn an_address_registers_at_most_so_many_accounts_an_hour() {
    let n = crate::hub::accounts::REGISTRATIONS_PER_ADDRESS as usize;
    let (mut h, mut r) = room(n + 1);
    for id in 0..n {
        registered(&mut h, &mut r, id, &format!("user{id}"), "password-1");
    }
    say(&mut h, &mut r, n, "/nick one-more");
    say(&mut h, &mut r, n, "/register password-1");
    assert_eq!(
        r.take(n),
        [
            "* you are now one-more".to_string(),
            format!(
                "! too many accounts registered from your address; try again later (at most {n} an hour)"
            )
        ]
    );
    assert!(r.hashed.is_empty(), "refused before any hashing");
}

/// A hub whose newcomers wait [`ANNOUNCE_GRACE`] to be announced (`chatd`'s), with `n`
/// clients announced already, and `alice` registered with `secret-1` and gone.
fn graced(n: usize) -> (Hub, Recorder, Instant) {
    let config = HubConfig {
        announce_grace: ANNOUNCE_GRACE,
        ..config()
    };
    let (mut h, mut r) = room_with(config, 0);
    let mut now = t0();
    for id in 0..n {
        h.handle(Event::Connected(id, LOCAL), &mut r);
        now += ANNOUNCE_GRACE;
        h.tick(now, &mut r);
    }
    registered(&mut h, &mut r, 0, "alice", "secret-1");
    say(&mut h, &mut r, 0, "/logout");
    r.sent.clear();
    (h, r, now)
}

#[test]
fn a_login_sent_at_once_is_announced_once_under_the_account() {
    let (mut h, mut r, now) = graced(2);
    // alice's name is free: client 0 logged out of it (and is guest3).
    h.handle(Event::Connected(5, LOCAL), &mut r);
    say(&mut h, &mut r, 5, "/login alice secret-1");
    h.end_turn(&mut r);
    h.tick(now + ANNOUNCE_GRACE, &mut r);
    assert!(
        r.take(1).is_empty(),
        "not announced while its login is checked"
    );
    answer(&mut h, &mut r);
    h.end_turn(&mut r);
    assert_eq!(r.take(1), ["* alice joined"]);
    let own = r.take(5);
    assert!(own.contains(&"* logged in as alice".to_string()), "{own:?}");
}

#[test]
fn a_wrong_login_at_once_is_announced_under_the_guest_name() {
    let (mut h, mut r, _) = graced(2);
    h.handle(Event::Connected(5, LOCAL), &mut r);
    say(&mut h, &mut r, 5, "/login alice wrong-one");
    answer(&mut h, &mut r);
    h.end_turn(&mut r);
    assert_eq!(r.take(1), ["* guest4 joined"]);
}

#[test]
fn a_newcomer_is_announced_before_its_first_words_or_when_its_grace_is_over() {
    let (mut h, mut r, now) = graced(2);
    h.handle(Event::Connected(5, LOCAL), &mut r);
    h.handle(Event::Connected(6, LOCAL), &mut r);
    h.end_turn(&mut r);
    assert!(r.take(1).is_empty(), "quiet for now");
    assert_eq!(h.next_deadline(), Some(now + ANNOUNCE_GRACE));
    say(&mut h, &mut r, 5, "hello");
    assert_eq!(r.take(1), ["* guest4 joined", "<guest4> hello"]);
    // A quiet one hears of the others all the same.
    let six = r.take(6);
    assert!(
        six.ends_with(&["* guest4 joined".into(), "<guest4> hello".into()]),
        "{six:?}"
    );
    h.tick(now + ANNOUNCE_GRACE, &mut r);
    assert_eq!(r.take(1), ["* guest5 joined"]);
    // One that leaves while quiet was never news, and neither is its leaving.
    h.handle(Event::Connected(7, LOCAL), &mut r);
    h.handle(Event::Disconnected(7, Leave::Closed), &mut r);
    h.tick(now + ANNOUNCE_GRACE * 3, &mut r);
    h.end_turn(&mut r);
    assert!(r.take(1).is_empty());
}

/// Answers the cluster's side of the accounts' work of every node: accounts made (against
/// the names made so far), names taken (always), and each owner's waiting messages (those kept
/// by any node, given once).
fn settle_accounts(nodes: &mut [&mut Node], made: &mut HashSet<String>) -> bool {
    let mut moved = false;
    let waiting: Vec<(String, String, String)> = nodes
        .iter_mut()
        .flat_map(|n| std::mem::take(&mut n.out.waiting_kept))
        .collect();
    let mut waiting = waiting;
    for n in nodes.iter_mut() {
        answer(&mut n.hub, &mut n.out);
        for (id, serial, name) in std::mem::take(&mut n.out.creates) {
            moved = true;
            let claim = if made.insert(name.to_ascii_lowercase()) {
                Claim::Granted
            } else {
                Claim::Taken
            };
            n.hub.handle(Event::Answered(id, serial, claim), &mut n.out);
        }
        for (id, serial, _) in std::mem::take(&mut n.out.takes) {
            moved = true;
            n.hub
                .handle(Event::Answered(id, serial, Claim::Granted), &mut n.out);
        }
        for (id, name) in std::mem::take(&mut n.out.waiting_read) {
            moved = true;
            let (mine, rest): (Vec<_>, Vec<_>) = waiting
                .into_iter()
                .partition(|(_, to, _)| to.eq_ignore_ascii_case(&name));
            waiting = rest;
            let mine: Vec<Waiting> = mine
                .into_iter()
                .map(|(from, _, text)| Waiting {
                    from: from.into(),
                    at: 0,
                    text: text.into(),
                })
                .collect();
            n.hub.handle(Event::Waited(id, &name, &mine), &mut n.out);
        }
    }
    // Those not asked for yet stay with the first node, as the cluster's stream keeps them.
    nodes[0].out.waiting_kept.extend(waiting);
    moved
}

/// [`pump`], with the accounts' work answered too.
fn pump_accounts(nodes: &mut [&mut Node], made: &mut HashSet<String>) {
    loop {
        let mut moved = settle_accounts(nodes, made);
        moved |= settle_names(nodes);
        moved |= carry(nodes);
        if !moved {
            return;
        }
    }
}

#[test]
fn accounts_are_every_nodes() {
    let t = t0();
    let (mut a, mut b) = (node("a", t), node("b", t));
    let mut made = HashSet::new();
    pump(&mut [&mut a, &mut b]);
    connect(&mut a, 0, "alice");
    connect(&mut b, 0, "bob");
    connect(&mut b, 1, "carol");
    pump_accounts(&mut [&mut a, &mut b], &mut made);
    a.out.sent.clear();
    // Registered on a, once the cluster made it; b is told.
    say(&mut a.hub, &mut a.out, 0, "/register secret-1");
    answer(&mut a.hub, &mut a.out);
    assert!(a.out.take(0).is_empty(), "not before the cluster made it");
    pump_accounts(&mut [&mut a, &mut b], &mut made);
    assert_eq!(
        a.out.take(0).last().map(String::as_str),
        Some("* alice is registered: it is yours (/login alice PASSWORD takes it back)")
    );
    assert_eq!(a.out.accounts_kept, ["alice"]);
    b.out.sent.clear();
    say(&mut b.hub, &mut b.out, 0, "/nick Alice");
    assert_eq!(
        b.out.take(0),
        ["! Alice is registered: /login Alice PASSWORD"]
    );
    // Of two nodes registering one name, one gets it.
    made.insert("carol".into());
    say(&mut b.hub, &mut b.out, 1, "/register secret-2");
    pump_accounts(&mut [&mut a, &mut b], &mut made);
    assert_eq!(
        b.out.take(1),
        ["! carol is registered: /login carol PASSWORD"]
    );
    // A login on b: the name is taken, a's connection closed, and b's client is alice.
    say(&mut b.hub, &mut b.out, 0, "/login alice secret-1");
    say(&mut b.hub, &mut b.out, 0, "hi from b");
    pump_accounts(&mut [&mut a, &mut b], &mut made);
    assert!(a.out.closed.contains(&0), "the older connection is closed");
    assert!(
        a.out.take(0).contains(&"! logged in elsewhere".to_string()),
        "and told"
    );
    let seen = b.out.take(1);
    assert_eq!(
        seen,
        [
            "* alice left (logged in elsewhere)",
            "* bob is now alice",
            "<alice> hi from b"
        ]
    );
    // Away from every node: a message waits in the cluster, and is given at the next login.
    say(&mut b.hub, &mut b.out, 0, "/quit");
    pump_accounts(&mut [&mut a, &mut b], &mut made);
    connect(&mut a, 1, "dave");
    pump_accounts(&mut [&mut a, &mut b], &mut made);
    a.out.sent.clear();
    say(&mut a.hub, &mut a.out, 1, "/msg alice see you");
    assert_eq!(
        a.out.take(1),
        ["* alice is away: your message waits for their next login"]
    );
    a.hub.handle(Event::Connected(2, LOCAL), &mut a.out);
    say(&mut a.hub, &mut a.out, 2, "/login alice secret-1");
    pump_accounts(&mut [&mut a, &mut b], &mut made);
    let got = a.out.take(2);
    let from = got
        .iter()
        .position(|l| l == "* 1 message while you were away")
        .unwrap_or_else(|| panic!("{got:?}"));
    assert!(got[from + 1].ends_with("*dave* see you"), "{got:?}");
    assert_eq!(got[from + 2], "* end of messages");
}
