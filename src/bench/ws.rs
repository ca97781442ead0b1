//! chatbench's WebSocket clients (`--ws N`): the upgrade request, lines out as masked text
//! frames, text frames in as lines. Hand-written because the load generator drives thousands
//! of non-blocking sockets from one loop and needs only this much of RFC 6455; the server's
//! side is tungstenite's.

/// The mask every frame of a benchmark client carries (the RFC asks for an unpredictable one
/// against cache poisoning through proxies; there is no proxy on loopback).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Framed bytes kept ahead of the socket, at most.
const WIRE_AHEAD: usize = 64 * 1024;

/// One client's WebSocket state.
#[derive(Default)]
pub struct WsClient {
    /// The server answered the upgrade.
    pub upgraded: bool,
    /// Bytes read and not yet made sense of.
    inbuf: Vec<u8>,
    /// Bytes for the socket: the request, then frames.
    pub wire: Vec<u8>,
}

/// What became of the bytes read.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    Open,
    /// A close frame, or an answer that is not an upgrade.
    Closed,
}

impl WsClient {
    /// A client whose first bytes will be the upgrade request to `host` (`ADDR:PORT`).
    pub fn new(host: &str) -> WsClient {
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: Y2hhdGJlbmNoY2hhdGJlbmNo\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        WsClient {
            wire: request.into_bytes(),
            ..WsClient::default()
        }
    }

    /// Moves the whole lines of `text` into frames on the wire, while the wire holds less than
    /// [`WIRE_AHEAD`] (once upgraded: the RFC has a client wait for the answer before it
    /// sends frames).
    pub fn frame_lines(&mut self, text: &mut Vec<u8>) {
        if !self.upgraded {
            return;
        }
        let mut start = 0;
        while self.wire.len() < WIRE_AHEAD
            && let Some(end) = text[start..].iter().position(|&b| b == b'\n')
        {
            frame(&mut self.wire, &text[start..start + end]);
            start += end + 1;
        }
        text.drain(..start);
    }

    /// Takes bytes read; calls `on_line` with each text frame's payload.
    pub fn feed(&mut self, data: &[u8], mut on_line: impl FnMut(&[u8])) -> Fed {
        if self.upgraded && self.inbuf.is_empty() {
            // The common case: frames straight from what was read, only a torn last one kept.
            let (fed, used) = frames(data, &mut on_line);
            self.inbuf.extend_from_slice(&data[used..]);
            return fed;
        }
        self.inbuf.extend_from_slice(data);
        let mut at = 0;
        if !self.upgraded {
            let Some(end) = self.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Fed::Open;
            };
            if !self.inbuf.starts_with(b"HTTP/1.1 101 ") {
                return Fed::Closed;
            }
            self.upgraded = true;
            at = end + 4;
        }
        let (fed, used) = frames(&self.inbuf[at..], &mut on_line);
        self.inbuf.drain(..at + used);
        fed
    }
}

/// The whole frames at the start of `buf`, text ones to `on_line`; and how many bytes they took.
fn frames(buf: &[u8], on_line: &mut impl FnMut(&[u8])) -> (Fed, usize) {
    let mut fed = Fed::Open;
    let mut at = 0;
    while let Some((opcode, payload, next)) = next_frame(&buf[at..]) {
        match opcode {
            1 => on_line(payload),
            8 => fed = Fed::Closed,
            _ => {}
        }
        at += next;
    }
    (fed, at)
}

/// A masked text frame of `payload`, appended to `out`.
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.push(0x81);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
}

/// The first whole (unmasked, server's) frame of `buf`: its opcode, payload, and length.
fn next_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, head): (usize, usize) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(head..head.checked_add(len)?)?;
    Some((b0 & 0x0f, payload, head + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_masked_frames_after_the_upgrade() {
        let mut c = WsClient::new("127.0.0.1:1");
        assert!(c.wire.starts_with(b"GET /ws HTTP/1.1\r\n"));
        c.wire.clear();
        let mut text = b"hi\npartial".to_vec();
        c.frame_lines(&mut text);
        assert!(c.wire.is_empty(), "not before the answer");
        assert_eq!(
            c.feed(b"HTTP/1.1 101 Switching\r\n\r\n\x81\x02ok", |_| {}),
            Fed::Open
        );
        c.frame_lines(&mut text);
        assert_eq!(text, b"partial");
        assert_eq!(
            c.wire,
            [0x81, 0x82, 0x37, 0xfa, 0x21, 0x3d, b'h' ^ 0x37, b'i' ^ 0xfa]
        );
    }

    #[test]
    fn frames_in_come_out_whole_however_they_are_split() {
        let mut c = WsClient::new("h");
        let mut bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        bytes.extend_from_slice(b"\x81\x03one\x89\x00\x81\x7e\x00\x03two\x88\x00");
        let mut got = Vec::new();
        let mut fed = Fed::Open;
        for chunk in bytes.chunks(3) {
            fed = c.feed(chunk, |l| got.push(l.to_vec()));
        }
        assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(fed, Fed::Closed);
        let mut refused = WsClient::new("h");
        assert_eq!(
            refused.feed(b"HTTP/1.1 403 Forbidden\r\n\r\n", |_| {}),
            Fed::Closed
        );
    }
}
