//! Poll mode's arrivals: accepting from the listeners, a TLS connection's handshake steps, and
//! telling the hub of a connection once it is ready for lines.

use std::io;
use std::time::Instant;

use mio::{Interest, Token};

use super::conn::{Conn, State};
use super::timers::Timer;
use super::{Listener, Server, interrupted, would_block};
use crate::connection::Transport;
use crate::hub::{Event, Leave};
use crate::metrics::{METRICS, Metrics};
use crate::net::{self, AfterAcceptError};

impl Server {
    /// Accepts what waits on one of the listeners.
    pub(super) fn accept(&mut self, which: Listener) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let (listener, tls_config) = match which {
                Listener::Plain => match &self.listener {
                    Some(l) => (l, None),
                    None => return,
                },
                Listener::Tls => match &self.tls_listener {
                    Some((l, config)) => (l, Some(config)),
                    None => return,
                },
                Listener::Web => match &self.web_listener {
                    Some(w) => (&w.listener, w.tls.as_ref()),
                    None => return,
                },
                Listener::Irc => match &self.irc_listener {
                    Some(l) => (l, None),
                    None => return,
                },
                Listener::IrcTls => match &self.irc_tls_listener {
                    Some((l, config)) => (l, Some(config)),
                    None => return,
                },
            };
            let (mut stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if would_block(&e) => return,
                Err(e) => {
                    let accept_one = || listener.accept().map(|(s, _)| s);
                    match net::accept_failed(&e, &mut self.spare, accept_one) {
                        AfterAcceptError::Next => continue,
                        AfterAcceptError::Pause => {
                            self.accept_paused_until = Some(Instant::now() + net::ACCEPT_PAUSE);
                            return;
                        }
                    }
                }
            };
            net::tune(&stream);
            let transport = match tls_config.map(Transport::tls).transpose() {
                Ok(t) => t.unwrap_or(Transport::Plain),
                Err(e) => {
                    log::warn!("{peer}: TLS: {e}");
                    continue;
                }
            };
            let transport = match (which, &self.web_listener) {
                (Listener::Web, Some(w)) => Transport::web(transport, &w.site, self.rules.max_line),
                (Listener::Irc | Listener::IrcTls, _) => Transport::irc(transport),
                _ => transport,
            };
            let entry = self.io.conns.vacant_entry();
            let key = entry.key();
            let registered =
                self.poll
                    .registry()
                    .register(&mut stream, Token(key), Interest::READABLE);
            if let Err(e) = registered {
                log::warn!("cannot register {peer}: {e}");
                continue;
            }
            let now = Instant::now();
            let serial = self.next_serial;
            self.next_serial += 1;
            let conn = entry.insert(Conn::new(stream, transport, peer, serial, now));
            if conn.state == State::Handshaking {
                log::debug!("{peer}: handshake{} (client {key})", conn.transport.over());
                let deadline = now + self.handshake_time;
                self.io.timers.add(deadline, key, serial, Timer::Handshake);
            } else {
                self.opened(key);
            }
        }
    }

    /// A connection is ready for lines (accepted, or its handshake done): the hub is told, and
    /// its silence is timed from now on.
    pub(super) fn opened(&mut self, key: usize) {
        let conn = &mut self.io.conns[key];
        conn.state = State::Open;
        let peer = conn.peer;
        if conn.transport.reads_json() {
            // A WebSocket client reads JSON events from its first line on (and IRC's layer,
            // which makes IRC of them).
            self.hub.set_json(key, true);
        }
        if let Some(idle) = self.idle_timeout {
            let (at, serial) = (conn.last_input + idle, conn.serial);
            self.io.timers.add(at, key, serial, Timer::Idle);
        }
        if let Some(every) = self.irc_ping.filter(|_| conn.transport.is_irc()) {
            let (at, serial) = (conn.last_input + every, conn.serial);
            self.io.timers.add(at, key, serial, Timer::Ping);
        }
        self.hub
            .handle(Event::Connected(key, peer.ip()), &mut self.io);
        // One the hub turned away (a limit: it logged why) is not logged as a client.
        if let Some(conn) = self.io.conns.get_mut(key).filter(|c| c.is_open()) {
            log::info!("{peer} connected{} (client {key})", conn.transport.over());
            let via = conn.transport.via();
            METRICS.connected(via, 1);
            conn.counted = Some(via);
        }
    }

    /// After a read of a connection in its handshake: tells the hub of it if the handshake is
    /// done (returns true: go on with what was read), or ends it if the read says it failed.
    pub(super) fn handshake_step(&mut self, key: usize, read: &io::Result<usize>) -> bool {
        let conn = &mut self.io.conns[key];
        if conn.transport.served() {
            // A file, or a refusal, was answered: closed once written; never a client.
            self.io.finish(key);
            return false;
        }
        if !conn.transport.is_handshaking() {
            self.opened(key);
            return self.io.conns.get(key).is_some_and(Conn::is_open);
        }
        match read {
            Err(e) if would_block(e) || interrupted(e) => {}
            Ok(_) => self.io.kill(key, Leave::Closed),
            Err(e) => {
                log::info!(
                    "{}: handshake failed{}: {e}",
                    conn.peer,
                    conn.transport.over()
                );
                Metrics::add(&METRICS.handshakes_failed, 1);
                conn.transport.flush(&mut conn.stream);
                self.io.kill(key, Leave::Closed);
            }
        }
        false
    }
}
