//! The IRC listener over real sockets, in both concurrency modes: registration and its
//! numerics, an IRC client and `nc` clients in the same rooms (channels, private messages,
//! `/me` as CTCP ACTION both ways), a nick taken, commands before registration, a
//! registration that never ends, bad lines, SASL and NickServ, operators (`OPER`, `KICK`,
//! `KILL`, bans as `MODE +b`), `echo-message`, history (`CHATHISTORY`, the batch on
//! joining), and what it asks of people (`WHOIS`, `ISON`, `USERHOST`, `AWAY`).

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::irc::Irc;
use common::{Mode, Server, TempDir};

both_modes!(
    registration_ends_in_the_welcome_and_the_lobby,
    irc_and_nc_clients_share_the_rooms,
    a_nick_taken_is_433_and_another_is_taken,
    commands_before_registration_are_refused_and_a_registration_that_never_ends_is_closed,
    bad_lines_are_refused_and_the_client_goes_on,
    sasl_and_nickserv_log_in_to_the_chats_accounts,
    operators_kick_kill_and_list_bans,
    echo_message_and_chathistory_over_the_store,
    whois_ison_userhost_and_away,
    a_silent_client_is_pinged_and_closed_if_it_does_not_answer,
);

fn irc_server(mode: Mode) -> Server {
    Server::start_with(mode, &["--irc-port", "0"])
}

fn registration_ends_in_the_welcome_and_the_lobby(mode: Mode) {
    let server = irc_server(mode);
    let mut c = Irc::connect(&server);
    c.send("CAP LS 302");
    c.send("NICK ana");
    c.send("USER ana 0 * :Ana Lima");
    assert_eq!(
        c.line(),
        ":chatd CAP * LS :batch cap-notify draft/chathistory echo-message message-tags \
         multi-prefix sasl=PLAIN server-time"
    );
    c.send("CAP REQ :server-time");
    assert_eq!(c.line(), ":chatd CAP ana ACK :server-time");
    c.send("CAP END");
    let mut codes = Vec::new();
    loop {
        let line = c.line();
        // With server-time, what tells the chat's events carries their time.
        let line = match line.strip_prefix("@time=") {
            Some(tagged) => {
                let (time, rest) = tagged.split_once(' ').unwrap();
                assert!(time.ends_with('Z') && time.contains('T'), "{time}");
                rest.to_string()
            }
            None => line,
        };
        let code = line.split(' ').nth(1).unwrap().to_string();
        codes.push(code.clone());
        if code == "005" {
            for token in [
                "CASEMAPPING=ascii",
                "CHANTYPES=#",
                "NICKLEN=32",
                "NETWORK=chatd",
            ] {
                assert!(line.contains(&format!(" {token} ")), "{line}");
            }
        }
        if code == "366" {
            assert_eq!(line, ":chatd 366 ana #lobby :End of /NAMES list");
            break;
        }
    }
    assert_eq!(
        codes,
        [
            "001", "002", "003", "004", "005", "422", "JOIN", "353", "366"
        ]
    );
    c.nick = "ana".into();
    c.send("PING :are-you-there");
    assert_eq!(c.line(), ":chatd PONG chatd :are-you-there");
}

fn irc_and_nc_clients_share_the_rooms(mode: Mode) {
    let server = irc_server(mode);
    let mut nc = server.client();
    nc.send("/nick bob");
    nc.expect("* you are now bob");
    let mut ana = Irc::registered(&server, "ana");
    // Announced once, under the nick it registered with.
    nc.expect("* ana joined");
    // Two channels; the nc client comes into one.
    ana.send("JOIN #dev,#ops");
    ana.until(":ana!ana@chatd JOIN #dev");
    ana.until(":chatd 366 ana #dev ");
    ana.until(":ana!ana@chatd JOIN #ops");
    ana.until(":chatd 366 ana #ops ");
    nc.send("/join dev");
    nc.until("* you are in #dev (2 here)");
    // (A text client moves: it leaves the lobby for #dev.)
    ana.until(":bob!bob@chatd PART #lobby");
    assert_eq!(ana.until(":bob!bob@chatd "), ":bob!bob@chatd JOIN #dev");
    // Lines both ways, in the channel, and in private.
    nc.send("hello from nc");
    assert_eq!(
        ana.until(":bob!"),
        ":bob!bob@chatd PRIVMSG #dev :hello from nc"
    );
    ana.send("PRIVMSG #dev :hello from irc");
    nc.expect("<ana> hello from irc");
    ana.send("PRIVMSG #dev :\u{1}ACTION waves\u{1}");
    nc.expect("* ana waves");
    nc.send("/me waves back");
    assert_eq!(
        ana.until(":bob!"),
        ":bob!bob@chatd PRIVMSG #dev :\u{1}ACTION waves back\u{1}"
    );
    ana.send("PRIVMSG bob :just you");
    nc.expect("*ana* just you");
    nc.send("/msg ana and you");
    assert_eq!(ana.until(":bob!"), ":bob!bob@chatd PRIVMSG ana :and you");
    // A line to #ops, where bob is not, does not reach him.
    ana.send("PRIVMSG #ops :only ops");
    ana.send("PRIVMSG #dev :after ops");
    nc.expect("<ana> after ops");
    // A topic set from IRC, and the rooms listed.
    ana.send("TOPIC #dev :ship it");
    nc.expect("* ana set the topic of #dev: ship it");
    ana.send("LIST");
    ana.until(":chatd 321 ana ");
    let mut listed = Vec::new();
    loop {
        let line = ana.line();
        if line.starts_with(":chatd 323 ") {
            break;
        }
        listed.push(line);
    }
    assert!(
        listed.contains(&":chatd 322 ana #dev 2 :".to_string()),
        "{listed:?}"
    );
    // bob renames, and leaves #dev: ana sees both.
    nc.send("/nick rob");
    nc.expect("* you are now rob");
    assert_eq!(ana.until(":bob!"), ":bob!bob@chatd NICK :rob");
    ana.send("PART #ops");
    ana.until(":ana!ana@chatd PART #ops");
    ana.send("QUIT :gone fishing");
    let last = ana.until_closed();
    assert!(!last.iter().any(|l| l.contains("PRIVMSG")), "{last:?}");
    nc.until("* ana left (gone fishing)");
}

fn a_nick_taken_is_433_and_another_is_taken(mode: Mode) {
    let server = irc_server(mode);
    let mut nc = server.client();
    nc.send("/nick bob");
    nc.expect("* you are now bob");
    let mut c = Irc::connect(&server);
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    assert_eq!(c.line(), ":chatd 433 * bob :name taken: bob");
    c.send("NICK bob_");
    c.until(":chatd 001 bob_ :");
    c.until(":chatd 366 bob_ #lobby ");
    c.nick = "bob_".into();
    // Its first words (the refused NICK) announced it, as they do an nc client's.
    let guest = nc.line();
    let guest = guest
        .strip_prefix("* ")
        .and_then(|g| g.strip_suffix(" joined"))
        .unwrap_or_else(|| panic!("{guest}"))
        .to_string();
    nc.expect(&format!("* {guest} is now bob_"));
    c.send("NICK bob");
    assert_eq!(c.line(), ":chatd 433 bob_ bob :name taken: bob");
    c.send("NICK b@d");
    assert_eq!(c.line(), ":chatd 432 bob_ b@d :Erroneous nickname");
    c.send("NICK robert");
    assert_eq!(c.line(), ":bob_!bob_@chatd NICK :robert");
    nc.expect("* bob_ is now robert");
}

fn commands_before_registration_are_refused_and_a_registration_that_never_ends_is_closed(
    mode: Mode,
) {
    let server = Server::start_with(mode, &["--irc-port", "0", "--first-line-timeout", "1"]);
    let mut c = Irc::connect(&server);
    c.send("JOIN #dev");
    assert_eq!(c.line(), ":chatd 451 * :You have not registered");
    c.send("PRIVMSG #lobby :hi");
    assert_eq!(c.line(), ":chatd 451 * :You have not registered");
    // NICK alone is not a registration: the deadline closes it.
    c.send("NICK slow");
    let started = Instant::now();
    let last = c.until_closed();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed too early"
    );
    assert_eq!(
        last.last().map(String::as_str),
        Some("ERROR :Closing link: idle timeout"),
        "{last:?}"
    );
}

fn bad_lines_are_refused_and_the_client_goes_on(mode: Mode) {
    let server = irc_server(mode);
    let mut nc = server.client();
    let mut ana = Irc::registered(&server, "ana");
    nc.expect("* ana joined");
    ana.send(&format!("PRIVMSG #lobby :{}", "x".repeat(600)));
    assert_eq!(ana.line(), ":chatd 417 ana :Input line was too long");
    ana.writer
        .write_all(b"PRIVMSG #lobby :\xff\xfe\r\n")
        .unwrap();
    assert_eq!(
        ana.line(),
        ":chatd FAIL PRIVMSG INVALID_UTF8 :Message rejected: invalid UTF-8"
    );
    ana.writer.write_all(b"PRIVMSG #lobby :a\0b\r\n").unwrap();
    assert!(ana.line().starts_with(":chatd FAIL * INVALID_MESSAGE "));
    ana.send("FROBNICATE now");
    assert_eq!(ana.line(), ":chatd 421 ana FROBNICATE :Unknown command");
    // Nothing of it reached anyone; a good line does.
    ana.send("PRIVMSG #lobby :still here");
    nc.expect("<ana> still here");
}

/// `NAME\0NAME\0PASSWORD` in base64, as a client's SASL PLAIN sends it.
fn plain(name: &str, password: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{name}\0{name}\0{password}").into_bytes();
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

fn sasl_and_nickserv_log_in_to_the_chats_accounts(mode: Mode) {
    let dir = TempDir::new(&format!("irc-sasl-{mode:?}"));
    let log = dir.0.join("chatd.log");
    let server = Server::start_logged(mode, &["-vv", "--irc-port", "0"], &log);
    // An account made by an nc client, which leaves.
    let mut owner = server.client();
    owner.send("/nick alice");
    owner.expect("* you are now alice");
    owner.send("/register correct-horse");
    owner.expect("* alice is registered: it is yours (/login alice PASSWORD takes it back)");
    owner.send("/quit");
    owner.until_closed();
    // A wrong password: 904, and the client may go on as a guest (this one quits).
    let mut bad = Irc::connect(&server);
    bad.send("CAP REQ :sasl");
    assert_eq!(bad.line(), ":chatd CAP * ACK :sasl");
    bad.send("NICK alice");
    bad.send("USER alice 0 * :Alice");
    bad.send("AUTHENTICATE PLAIN");
    assert_eq!(bad.line(), "AUTHENTICATE +");
    bad.send(&format!("AUTHENTICATE {}", plain("alice", "wrong-horse")));
    assert_eq!(bad.line(), ":chatd 904 alice :SASL authentication failed");
    bad.send("QUIT");
    bad.until_closed();
    let mut watcher = server.client();
    // SASL PLAIN: logged in before the welcome, announced once, as alice.
    let mut c = Irc::connect(&server);
    c.send("CAP LS 302");
    c.send("NICK alice");
    c.send("USER alice 0 * :Alice");
    assert_eq!(
        c.line(),
        ":chatd CAP * LS :batch cap-notify draft/chathistory echo-message message-tags \
         multi-prefix sasl=PLAIN server-time"
    );
    c.send("CAP REQ :sasl");
    assert_eq!(c.line(), ":chatd CAP alice ACK :sasl");
    c.send("AUTHENTICATE PLAIN");
    assert_eq!(c.line(), "AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", plain("alice", "correct-horse")));
    assert_eq!(
        c.line(),
        ":chatd 900 alice alice!alice@chatd alice :You are now logged in as alice"
    );
    assert_eq!(c.line(), ":chatd 903 alice :SASL authentication successful");
    c.send("CAP END");
    c.until(":chatd 001 alice :");
    c.until(":chatd 366 alice #lobby ");
    c.nick = "alice".into();
    assert_eq!(watcher.sync(), ["* alice joined"]);
    // A guest cannot take the name; NickServ IDENTIFY can, and closes the older connection.
    let mut other = Irc::registered(&server, "bob");
    other.send("NICK alice");
    assert_eq!(
        other.line(),
        ":chatd 433 bob alice :alice is registered: /login alice PASSWORD"
    );
    other.send("PRIVMSG NickServ :IDENTIFY alice correct-horse");
    assert_eq!(
        other.until(":bob!bob@chatd NICK"),
        ":bob!bob@chatd NICK :alice"
    );
    other.until(":chatd 900 alice alice!alice@chatd alice ");
    let closed = c.until_closed();
    assert!(
        closed
            .iter()
            .any(|l| l == "ERROR :Closing link: logged in elsewhere"),
        "{closed:?}"
    );
    drop((c, other, watcher));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("logged in as alice"), "the log is read");
    for secret in [
        "correct-horse".to_string(),
        "wrong-horse".to_string(),
        plain("alice", "correct-horse"),
        plain("alice", "wrong-horse"),
    ] {
        assert!(!text.contains(&secret), "{secret} in the log");
    }
}

fn operators_kick_kill_and_list_bans(mode: Mode) {
    let dir = TempDir::new(&format!("irc-oper-{mode:?}"));
    let oper = dir.path("oper");
    std::fs::write(&oper, "op-secret\n").unwrap();
    let server = Server::start_with(mode, &["--irc-port", "0", "--oper-password-file", &oper]);
    let mut bob = server.client();
    bob.send("/nick bob");
    bob.expect("* you are now bob");
    let mut eve = Irc::registered(&server, "eve");
    let mut ana = Irc::registered(&server, "ana");
    eve.until(":ana!ana@chatd JOIN #lobby");
    ana.send("KICK #lobby bob :not yet");
    ana.until(":chatd 481 ana :");
    ana.send("OPER ana wrong-secret");
    ana.until(":chatd 464 ana :Password incorrect");
    ana.send("OPER ana op-secret");
    ana.until(":chatd 381 ana :You are now an IRC operator");
    // A kick: the nc client is told and closed; IRC clients see a KICK from the operator.
    ana.send("KICK #lobby bob :stop that");
    let told = bob.until_closed();
    assert!(
        told.contains(&"! kicked by ana (stop that)".to_string()),
        "{told:?}"
    );
    eve.until(":ana!ana@chatd KICK #lobby bob :stop that");
    ana.until(":ana!ana@chatd KICK #lobby bob :stop that");
    // The bans: of addresses, listed to operators as a channel's ban list.
    ana.send("MODE #lobby b");
    assert_eq!(ana.line(), ":chatd 368 ana #lobby :End of channel ban list");
    // (From an address of its own: a ban is of an address.)
    let mut mal = server.client_from("127.0.0.9");
    mal.send("/nick mal");
    mal.expect("* you are now mal");
    ana.send("MODE #lobby +b mal");
    mal.until_closed();
    eve.until(":ana!ana@chatd KICK #lobby mal :");
    ana.until(":ana!ana@chatd KICK #lobby mal :");
    ana.send("MODE #lobby b");
    ana.until(":chatd 367 ana #lobby *!*@127.0.0.9 :ana");
    assert_eq!(ana.line(), ":chatd 368 ana #lobby :End of channel ban list");
    ana.send("MODE #lobby -b *!*@127.0.0.9");
    ana.until(":chatd NOTICE ana :127.0.0.9 is no longer banned");
    // KILL: the same kick, of an IRC client.
    ana.send("KILL eve :enough");
    let last = eve.until_closed();
    assert!(
        last.iter()
            .any(|l| l.starts_with("ERROR :Closing link: kicked by ana")),
        "{last:?}"
    );
    // Not an operator: an empty ban list, and no error.
    let mut zed = Irc::registered(&server, "zed");
    zed.send("MODE #lobby b");
    assert_eq!(zed.line(), ":chatd 368 zed #lobby :End of channel ban list");
}

fn echo_message_and_chathistory_over_the_store(mode: Mode) {
    let dir = TempDir::new(&format!("irc-history-{mode:?}"));
    let store = dir.path("chatd.db");
    let server = Server::start_with(mode, &["--irc-port", "0", "--store", &store]);
    let mut bob = server.client();
    bob.send("/nick bob");
    bob.expect("* you are now bob");
    for i in 1..=3 {
        bob.send(&format!("line {i}"));
    }
    bob.send("/me waves");
    bob.sync();
    // On joining, with server-time: the lobby's last lines, in a batch, with their times and
    // ids; echo-message: its own lines back.
    let mut ana = Irc::connect(&server);
    ana.send("CAP REQ :batch server-time message-tags echo-message draft/chathistory");
    ana.until(":chatd CAP * ACK ");
    ana.send("NICK ana");
    ana.send("USER ana 0 * :ana");
    ana.send("CAP END");
    ana.nick = "ana".into();
    let open = ana.until(":chatd BATCH +");
    let label = open.split(' ').nth(2).unwrap()[1..].to_string();
    assert!(open.ends_with(" chathistory #lobby"), "{open}");
    let mut ids = Vec::new();
    for want in ["line 1", "line 2", "line 3", "\u{1}ACTION waves\u{1}"] {
        let line = ana.line();
        let (tags, rest) = line.split_once(' ').unwrap();
        assert!(tags.starts_with(&format!("@batch={label};time=")), "{line}");
        assert_eq!(rest, format!(":bob!bob@chatd PRIVMSG #lobby :{want}"));
        ids.push(tags.split("msgid=").nth(1).unwrap().to_string());
    }
    assert_eq!(ana.line(), format!(":chatd BATCH -{label}"));
    ana.send("PRIVMSG #lobby :hello bob");
    bob.until("<ana> hello bob");
    let echoed = ana.until_has(" :ana!ana@chatd PRIVMSG #lobby :hello bob");
    assert!(echoed.starts_with("@time="), "{echoed}");
    ana.send("PRIVMSG bob :psst");
    bob.until("*ana* psst");
    ana.until_has(" :ana!ana@chatd PRIVMSG bob :psst");
    // CHATHISTORY: the latest two, and the two before the third line (from the store).
    ana.send("CHATHISTORY LATEST #lobby * 2");
    ana.until(":chatd BATCH +");
    assert!(
        ana.line()
            .ends_with(" :bob!bob@chatd PRIVMSG #lobby :\u{1}ACTION waves\u{1}")
    );
    assert!(
        ana.line()
            .ends_with(" :ana!ana@chatd PRIVMSG #lobby :hello bob")
    );
    assert!(ana.line().starts_with(":chatd BATCH -"));
    ana.send(&format!("CHATHISTORY BEFORE #lobby msgid={} 10", ids[2]));
    ana.until(":chatd BATCH +");
    assert!(
        ana.line()
            .ends_with(" :bob!bob@chatd PRIVMSG #lobby :line 1")
    );
    assert!(
        ana.line()
            .ends_with(" :bob!bob@chatd PRIVMSG #lobby :line 2")
    );
    assert!(ana.line().starts_with(":chatd BATCH -"));
    ana.send("CHATHISTORY AROUND #lobby msgid=1 10");
    ana.until(":chatd FAIL CHATHISTORY INVALID_PARAMS AROUND :");
    // In a second room: its own history, and asking it does not move where lines go.
    ana.send("JOIN #dev");
    ana.until_has(":chatd 366 ana #dev ");
    bob.send("/join dev");
    bob.until("* you are in #dev (2 here)");
    bob.send("said in dev");
    ana.until_has(" :bob!bob@chatd PRIVMSG #dev :said in dev");
    ana.send("CHATHISTORY LATEST #dev * 1");
    ana.until(":chatd BATCH +");
    assert!(
        ana.line()
            .ends_with(" :bob!bob@chatd PRIVMSG #dev :said in dev")
    );
    assert!(ana.line().starts_with(":chatd BATCH -"));
    ana.send("CHATHISTORY LATEST #lobby * 1");
    ana.until(":chatd BATCH +");
    assert!(
        ana.line()
            .ends_with(" :ana!ana@chatd PRIVMSG #lobby :hello bob")
    );
    assert!(ana.line().starts_with(":chatd BATCH -"));
    ana.send("PRIVMSG #dev :back in dev");
    bob.until("<ana> back in dev");
    // Without server-time: no history on joining (it would look new).
    let mut eve = Irc::registered(&server, "eve");
    eve.send("PING :after");
    assert_eq!(eve.until(":chatd PONG"), ":chatd PONG chatd :after");
}

fn whois_ison_userhost_and_away(mode: Mode) {
    let server = irc_server(mode);
    let mut bob = server.client();
    bob.send("/nick bob");
    bob.expect("* you are now bob");
    bob.send("/join dev");
    bob.until("* you are in #dev (1 here)");
    let mut ana = Irc::registered(&server, "ana");
    ana.send("WHOIS bob");
    assert_eq!(ana.line(), ":chatd 311 ana bob bob chatd * :bob");
    assert_eq!(ana.line(), ":chatd 319 ana bob :#dev");
    assert_eq!(
        ana.line(),
        ":chatd 312 ana bob chatd :an nc-first group chat"
    );
    assert_eq!(ana.line(), ":chatd 318 ana bob :End of /WHOIS list");
    ana.send("WHOIS nobody");
    assert_eq!(ana.line(), ":chatd 401 ana nobody :No such nick/channel");
    assert_eq!(ana.line(), ":chatd 318 ana nobody :End of /WHOIS list");
    ana.send("ISON nobody BOB ana");
    assert_eq!(ana.line(), ":chatd 303 ana :bob ana");
    // Away: told to who writes, in WHOIS and USERHOST; the nc client is told too.
    ana.send("AWAY :gone fishing");
    assert_eq!(
        ana.line(),
        ":chatd 306 ana :You have been marked as being away"
    );
    bob.send("/msg ana are you there?");
    bob.expect("* ana is away: gone fishing");
    ana.until(":bob!bob@chatd PRIVMSG ana :are you there?");
    bob.send("/away lunch");
    bob.expect("* you are away");
    ana.send("PRIVMSG bob :and you?");
    assert_eq!(ana.line(), ":chatd 301 ana bob :lunch");
    ana.send("USERHOST bob ana");
    assert_eq!(ana.line(), ":chatd 302 ana :bob=-bob@chatd ana=-ana@chatd");
    ana.send("AWAY");
    assert_eq!(
        ana.line(),
        ":chatd 305 ana :You are no longer marked as being away"
    );
    bob.send("/whois ana");
    bob.until("* ana is online, in #lobby");
}

fn a_silent_client_is_pinged_and_closed_if_it_does_not_answer(mode: Mode) {
    let server = Server::start_with(mode, &["--irc-port", "0", "--irc-ping", "1"]);
    let mut awake = Irc::registered(&server, "awake");
    let mut asleep = Irc::registered(&server, "asleep");
    // The one that answers (on a thread of its own: it must go on answering meanwhile) stays,
    // past several PINGs, and sees the other go.
    let answering = std::thread::spawn(move || {
        let mut pings = 0;
        loop {
            let line = awake.line();
            if line == "PING :chatd" {
                pings += 1;
                awake.send("PONG :chatd");
            } else if line == ":asleep!asleep@chatd PART #lobby :idle timeout" {
                awake.send("PING :still-here");
            } else if line == ":chatd PONG chatd :still-here" {
                return pings;
            }
        }
    });
    // The one that does not answer is closed, within a second or so of its PING.
    asleep.until("PING :chatd");
    let pinged_at = Instant::now();
    let last = asleep.until_closed();
    assert!(
        last.iter()
            .any(|l| l == "ERROR :Closing link: idle timeout"),
        "{last:?}"
    );
    assert!(pinged_at.elapsed() < Duration::from_secs(5));
    let pings = answering.join().unwrap();
    assert!(pings >= 2, "{pings} PINGs answered");
}
