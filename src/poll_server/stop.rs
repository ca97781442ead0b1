//! Stopping poll mode: listeners closed, every client told, and each let go of as soon as its
//! goodbye has reached it (or when the drain time ends).

use std::time::Instant;

use super::Server;
use super::conn::State;
use crate::metrics::METRICS;

impl Server {
    /// Stopping: a connection whose goodbye has reached the client (its output written, our
    /// side shut, all of it acknowledged) is let go of at once, rather than when the client
    /// closes its side or the drain time ends (a `nc` keeps its side open).
    pub(super) fn let_go_of_delivered(&mut self) {
        let delivered: Vec<usize> = self
            .io
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.state, State::Draining { .. })
                    && crate::net::unacknowledged(&c.stream) == Some(0)
            })
            .map(|(key, _)| key)
            .collect();
        for key in delivered {
            // Read out what it sent meanwhile: closing with unread input would reset it.
            self.discard_input(key);
            self.remove(key);
        }
    }

    pub(super) fn begin_stop(&mut self) {
        if self.stopping_at.is_some() {
            return;
        }
        self.stopping_at = Some(Instant::now());
        METRICS
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some((mut listener, _)) = self.tls_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(mut web) = self.web_listener.take() {
            let _ = self.poll.registry().deregister(&mut web.listener);
        }
        if let Some(mut listener) = self.irc_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some((mut listener, _)) = self.irc_tls_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.hub.shutdown(&mut self.io);
    }
}
