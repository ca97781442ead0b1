//! An IRC client of the tests': registers, sends lines, reads them with a deadline.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use super::{DEADLINE, Server};

/// An IRC client of the test's.
pub struct Irc {
    pub writer: TcpStream,
    pub reader: BufReader<TcpStream>,
    pub nick: String,
}

impl Irc {
    pub fn connect(server: &Server) -> Irc {
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
    pub fn registered(server: &Server, nick: &str) -> Irc {
        let mut c = Irc::connect(server);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick} of the tests"));
        c.until(&format!(":chatd 001 {nick} "));
        c.until(&format!(":chatd 366 {nick} #lobby "));
        c.nick = nick.to_string();
        c
    }

    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
    }

    /// The next line, without its CR LF; fails after [`DEADLINE`].
    pub fn line(&mut self) -> String {
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
    pub fn until(&mut self, prefix: &str) -> String {
        loop {
            let line = self.line();
            if line.starts_with(prefix) {
                return line;
            }
            assert!(!line.starts_with("ERROR"), "{}: {line}", self.nick);
        }
    }

    /// Reads up to a line that has `part` in it (past its tags, say); returns it.
    pub fn until_has(&mut self, part: &str) -> String {
        loop {
            let line = self.line();
            if line.contains(part) {
                return line;
            }
            assert!(!line.starts_with("ERROR"), "{}: {line}", self.nick);
        }
    }

    /// Every line up to the end of the connection.
    pub fn until_closed(&mut self) -> Vec<String> {
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
