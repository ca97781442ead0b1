//! One loader client's connection: its phase, its buffers, and its lines in and out through
//! TLS or WebSocket framing when it has them. What `load` drives, a socket at a time.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use super::ws::{Fed, WsClient};
use crate::tls::Tls;

#[derive(PartialEq)]
pub(super) enum Phase {
    Connecting,
    Open,
    Failed,
    Closed,
}

pub(super) struct Client {
    pub(super) stream: Option<TcpStream>,
    pub(super) tls: Option<Box<Tls>>,
    pub(super) phase: Phase,
    pub(super) reads: bool,
    pub(super) out: Vec<u8>,
    pub(super) partial: Vec<u8>,
    /// Per sender: the next sequence number expected from it.
    pub(super) next_seq: Vec<u32>,
    pub(super) sent: usize,
    /// A WebSocket client's framing (its lines are framed on their way out of `out`).
    pub(super) ws: Option<Box<WsClient>>,
}

/// Writes what the socket takes of `c.out` (through TLS, with what the handshake has to send).
pub(super) fn flush(c: &mut Client) {
    let Some(s) = c.stream.as_mut() else { return };
    if let Some(ws) = c.ws.as_mut() {
        ws.frame_lines(&mut c.out);
        if write_wire(s, &mut ws.wire).is_err() {
            c.phase = Phase::Closed;
        }
        return;
    }
    if let Some(tls) = c.tls.as_mut() {
        match tls.send(s, &c.out) {
            Ok(n) => drop(c.out.drain(..n)),
            Err(_) => c.phase = Phase::Closed,
        }
        return;
    }
    let mut written = 0;
    while written < c.out.len() {
        match s.write(&c.out[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                c.phase = Phase::Closed;
                break;
            }
        }
    }
    c.out.drain(..written);
}

/// Writes what a WebSocket client has framed until the socket would block.
fn write_wire(s: &mut TcpStream, wire: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    let result = loop {
        if written == wire.len() {
            break Ok(());
        }
        match s.write(&wire[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    wire.drain(..written);
    result
}

/// Reads until the socket would block, calling `on_line` for each complete line. Returns the
/// number of bytes read.
/// The bytes of `line` (and its newline) that are a room's history: a text client's block,
/// from `* history of #ROOM` to `* end of history`, or a JSON client's one `history` event.
pub(super) fn history_part(line: &[u8], inside: &mut bool) -> usize {
    if line.starts_with(b"{\"type\":\"history\"") {
        return line.len() + 1;
    }
    if line.starts_with(b"* history of #") {
        *inside = true;
    }
    let counted = *inside;
    if line == b"* end of history" {
        *inside = false;
    }
    if counted { line.len() + 1 } else { 0 }
}

pub(super) fn read_lines(
    c: &mut Client,
    scratch: &mut [u8],
    mut on_line: impl FnMut(&[u8]),
) -> usize {
    let Some(s) = c.stream.as_mut() else { return 0 };
    let mut total = 0;
    loop {
        let read = match c.tls.as_mut() {
            Some(tls) => tls.read_from(s, scratch),
            None => s.read(scratch),
        };
        match read {
            Ok(0) => {
                c.phase = Phase::Closed;
                return total;
            }
            Ok(n) if c.ws.is_some() => {
                total += n;
                let ws = c.ws.as_mut().unwrap();
                let was_upgraded = ws.upgraded;
                if ws.feed(&scratch[..n], &mut on_line) == Fed::Closed {
                    c.phase = Phase::Closed;
                }
                if !was_upgraded && ws.upgraded {
                    // The lines that waited for the upgrade.
                    ws.frame_lines(&mut c.out);
                    if write_wire(s, &mut ws.wire).is_err() {
                        c.phase = Phase::Closed;
                    }
                }
            }
            Ok(n) => {
                total += n;
                let mut data = &scratch[..n];
                while let Some(i) = data.iter().position(|&b| b == b'\n') {
                    if c.partial.is_empty() {
                        on_line(&data[..i]);
                    } else {
                        c.partial.extend_from_slice(&data[..i]);
                        on_line(&c.partial);
                        c.partial.clear();
                    }
                    data = &data[i + 1..];
                }
                c.partial.extend_from_slice(data);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if c.tls.as_ref().is_some_and(|t| t.wants_write()) {
                    flush(c);
                }
                return total;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                c.phase = Phase::Closed;
                return total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::history_part;

    #[test]
    fn history_is_counted_apart_from_the_welcome() {
        let mut inside = false;
        let lines: [&[u8]; 6] = [
            b"* welcome guest1, 2 online; type /help for commands",
            b"* history of #lobby: 1 line",
            b"<ana> hi",
            b"* end of history",
            b"* guest2 joined",
            b"{\"type\":\"history\",\"time\":\"x\",\"room\":\"lobby\",\"lines\":[]}",
        ];
        let counted: Vec<usize> = lines.iter().map(|l| history_part(l, &mut inside)).collect();
        assert_eq!(counted, [0, 28, 9, 17, 0, lines[5].len() + 1]);
    }
}
