//! The raw relay: the ceiling chatd is measured against. One thread; read a chunk from a
//! client, append its complete lines to every other client's buffer, write each buffer once per
//! loop turn. No names, no limits, no checks; the only framing is to hold back a chunk's
//! unfinished last line until its end arrives, so that lines from many senders never interleave.

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX);

struct Peer {
    stream: TcpStream,
    out: Vec<u8>,
    /// The unfinished line at the end of what this client sent so far.
    partial: Vec<u8>,
    dirty: bool,
    writable: bool,
}

/// Serves until killed.
pub fn serve(listener: StdListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut peers: Slab<Peer> = Slab::new();
    let mut dirty: Vec<usize> = Vec::new();
    let mut closed: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let entry = peers.vacant_entry();
                    poll.registry().register(
                        &mut stream,
                        Token(entry.key()),
                        Interest::READABLE,
                    )?;
                    entry.insert(Peer {
                        stream,
                        out: Vec::new(),
                        partial: Vec::new(),
                        dirty: false,
                        writable: false,
                    });
                }
                continue;
            }
            let key = ev.token().0;
            if ev.is_writable() {
                mark(&mut peers, &mut dirty, key);
            }
            while let Some(p) = peers.get_mut(key) {
                match p.stream.read(&mut buf) {
                    Ok(0) => {
                        closed.push(key);
                        break;
                    }
                    Ok(n) => {
                        let Some(end) = buf[..n].iter().rposition(|&b| b == b'\n') else {
                            p.partial.extend_from_slice(&buf[..n]);
                            continue;
                        };
                        let (lines, rest) = buf[..n].split_at(end + 1);
                        let mut held = std::mem::take(&mut p.partial);
                        for (k, other) in peers.iter_mut() {
                            if k != key {
                                other.out.extend_from_slice(&held);
                                other.out.extend_from_slice(lines);
                                if !other.dirty {
                                    other.dirty = true;
                                    dirty.push(k);
                                }
                            }
                        }
                        held.clear();
                        held.extend_from_slice(rest);
                        if let Some(p) = peers.get_mut(key) {
                            p.partial = held;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        closed.push(key);
                        break;
                    }
                }
            }
        }
        for key in dirty.drain(..) {
            let Some(p) = peers.get_mut(key) else {
                continue;
            };
            p.dirty = false;
            let mut written = 0;
            while written < p.out.len() {
                match p.stream.write(&p.out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed.push(key);
                        break;
                    }
                }
            }
            p.out.drain(..written);
            let pending = !p.out.is_empty();
            if pending != p.writable {
                let interest = if pending {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                poll.registry()
                    .reregister(&mut p.stream, Token(key), interest)?;
                p.writable = pending;
            }
        }
        for key in closed.drain(..) {
            if let Some(mut p) = peers.try_remove(key) {
                let _ = poll.registry().deregister(&mut p.stream);
            }
        }
    }
}

fn mark(peers: &mut Slab<Peer>, dirty: &mut Vec<usize>, key: usize) {
    if let Some(p) = peers.get_mut(key)
        && !p.dirty
    {
        p.dirty = true;
        dirty.push(key);
    }
}
