//! Socket plumbing shared by both concurrency models: the listening socket, per-connection socket
//! options, and a reserved descriptor for riding out descriptor exhaustion.

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds and listens on `host:port` with a listen queue of `backlog` connections (std's own
/// `TcpListener::bind` asks for 128, too few for a burst of clients connecting at once).
pub fn listen(host: &str, port: u16, backlog: i32) -> io::Result<TcpListener> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address found"))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// What a server listens on: plain TCP, TLS, the web, IRC (plain or TLS; any of them).
pub struct Listeners {
    pub plain: Option<TcpListener>,
    /// The TLS listener and its settings.
    pub tls: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    pub web: Option<WebListener>,
    /// The IRC listener (`--irc-port`), and the one over TLS (`--irc-tls-port`).
    pub irc: Option<TcpListener>,
    pub irc_tls: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
}

/// The web listener (`--web-port`): the page and WebSocket clients, over TLS or not.
pub struct WebListener {
    pub listener: TcpListener,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub site: Arc<crate::http::Site>,
}

/// Options for an accepted connection: no Nagle delay (chat lines are small and latency
/// matters), and TCP keepalive so that dead peers are eventually noticed.
pub fn tune(stream: &impl std::os::fd::AsFd) {
    let stream = socket2::SockRef::from(stream);
    let _ = stream.set_tcp_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(60))
        .with_interval(std::time::Duration::from_secs(10));
    let _ = stream.set_tcp_keepalive(&keepalive);
}

/// An address that reaches `listening` from this machine (the unspecified address becomes
/// loopback).
pub fn local_peer(listening: SocketAddr) -> SocketAddr {
    let mut addr = listening;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// After accept failed for want of descriptors (or for a reason that is not one connection's),
/// how long to wait before trying again.
pub const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// What an accept loop does after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAcceptError {
    /// Accept the next connection now.
    Next,
    /// Wait [`ACCEPT_PAUSE`] before accepting again.
    Pause,
}

/// The one rule for accept errors, in both models: an interrupted call or one connection's
/// failure (`ECONNABORTED`) moves on to the next; out of descriptors, the spare one is used to
/// turn one waiting connection away (`accept_one`), and if even that failed, pause; any other
/// error pauses too, so that a persistent one never spins and never ends the server.
pub fn accept_failed<S: Write>(
    e: &io::Error,
    spare: &mut SpareFd,
    accept_one: impl FnOnce() -> io::Result<S>,
) -> AfterAcceptError {
    if e.kind() == io::ErrorKind::Interrupted {
        return AfterAcceptError::Next;
    }
    if out_of_descriptors(e) {
        let turned_away = spare.turn_away(accept_one);
        log::warn!("accept: {e}; turned a connection away: {turned_away}");
        return if turned_away {
            AfterAcceptError::Next
        } else {
            AfterAcceptError::Pause
        };
    }
    log::warn!("accept: {e}");
    if e.kind() == io::ErrorKind::ConnectionAborted {
        AfterAcceptError::Next
    } else {
        AfterAcceptError::Pause
    }
}

/// Bytes written to `stream` that its peer has not acknowledged yet (SIOCOUTQ); `None` if
/// the kernel will not say. Zero once everything written has reached the peer's TCP: then
/// closing cannot lose any of it.
pub fn unacknowledged(stream: &impl std::os::fd::AsRawFd) -> Option<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer given.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    (r == 0).then_some(queued.max(0) as usize)
}

/// True for "this process (or the system) has no descriptor left".
pub fn out_of_descriptors(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == 24 /* EMFILE */ || code == 23 /* ENFILE */)
}

/// One descriptor held in reserve. When accept fails for want of descriptors, the reserve is
/// let go so that the waiting connection can be accepted, told `! server full` and closed,
/// instead of staying in the queue and waking the accept loop forever.
pub struct SpareFd(Option<File>);

impl SpareFd {
    pub fn new() -> SpareFd {
        SpareFd(File::open("/dev/null").ok())
    }

    /// Accepts one waiting connection with the reserved descriptor and turns it away.
    /// Returns false when that was not possible either.
    pub fn turn_away<S: Write>(&mut self, accept: impl FnOnce() -> io::Result<S>) -> bool {
        if self.0.take().is_none() {
            self.0 = File::open("/dev/null").ok();
            return false;
        }
        let turned_away = match accept() {
            Ok(mut stream) => {
                let _ = stream.write(b"! server full\n");
                true
            }
            Err(_) => false,
        };
        self.0 = File::open("/dev/null").ok();
        turned_away
    }
}

impl Default for SpareFd {
    fn default() -> Self {
        SpareFd::new()
    }
}
