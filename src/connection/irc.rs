//! The IRC layer of one connection, above plain TCP or TLS: IRC lines from the client become
//! the chat's lines for the framer, and the hub's lines (JSON events) become IRC messages for
//! the socket, through the connection's [`Session`] (what each means is there: this file only
//! cuts lines and bounds buffers). Shaped as the web layer is, so the transport drives both
//! alike.

use super::lines::Lines;
use crate::irc::message::{MAX_LINE, MAX_TAGS};
use crate::irc::session::Session;

/// The longest line taken from the client: the tags' limit and the message's. Past it, the
/// line is refused whole (`417`) and what comes up to its end is dropped.
const MAX_INPUT: usize = MAX_TAGS + MAX_LINE;
/// Bytes made for the socket, at most, before the layer stops taking the hub's lines (the
/// rest wait in the connection's output queue, which bounds them).
const OUT_CAP: usize = 64 * 1024;

pub struct Irc {
    session: Session,
    /// What came of a line not ended yet.
    partial: Vec<u8>,
    /// The line being read is too long: dropped up to its end.
    skipping: bool,
    /// Lines for the framer.
    pub(super) lines: Lines,
    /// Bytes for the layer below.
    out: Vec<u8>,
    /// The client said `QUIT`, or the connection is closing: no more lines.
    closed: bool,
}

impl Default for Irc {
    fn default() -> Self {
        Irc::new()
    }
}

impl Irc {
    pub fn new() -> Irc {
        Irc {
            session: Session::new(),
            partial: Vec::new(),
            skipping: false,
            lines: Lines::default(),
            out: Vec::new(),
            closed: false,
        }
    }

    /// No more lines will come.
    pub fn ended(&self) -> bool {
        self.closed && self.lines.all_taken()
    }

    /// Takes bytes from the layer below.
    pub fn take(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                if !self.skipping {
                    self.partial.extend_from_slice(rest);
                    if self.partial.len() > MAX_INPUT {
                        self.partial.clear();
                        self.skipping = true;
                        self.too_long();
                    }
                }
                return;
            };
            let (head, tail) = (&rest[..end], &rest[end + 1..]);
            rest = tail;
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            if self.partial.is_empty() {
                self.one_line(head);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                if line.len() > MAX_INPUT {
                    self.too_long();
                } else {
                    self.one_line(&line);
                }
            }
        }
    }

    fn too_long(&mut self) {
        // The session answers a line too long as any: a line of its size says so.
        let long = [b'x'; MAX_LINE + 1];
        self.session
            .from_client(&long, self.lines.to_fill(), &mut self.out);
    }

    fn one_line(&mut self, line: &[u8]) {
        if self.closed {
            return;
        }
        let to_hub = self.lines.to_fill();
        let before = to_hub.len();
        self.session.from_client(line, to_hub, &mut self.out);
        if to_hub[before..].starts_with(b"/quit") {
            self.closed = true;
        }
    }

    /// Makes whole lines of the hub's `bytes` into IRC messages while few bytes wait for the
    /// layer below; returns how many bytes it took (whole lines only).
    pub fn send(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            if self.out.len() >= OUT_CAP {
                break;
            }
            self.session.from_hub(&bytes[taken..end], &mut self.out);
            taken = end + 1;
        }
        taken
    }

    /// The bytes waiting for the layer below.
    pub fn out(&self) -> &[u8] {
        &self.out
    }

    /// The layer below took `n` of them (all taken, the buffer is let go of: an idle
    /// connection holds none).
    pub fn sent(&mut self, n: usize) {
        if n >= self.out.len() {
            self.out = Vec::new();
        } else {
            self.out.drain(..n);
        }
    }

    /// Asks the client whether it is still there: `PING :chatd` (its `PONG`, as anything it
    /// sends, is input, which is what the drivers time).
    pub fn ping(&mut self) {
        if !self.closed {
            self.out.extend_from_slice(b"PING :chatd\r\n");
        }
    }

    /// Our side is done: nothing more is read.
    pub fn close(&mut self) {
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(irc: &mut Irc) -> String {
        let mut plain = Vec::new();
        irc.lines.give_all(&mut plain);
        String::from_utf8(plain).unwrap()
    }

    #[test]
    fn lines_are_cut_wherever_the_bytes_end() {
        let mut irc = Irc::new();
        irc.take(b"NICK a");
        irc.take(b"na\r\nUSER ana 0 * :Ana\r");
        assert_eq!(lines(&mut irc), "");
        irc.take(b"\nPING :1\r\n");
        assert_eq!(lines(&mut irc), "/format json\n/nick ana\n/who lobby\n");
        assert_eq!(irc.out(), b":chatd PONG chatd :1\r\n");
        irc.sent(irc.out().len());
        assert!(irc.out().is_empty());
    }

    #[test]
    fn a_line_past_the_limit_is_refused_once_and_the_next_is_read() {
        let mut irc = Irc::new();
        for _ in 0..100 {
            irc.take(&[b'a'; 1000]);
        }
        assert!(irc.partial.len() <= MAX_INPUT, "bounded");
        irc.take(b"aaa\r\nPING :after\r\n");
        let out = String::from_utf8(irc.out().to_vec()).unwrap();
        assert_eq!(
            out,
            ":chatd 417 * :Input line was too long\r\n:chatd PONG chatd :after\r\n"
        );
    }

    #[test]
    fn only_whole_lines_of_the_hub_are_taken() {
        let mut irc = Irc::new();
        let line = b"{\"type\":\"notice\",\"code\":\"x\",\"text\":\"hi\"}\n{\"type\"";
        assert_eq!(irc.send(line), line.len() - 7);
    }

    #[test]
    fn quit_ends_the_lines() {
        let mut irc = Irc::new();
        irc.take(b"QUIT :bye\r\nNICK later\r\n");
        assert_eq!(lines(&mut irc), "/quit bye\n");
        assert!(irc.ended());
    }
}
