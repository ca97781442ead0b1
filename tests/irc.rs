//! The IRC listener over real sockets, in both concurrency modes: registration and its
//! numerics, an IRC client and `nc` clients in the same rooms (channels, private messages,
//! `/me` as CTCP ACTION both ways), a nick taken, commands before registration, a
//! registration that never ends, and bad lines.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{DEADLINE, Mode, Server};

both_modes!(
    registration_ends_in_the_welcome_and_the_lobby,
    irc_and_nc_clients_share_the_rooms,
    a_nick_taken_is_433_and_another_is_taken,
    commands_before_registration_are_refused_and_a_registration_that_never_ends_is_closed,
    bad_lines_are_refused_and_the_client_goes_on,
);

/// An IRC client of the test's.
struct Irc {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    nick: String,
}

impl Irc {
    fn connect(server: &Server) -> Irc {
        let addr = server.irc_addr.expect("an IRC listener");
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Irc {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
            nick: String::new(),
        }
    }

    /// Connected and registered as `nick`, past the lobby's names.
    fn registered(server: &Server, nick: &str) -> Irc {
        let mut c = Irc::connect(server);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick} of the tests"));
        c.until(&format!(":chatd 001 {nick} "));
        c.until(&format!(":chatd 366 {nick} #lobby "));
        c.nick = nick.to_string();
        c
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
    }

    /// The next line, without its CR LF; fails after [`DEADLINE`].
    fn line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("{}: closed", self.nick),
            Ok(_) => {}
            Err(e) => panic!("{}: nothing within {DEADLINE:?}: {e}", self.nick),
        }
        assert!(line.ends_with("\r\n"), "{line:?}");
        line.truncate(line.len() - 2);
        line
    }

    /// Reads up to a line that starts with `prefix`; returns it, and fails on an `ERROR`.
    fn until(&mut self, prefix: &str) -> String {
        loop {
            let line = self.line();
            if line.starts_with(prefix) {
                return line;
            }
            assert!(!line.starts_with("ERROR"), "{}: {line}", self.nick);
        }
    }

    /// Every line up to the end of the connection.
    fn until_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return lines,
                Ok(_) => lines.push(line.trim_end().to_string()),
                Err(e) => panic!("{}: not closed within {DEADLINE:?}: {e}", self.nick),
            }
        }
    }
}

fn irc_server(mode: Mode) -> Server {
    Server::start_with(mode, &["--irc-port", "0"])
}

fn registration_ends_in_the_welcome_and_the_lobby(mode: Mode) {
    let server = irc_server(mode);
    let mut c = Irc::connect(&server);
    c.send("CAP LS 302");
    c.send("NICK ana");
    c.send("USER ana 0 * :Ana Lima");
    assert_eq!(c.line(), ":chatd CAP * LS :message-tags server-time");
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
