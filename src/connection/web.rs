//! The web layer, above TCP or TLS, for connections to `--web-port`. First an HTTP request,
//! which [`crate::http`] answers: a file or a refusal is sent and the connection closed (the
//! hub never hears of it); an upgrade makes it a WebSocket. Then text frames in are lines for
//! the framer (one frame, one line), and lines out are text frames. The frames are
//! tungstenite's codec, run over in-memory buffers ([`Pipe`]), so that it never touches the
//! socket: the layer below writes what this one makes, in either concurrency model.
//!
//! A binary frame, or a text frame that is not UTF-8, becomes a line the hub refuses as not
//! UTF-8 (the error a TCP client gets); a frame longer than `--max-line` closes the
//! connection with code 1009; pings are answered; a close is answered and ends the input.

use std::io::{self, Read, Write};
use std::sync::Arc;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::{CloseFrame, Message, Role, WebSocket, WebSocketConfig};

use super::lines::Lines;
use crate::http::{self, Answer, Site};

/// At most this many bytes of frames wait for the layer below; past it, lines wait in the
/// connection's output (where the slow-consumer limit counts them).
const OUT_CAP: usize = 16 * 1024;

/// What the codec reads from and writes to: bytes from the layer below, bytes for it.
#[derive(Default)]
struct Pipe {
    inbound: Vec<u8>,
    /// How much of `inbound` the codec has read.
    at: usize,
    outbound: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.inbound[self.at..];
        if left.is_empty() {
            self.inbound.clear();
            self.at = 0;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbound.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Phase {
    /// Reading the HTTP request.
    Request(Vec<u8>),
    /// A WebSocket.
    Open(Box<WebSocket<Pipe>>),
    /// A file or a refusal was answered: close once it is written.
    Served,
    /// The WebSocket is closed (by either side): no more lines.
    Closed,
}

/// The web layer of one connection (the layer below is the [`super::Transport`]'s).
pub struct Web {
    phase: Phase,
    site: Arc<Site>,
    max_line: usize,
    /// Lines for the framer.
    pub(super) lines: Lines,
    /// Bytes for the layer below: the HTTP answer, then frames.
    out: Vec<u8>,
}

impl Web {
    pub fn new(site: Arc<Site>, max_line: usize) -> Web {
        Web {
            phase: Phase::Request(Vec::new()),
            site,
            max_line,
            lines: Lines::default(),
            out: Vec::new(),
        }
    }

    /// Still reading the HTTP request: no lines yet.
    pub fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Request(_))
    }

    /// It answered a request for a file, or refused one: to be closed once written, never a
    /// client of the chat.
    pub fn served(&self) -> bool {
        matches!(self.phase, Phase::Served)
    }

    /// A WebSocket: a client of the chat.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// No more lines will come.
    pub fn ended(&self) -> bool {
        matches!(self.phase, Phase::Served | Phase::Closed) && self.lines.all_taken()
    }

    /// Takes bytes from the layer below.
    pub fn take(&mut self, bytes: &[u8]) {
        match &mut self.phase {
            Phase::Request(request) => {
                request.extend_from_slice(bytes);
                match http::answer(request, &self.site) {
                    Answer::Incomplete => {}
                    Answer::Close { response, refused } => {
                        match refused {
                            Some(why) if why.starts_with("404") => log::debug!("web: {why}"),
                            Some(why) => log::info!("web: {why}"),
                            None => {}
                        }
                        self.out.extend_from_slice(&response);
                        self.phase = Phase::Served;
                    }
                    Answer::Upgrade { response, consumed } => {
                        self.out.extend_from_slice(&response);
                        let pipe = Pipe {
                            inbound: request[consumed..].to_vec(),
                            ..Pipe::default()
                        };
                        let config = WebSocketConfig::default()
                            .read_buffer_size(1024)
                            .write_buffer_size(0)
                            .max_message_size(Some(self.max_line))
                            .max_frame_size(Some(self.max_line));
                        let ws = WebSocket::from_raw_socket(pipe, Role::Server, Some(config));
                        self.phase = Phase::Open(Box::new(ws));
                        self.frames();
                    }
                }
            }
            Phase::Open(ws) => {
                ws.get_mut().inbound.extend_from_slice(bytes);
                self.frames();
            }
            Phase::Served | Phase::Closed => {}
        }
    }

    /// Reads the frames that have come whole, into lines; queues what the codec answers
    /// (pongs, a close).
    fn frames(&mut self) {
        let Phase::Open(ws) = &mut self.phase else {
            return;
        };
        let mut close = None;
        let mut closed = false;
        loop {
            match ws.read() {
                Ok(Message::Text(text)) => {
                    for line in text.as_str().split('\n') {
                        self.lines.push(line.as_bytes());
                    }
                }
                // Not text: refused as a TCP client's line that is not UTF-8 is.
                Ok(Message::Binary(_)) | Err(tungstenite::Error::Utf8(_)) => {
                    self.lines.push(b"\xff");
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => closed = true, // the codec answers it
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::Capacity(e)) => {
                    log::info!("web: {e}; closing (1009)");
                    close = Some(CloseCode::Size);
                    break;
                }
                Err(tungstenite::Error::Protocol(e)) => {
                    log::info!("web: WebSocket protocol error: {e}; closing (1002)");
                    close = Some(CloseCode::Protocol);
                    break;
                }
                Err(_) => {
                    closed = true;
                    break;
                }
            }
            if closed {
                break;
            }
        }
        if let Some(code) = close {
            let _ = ws.close(Some(CloseFrame {
                code,
                reason: "".into(),
            }));
            closed = true;
        }
        let _ = ws.flush();
        let pipe = ws.get_mut();
        self.out.append(&mut pipe.outbound);
        if closed {
            self.phase = Phase::Closed;
        }
    }

    /// Makes whole lines of `bytes` into text frames while few bytes wait for the layer
    /// below; returns how many bytes it took (whole lines only). Once the WebSocket is gone,
    /// everything is taken (and dropped).
    pub fn send(&mut self, bytes: &[u8]) -> usize {
        let Phase::Open(ws) = &mut self.phase else {
            return bytes.len();
        };
        // What the codec has queued (a pong) goes first, whole: frames never interleave.
        let _ = ws.flush();
        self.out.append(&mut ws.get_mut().outbound);
        // The lines are the hub's, UTF-8 already, shared by every recipient: each becomes a
        // text frame with tungstenite's header and the line copied once, with no message to
        // build per recipient.
        let text = FrameHeader {
            opcode: OpCode::Data(Data::Text),
            ..FrameHeader::default()
        };
        let mut taken = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            if self.out.len() >= OUT_CAP {
                break;
            }
            let line = &bytes[taken..end];
            let _ = text.format(line.len() as u64, &mut self.out);
            self.out.extend_from_slice(line);
            taken = end + 1;
        }
        taken
    }

    /// The bytes waiting for the layer below.
    pub fn out(&self) -> &[u8] {
        &self.out
    }

    /// The layer below took `n` of them.
    pub fn sent(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    /// Our side is done: a close frame (going away: the server stops or drops the client).
    pub fn close(&mut self) {
        if let Phase::Open(ws) = &mut self.phase {
            let _ = ws.close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "".into(),
            }));
            let _ = ws.flush();
            self.out.append(&mut ws.get_mut().outbound);
            self.phase = Phase::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
                           Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                           Sec-WebSocket-Version: 13\r\n\r\n";

    /// A client's frame: masked, as clients must.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn open() -> Web {
        let mut w = Web::new(Arc::new(Site::default()), 100);
        w.take(UPGRADE.as_bytes());
        assert!(w.is_open());
        let out = String::from_utf8(w.out().to_vec()).unwrap();
        assert!(out.starts_with("HTTP/1.1 101 "), "{out}");
        let n = w.out().len();
        w.sent(n);
        w
    }

    fn lines(w: &mut Web) -> String {
        let mut v = Vec::new();
        w.lines.give_all(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }

    #[test]
    fn text_frames_are_lines_and_lines_are_text_frames() {
        let mut w = open();
        let mut bytes = frame(1, b"hello");
        bytes.extend(frame(1, b"two\nlines"));
        // Split anywhere: a frame counts once it is whole.
        w.take(&bytes[..3]);
        assert_eq!(lines(&mut w), "");
        w.take(&bytes[3..]);
        assert_eq!(lines(&mut w), "hello\ntwo\nlines\n");
        assert_eq!(w.send(b"{\"a\":1}\n{\"b\":2}\npartial"), 16);
        // Two unmasked text frames from the server.
        assert_eq!(w.out(), b"\x81\x07{\"a\":1}\x81\x07{\"b\":2}");
    }

    #[test]
    fn binary_and_broken_text_are_refused_like_tcp_and_pings_answered() {
        let mut w = open();
        w.take(&frame(2, b"\x00\x01"));
        w.take(&frame(1, b"\xc3\x28"));
        let mut raw = Vec::new();
        w.lines.give_all(&mut raw);
        assert_eq!(raw, b"\xff\n\xff\n");
        w.take(&frame(9, b"hi"));
        assert_eq!(w.out(), b"\x8a\x02hi", "a pong");
        assert!(w.is_open());
    }

    #[test]
    fn a_frame_over_the_limit_closes_with_1009() {
        let mut w = open();
        w.take(&frame(1, &[b'a'; 101]));
        assert!(w.ended());
        assert_eq!(&w.out()[..4], b"\x88\x02\x03\xf1", "close 1009");
    }

    #[test]
    fn a_close_is_answered_and_ends_the_input() {
        let mut w = open();
        w.take(&frame(8, b"\x03\xe8"));
        assert!(w.ended());
        assert_eq!(w.out(), b"\x88\x02\x03\xe8");
        assert_eq!(w.send(b"late\n"), 5, "dropped");
    }

    #[test]
    fn a_page_is_served_and_closed() {
        let mut w = Web::new(Arc::new(Site::default()), 100);
        w.take(b"GET / HTTP/1.1\r\n");
        assert!(w.is_handshaking());
        w.take(b"Host: h\r\n\r\n");
        assert!(w.served() && w.ended());
        assert!(w.out().starts_with(b"HTTP/1.1 200 OK"));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_after_the_upgrade_cost_nothing_else(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), 0..8)
        ) {
            let mut w = open();
            for c in chunks {
                w.take(&c);
                let mut buf = [0u8; 64];
                while w.lines.give(&mut buf) > 0 {}
            }
        }
    }
}
