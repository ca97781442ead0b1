//! The `chat` client: connecting, choosing a name, and the two front ends, a line client (the
//! report's: one thread prints what arrives, the main thread sends what you type) and a
//! full-screen terminal UI.

pub mod line;
pub mod link;
pub mod pace;
pub mod reconnect;
pub mod server_line;
pub mod tui;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use std::sync::Arc;

use crate::tls::Tls;
use link::{LinkReader, LinkWriter};
use server_line::ServerLine;

/// How long `connect` waits for the server's welcome.
const WELCOME_WAIT: Duration = Duration::from_secs(5);

/// A connection past its welcome line, named as asked if the name was free.
pub struct Session {
    pub addr: SocketAddr,
    pub name: String,
    pub reader: BufReader<LinkReader>,
    pub writer: LinkWriter,
    /// What the server said while the name was being settled, for the front end to show.
    pub greeting: Vec<String>,
    /// What the server lets a client send (`/limits`); `None` if it does not say.
    pub limits: Option<pace::Limits>,
}

/// Why a session could not start. `Display` is the one line a user sees.
#[derive(Debug)]
pub enum ConnectError {
    Resolve(String, io::Error),
    Connect(String, io::Error),
    Tls(String, io::Error),
    Protocol(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Resolve(a, e) => write!(f, "cannot resolve {a}: {e}"),
            ConnectError::Connect(a, e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                write!(
                    f,
                    "cannot connect to {a}: connection refused; is chatd running?"
                )
            }
            ConnectError::Connect(a, e) => write!(f, "cannot connect to {a}: {e}"),
            ConnectError::Tls(a, e) => {
                write!(f, "TLS with {a} failed: {e}")?;
                // A plain chatd answers a ClientHello with its welcome, in the clear.
                let said = e.to_string();
                if said.contains("InvalidContentType") || said.contains("corrupt message") {
                    write!(f, "; this is not a TLS server: leave out --tls")?;
                }
                Ok(())
            }
            ConnectError::Protocol(m) => f.write_str(m),
        }
    }
}

/// Asks the user for the password of the account it is given (on a terminal, without echo).
pub type AskFor<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// How to reach the server.
pub struct Options<'a> {
    pub host: &'a str,
    pub port: u16,
    /// The name to ask for.
    pub name: Option<&'a str>,
    /// Over TLS, with these settings.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The server's password, sent first (`/pass`).
    pub password: Option<&'a str>,
    /// Asked when the server wants a password and none was given (on a terminal: a prompt
    /// that does not echo); `None`: none to be had.
    pub ask_password: Option<&'a dyn Fn() -> Option<String>>,
    /// The password of the account `name`, when that name is registered (`/login`).
    pub account_password: Option<&'a str>,
    /// Asked (with the account's name) when `name` is registered and no password was given.
    pub ask_account_password: Option<&'a AskFor<'a>>,
}

/// Connects, reads the welcome, and asks for `name` if one is given. If the name is refused,
/// the session keeps the server's name and `greeting` says why.
pub fn connect(opts: &Options<'_>) -> Result<Session, ConnectError> {
    let (host, port, name) = (opts.host, opts.port, opts.name);
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ConnectError::Resolve(shown.clone(), e))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, Duration::from_secs(10)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let stream = stream.ok_or(ConnectError::Connect(shown.clone(), last))?;
    let addr = stream
        .peer_addr()
        .map_err(|e| ConnectError::Connect(shown.clone(), e))?;
    let _ = stream.set_nodelay(true);
    let tls = match &opts.tls {
        Some(config) => Some(
            Tls::client(config, host.trim_start_matches('[').trim_end_matches(']'))
                .map_err(|e| ConnectError::Tls(shown.clone(), e))?,
        ),
        None => None,
    };
    let over_tls = tls.is_some();
    let (reader, writer) = link::split(stream, tls).map_err(|e| {
        if over_tls {
            ConnectError::Tls(shown.clone(), e)
        } else {
            ConnectError::Connect(shown.clone(), e)
        }
    })?;
    let mut session = Session {
        addr,
        name: String::new(),
        reader: BufReader::new(reader),
        writer,
        greeting: Vec::new(),
        limits: None,
    };
    let lost = || ConnectError::Protocol(format!("{shown} closed the connection"));
    // A chatd greets at once; a TLS port waits for a handshake a plain client never starts.
    let _ = session.writer.set_read_timeout(Some(WELCOME_WAIT));
    let mut welcome = match session.read_line() {
        Ok(Some(line)) => line,
        Ok(None) => return Err(lost()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            let hint = if over_tls {
                ""
            } else {
                ": if this is a TLS port, try --tls"
            };
            return Err(ConnectError::Protocol(format!(
                "{shown} said nothing within {} s{hint}",
                WELCOME_WAIT.as_secs()
            )));
        }
        Err(_) => return Err(lost()),
    };
    let _ = session.writer.set_read_timeout(None);
    if let ServerLine::PasswordRequired = server_line::parse(&welcome) {
        let asked = match opts.password {
            Some(_) => None,
            None => opts.ask_password.and_then(|ask| ask()),
        };
        let Some(password) = opts.password.or(asked.as_deref()) else {
            return Err(ConnectError::Protocol(format!(
                "{shown} asks for a password: use --password-file"
            )));
        };
        session
            .send(&format!("/pass {password}"))
            .map_err(|_| lost())?;
        welcome = session.read_line().map_err(|_| lost())?.ok_or_else(lost)?;
        if let ServerLine::Error(e) = server_line::parse(&welcome) {
            return Err(ConnectError::Protocol(format!("{shown}: {e}")));
        }
    }
    match server_line::parse(&welcome) {
        ServerLine::Welcome { name, .. } => session.name = name.to_string(),
        ServerLine::Error(e) => {
            return Err(ConnectError::Protocol(format!("{shown}: {e}")));
        }
        _ => {
            return Err(ConnectError::Protocol(format!(
                "{shown} is not a chatd server (it said {welcome:?})"
            )));
        }
    }
    session.greeting.push(welcome);
    let want = name.filter(|n| *n != session.name);
    // A password at hand (given, or the one this session logged in with before it was cut
    // off): the account is logged in to at once, and the room hears of it once, by its name.
    let logged_in_first = want.is_some() && opts.account_password.is_some();
    if let Some(want) = want.filter(|_| logged_in_first) {
        session.login(want, opts).map_err(|_| lost())?;
    }
    if let Some(want) = want.filter(|w| !session.name.eq_ignore_ascii_case(w)) {
        session.send(&format!("/nick {want}")).map_err(|_| lost())?;
        // Other lines may come first (someone joins); keep them for the front end. Closed
        // meanwhile (the server stopping), the session is what it is: the front end shows
        // what came (`* server shutting down`) and finds the end.
        while let Some(line) = session.read_line().map_err(|_| lost())? {
            match server_line::parse(&line) {
                ServerLine::YouAre(n) => {
                    session.name = n.to_string();
                    session.greeting.push(line);
                    break;
                }
                ServerLine::Error(e)
                    if !logged_in_first && e.starts_with(&format!("{want} is registered: ")) =>
                {
                    session.login(want, opts).map_err(|_| lost())?;
                    break;
                }
                ServerLine::Error(e) => {
                    let kept = format!("! {e}; you are {}", session.name);
                    session.greeting.push(kept);
                    break;
                }
                _ => session.greeting.push(line),
            }
        }
    }
    session.limits = session.ask_limits().map_err(|_| lost())?;
    Ok(session)
}

/// The account password in a `/login NAME PASSWORD`, `/register PASSWORD` or
/// `/password OLD NEW` line: what a reconnection logs in with.
pub fn account_password(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let command = words.next()?.to_ascii_lowercase();
    let password = match command.as_str() {
        "/login" => words.nth(1),
        "/register" => words.next(),
        "/password" => words.nth(1),
        _ => None,
    }?;
    (words.next().is_none()).then(|| password.to_string())
}

/// Reads a line from the terminal without showing it (a password): echo is off while it is
/// typed, and back on after, whatever happens.
pub fn read_hidden(prompt: &str) -> io::Result<String> {
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    // SAFETY: tcgetattr and tcsetattr on a descriptor we hold open, with a termios they fill.
    let mut before: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut before) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut hidden = before;
    hidden.c_lflag &= !libc::ECHO;
    hidden.c_lflag |= libc::ECHONL;
    // Echo goes off before the prompt is shown: what is typed (or pasted) as soon as it
    // appears is never echoed.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &hidden) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = &tty;
    if let Err(e) = write!(out, "{prompt}").and_then(|()| out.flush()) {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &before) };
        return Err(e);
    }
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &before) };
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

impl Session {
    /// Logs in to the account `name` (registered: `/nick` refused it), with the password
    /// given or asked for; if there is none, or the server refuses it, the session keeps its
    /// guest name and `greeting` says why.
    fn login(&mut self, name: &str, opts: &Options<'_>) -> io::Result<()> {
        let asked = match opts.account_password {
            Some(_) => None,
            None => opts.ask_account_password.and_then(|ask| ask(name)),
        };
        let Some(password) = opts.account_password.or(asked.as_deref()) else {
            let kept = format!(
                "! {name} is registered: use --account-password-file; you are {}",
                self.name
            );
            self.greeting.push(kept);
            return Ok(());
        };
        self.send(&format!("/login {name} {password}"))?;
        let lost = || io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed");
        loop {
            let line = self.read_line()?.ok_or_else(lost)?;
            match server_line::parse(&line) {
                ServerLine::YouAre(n) => self.name = n.to_string(),
                ServerLine::LoggedIn(n) => {
                    self.name = n.to_string();
                    self.greeting.push(line);
                    return Ok(());
                }
                ServerLine::Error(e) => {
                    let kept = format!("! {e}; you are {}", self.name);
                    self.greeting.push(kept);
                    return Ok(());
                }
                _ => self.greeting.push(line),
            }
        }
    }

    /// Moves to `room` (`/join`), keeping what the server says meanwhile for the front end:
    /// the move, the room's topic and history, or why it was refused.
    pub fn join(&mut self, room: &str) -> io::Result<()> {
        self.send(&format!("/join {room}"))?;
        let lost = || io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed");
        loop {
            let line = self.read_line()?.ok_or_else(lost)?;
            let done = matches!(
                server_line::parse(&line),
                ServerLine::InRoom { .. } | ServerLine::Error(_)
            );
            self.greeting.push(line);
            if done {
                return Ok(());
            }
        }
    }

    /// Asks the server's limits (`/limits`), keeping other lines that come first for the
    /// front end; `None` from a server that does not know the command.
    fn ask_limits(&mut self) -> io::Result<Option<pace::Limits>> {
        if self.send("/limits").is_err() {
            return Ok(None); // closed already: the front end finds the end
        }
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(None);
            };
            match server_line::parse(&line) {
                ServerLine::Limits { rate, burst } => {
                    return Ok(Some(pace::Limits { rate, burst }));
                }
                ServerLine::Error(e) if e.starts_with("unknown command: /limits") => {
                    return Ok(None);
                }
                _ => self.greeting.push(line),
            }
        }
    }

    pub fn send(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.writer.write_all(&bytes)?;
        self.writer.flush()
    }

    /// The next line from the server, without its newline; None at end of stream.
    pub fn read_line(&mut self) -> io::Result<Option<String>> {
        read_line(&mut self.reader)
    }
}

/// One line from `reader`, without its newline, lossily decoded; None at end of stream.
pub fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    if reader.read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}
