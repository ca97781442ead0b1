//! Test harness: starts the real `chatd` binary on an ephemeral port of 127.0.0.1 and talks to
//! it over real sockets. Every read has a deadline, so a broken server fails a test instead of
//! hanging it.
#![allow(dead_code)]

pub mod browser;
pub mod certs;
pub mod cut;
pub mod irc;
pub mod nats;
pub mod pty;
pub mod scrape;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any single expected event may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Poll,
    Threads,
}

impl Mode {
    pub fn flag(self) -> &'static str {
        match self {
            Mode::Poll => "poll",
            Mode::Threads => "threads",
        }
    }
}

/// Generates one `#[test]` per mode for each named test body `fn body(mode: Mode)`.
#[macro_export]
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod poll {
            $( #[test] fn $name() { super::$name($crate::common::Mode::Poll) } )*
        }
        mod threads {
            $( #[test] fn $name() { super::$name($crate::common::Mode::Threads) } )*
        }
    };
}

pub struct Server {
    child: Child,
    /// The plain listener's address (the TLS one's with `--no-plain`).
    pub addr: SocketAddr,
    /// The TLS listener's address, with `--tls-port`.
    pub tls_addr: Option<SocketAddr>,
    /// The web listener's address, with `--web-port`.
    pub web_addr: Option<SocketAddr>,
    /// The IRC listeners' addresses (`--irc-port`, `--irc-tls-port`), when asked for.
    pub irc_addr: Option<SocketAddr>,
    pub irc_tls_addr: Option<SocketAddr>,
    pub mode: Mode,
}

impl Server {
    pub fn start(mode: Mode) -> Server {
        Server::start_with(mode, &[])
    }

    /// Starts chatd with extra arguments and waits for its `listening on` line.
    pub fn start_with(mode: Mode, args: &[&str]) -> Server {
        Server::start_cmd(mode, chatd(mode, args))
    }

    /// Starts chatd logging at info to `log`.
    pub fn start_logged(mode: Mode, args: &[&str], log: &std::path::Path) -> Server {
        let mut cmd = chatd(mode, args);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut logged = Command::new(cmd.get_program());
        logged.args(args.iter().filter(|a| *a != "-q"));
        logged
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        cmd = logged;
        Server::start_cmd(mode, cmd)
    }

    /// A new client connecting from `source` (any address of 127.0.0.0/8), past its welcome.
    pub fn client_from(&self, source: &str) -> Client {
        let mut c = self.connect_from(source);
        c.name = welcome_name(&c.line());
        c.arrive();
        c
    }

    /// A raw connection from `source`: nothing read yet.
    pub fn connect_from(&self, source: &str) -> Client {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let from: SocketAddr = format!("{source}:0").parse().unwrap();
        socket.bind(&from.into()).expect("bind the source address");
        socket
            .connect_timeout(&self.addr.into(), DEADLINE)
            .expect("connect");
        Client::new(socket.into())
    }

    /// Starts chatd under a wrapper command (such as `prlimit --nofile=64:64 --`).
    pub fn start_wrapped(mode: Mode, wrapper: &[&str], args: &[&str]) -> Server {
        Server::wrapped(mode, wrapper, args, None)
    }

    /// Like [`Server::start_wrapped`], logging at info to `log`.
    pub fn start_wrapped_logged(
        mode: Mode,
        wrapper: &[&str],
        args: &[&str],
        log: &std::path::Path,
    ) -> Server {
        Server::wrapped(mode, wrapper, args, Some(log))
    }

    fn wrapped(
        mode: Mode,
        wrapper: &[&str],
        args: &[&str],
        log: Option<&std::path::Path>,
    ) -> Server {
        let inner = chatd(mode, args);
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg(inner.get_program());
        match log {
            Some(log) => {
                cmd.args(inner.get_args().filter(|a| *a != "-q"))
                    .stderr(std::fs::File::create(log).unwrap());
            }
            None => {
                cmd.args(inner.get_args()).stderr(Stdio::null());
            }
        }
        cmd.stdin(Stdio::null());
        Server::start_cmd(mode, cmd)
    }

    fn start_cmd(mode: Mode, mut cmd: Command) -> Server {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let listeners = 1
            + usize::from(has("--tls-port"))
            + usize::from(has("--web-port"))
            + usize::from(has("--irc-port"))
            + usize::from(has("--irc-tls-port"))
            - usize::from(has("--no-plain"));
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn chatd");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            for _ in 0..listeners {
                let mut line = String::new();
                let _ = stdout.read_line(&mut line);
                let _ = tx.send(line);
            }
            // The rest (the store line, `--check` output) is read to the end, so that the
            // server never writes into a closed pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let (mut addr, mut tls_addr, mut web_addr) = (None, None, None);
        let (mut irc_addr, mut irc_tls_addr) = (None, None);
        for _ in 0..listeners {
            let line = rx
                .recv_timeout(DEADLINE)
                .expect("chatd did not say where it listens");
            let at: SocketAddr = line
                .strip_prefix("listening on ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line: {line:?}"));
            assert!(line.contains(&format!("(mode: {}", mode.flag())), "{line}");
            if line.contains(", irc, tls)") {
                irc_tls_addr = Some(at);
            } else if line.contains(", irc)") {
                irc_addr = Some(at);
            } else if line.contains(", web") {
                web_addr = Some(at);
            } else if line.contains(", tls)") {
                tls_addr = Some(at);
            } else {
                addr = Some(at);
            }
        }
        Server {
            child,
            addr: addr.or(tls_addr).or(web_addr).expect("an address"),
            tls_addr,
            web_addr,
            irc_addr,
            irc_tls_addr,
            mode,
        }
    }

    /// A new TLS client, past its welcome line, trusting `ca`.
    pub fn tls_client(&self, ca: &std::path::Path) -> Client {
        let mut c = self.tls_connect(ca);
        c.name = welcome_name(&c.line());
        c.arrive();
        c
    }

    /// A raw TLS connection (handshake done), trusting `ca`.
    pub fn tls_connect(&self, ca: &std::path::Path) -> Client {
        let addr = self.tls_addr.expect("a TLS listener");
        tls_over(
            TcpStream::connect_timeout(&addr, DEADLINE).expect("connect"),
            ca,
        )
    }
}

/// A TLS client (handshake done, nothing read yet) over `stream`, trusting `ca`.
pub fn tls_over(stream: TcpStream, ca: &std::path::Path) -> Client {
    {
        let config = chatd::tls::client_config(chatd::tls::Trust::Ca(ca)).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        let tcp = stream.try_clone().unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut s = &stream;
        while conn.is_handshaking() {
            conn.complete_io(&mut s).expect("TLS handshake");
        }
        Client::over(Box::new(rustls::StreamOwned::new(conn, stream)), tcp)
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new client, past its welcome line, that the others have been told of (see
    /// [`Client::arrive`]).
    pub fn client(&self) -> Client {
        let mut c = self.connect();
        c.name = welcome_name(&c.line());
        c.arrive();
        c
    }

    /// A new client, past its welcome line, that has said nothing: the others are told of it
    /// once the server's grace for newcomers is over.
    pub fn silent_client(&self) -> Client {
        let mut c = self.connect();
        c.name = welcome_name(&c.line());
        c
    }

    /// `n` clients, each of which has seen the others join.
    pub fn clients(&self, n: usize) -> Vec<Client> {
        let mut all: Vec<Client> = (0..n).map(|_| self.client()).collect();
        for c in &mut all {
            c.sync();
        }
        all
    }

    /// A raw connection: nothing read yet.
    pub fn connect(&self) -> Client {
        let stream = TcpStream::connect_timeout(&self.addr, DEADLINE).expect("connect");
        Client::new(stream)
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.wait()
    }

    pub fn wait(&mut self) -> ExitStatus {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < until, "chatd did not exit in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident memory of the server, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// CPU time the server has used, in clock ticks (1/100 s).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name, which is in parentheses: utime is the 12th, stime 13th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Threads of the server process.
    pub fn threads(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("Threads")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The chatd command with the mode, an ephemeral port and quiet logs.
pub fn chatd(mode: Mode, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatd"));
    // Each server its own store: none unless the test gives one (a temporary file).
    for (flag, default) in [
        ("--host", "127.0.0.1"),
        ("--port", "0"),
        ("--store", "none"),
    ] {
        if !args.contains(&flag) {
            cmd.args([flag, default]);
        }
    }
    cmd.args(["--mode", mode.flag(), "-q"]);
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// The name a welcome line gives.
pub fn welcome_name(welcome: &str) -> String {
    welcome
        .strip_prefix("* welcome ")
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("not a welcome: {welcome:?}"))
        .to_string()
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// A client's connection: a TCP stream, or TLS over one.
pub trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

pub struct Client {
    pub name: String,
    reader: BufReader<Box<dyn Conn>>,
    /// Lines read ahead (by [`Client::arrive`]), given before any more are read.
    ahead: std::collections::VecDeque<String>,
    /// The TCP stream under it all, for shutdowns and resets.
    tcp: TcpStream,
}

impl Client {
    pub fn new(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_nodelay(true).unwrap();
        let tcp = stream.try_clone().unwrap();
        Client::over(Box::new(stream), tcp)
    }

    /// A client over `conn`, whose TCP stream is `tcp`.
    pub fn over(conn: Box<dyn Conn>, tcp: TcpStream) -> Client {
        let _ = tcp.set_nodelay(true);
        Client {
            name: String::new(),
            reader: BufReader::new(conn),
            ahead: Default::default(),
            tcp,
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.tcp
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\n").as_bytes());
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let conn = self.reader.get_mut();
        conn.write_all(bytes).expect("send");
        conn.flush().expect("send");
    }

    /// The next line, without its newline. Fails the test after [`DEADLINE`].
    pub fn line(&mut self) -> String {
        self.try_line()
            .unwrap_or_else(|| panic!("{}: connection closed", self.name))
    }

    /// Says its first words (a `/who`), so that the server announces it now rather than at
    /// the end of its grace (a newcomer is announced when it first says something): once this
    /// returns, every other client has its join notice queued, as when it came. The lines
    /// before the answer are kept and read as if nothing had been said; the answer is not.
    pub fn arrive(&mut self) {
        self.send("/who");
        loop {
            let line = self
                .read_line()
                .unwrap_or_else(|| panic!("{}: connection closed", self.name));
            if line.starts_with("* online in #") {
                return;
            }
            self.ahead.push_back(line);
        }
    }

    /// For a client that is to stop reading: reads its welcome and says its first words (a
    /// `/who` whose answer it leaves unread), so that the others are told of it, and of its
    /// leaving. Returns after the welcome only; wait for its join notice elsewhere.
    pub fn speak_unread(&mut self) {
        self.name = welcome_name(&self.line());
        self.send("/who");
    }

    /// The next line, or None at end of stream.
    pub fn try_line(&mut self) -> Option<String> {
        if let Some(line) = self.ahead.pop_front() {
            return Some(line);
        }
        self.read_line()
    }

    fn read_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                assert_eq!(buf.pop(), Some(b'\n'), "{}: torn line {buf:?}", self.name);
                Some(String::from_utf8(buf).expect("server sent invalid UTF-8"))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{}: nothing arrived within {DEADLINE:?}", self.name)
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
            Err(e) => panic!("{}: read: {e}", self.name),
        }
    }

    /// Every line that arrives within `span` (for a test whose point is what happens during a
    /// stretch of time, such as an outage: not a way to wait for something).
    pub fn lines_within(&mut self, span: Duration) -> Vec<String> {
        let until = Instant::now() + span;
        let mut lines: Vec<String> = self.ahead.drain(..).collect();
        let mut buf = Vec::new();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.tcp.set_read_timeout(Some(left)).unwrap();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) if buf.ends_with(b"\n") => {
                    buf.pop();
                    lines.push(String::from_utf8(std::mem::take(&mut buf)).unwrap());
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{}: read: {e}", self.name),
            }
        }
        self.tcp.set_read_timeout(Some(DEADLINE)).unwrap();
        assert!(buf.is_empty(), "{}: a line torn across {span:?}", self.name);
        lines
    }

    /// Reads lines up to `want` (failing after [`DEADLINE`] without it), and returns those
    /// before it.
    pub fn until(&mut self, want: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            let line = self.line();
            if line == want {
                return before;
            }
            before.push(line);
        }
    }

    pub fn expect(&mut self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "{} expected {want:?}", self.name);
    }

    /// A barrier: asks `/who` and returns every line that arrived before its answer. Whatever
    /// the server sent this client before it read the `/who` is in the result.
    pub fn sync(&mut self) -> Vec<String> {
        self.send("/who");
        let mut before = Vec::new();
        loop {
            let line = self.line();
            if line.starts_with("* online in #") {
                return before;
            }
            before.push(line);
        }
    }

    /// Like [`Client::sync`], with the `/who` answer as the last line.
    pub fn sync_lines(&mut self) -> Vec<String> {
        self.send("/who");
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            let done = line.starts_with("* online in #");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// A barrier across two clients: `actor` sends this client a private message, and this
    /// client reads up to it. Returns every line that came first. The hub handles an actor's
    /// lines in order and each client gets its bytes in the hub's order, so whatever the
    /// actor's earlier lines caused for this client is in the result. (A [`Client::sync`] from
    /// this client proves nothing about another's input: in threads mode it may be handled
    /// before the actor's input is even read.) It is an ordinary `/msg`, which only this client
    /// gets: no command exists for tests only.
    pub fn sync_with(&mut self, actor: &mut Client) -> Vec<String> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let marker = format!(
            "* barrier {}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        actor.send(&format!("/msg {} {}", self.name, &marker[2..]));
        let mut before = Vec::new();
        loop {
            let line = self.line();
            if line.starts_with('*') && line.ends_with(&marker) {
                return before;
            }
            before.push(line);
        }
    }

    /// Two distinct clients of `c`, mutably: the `actor`-th and the `observer`-th.
    pub fn pair(c: &mut [Client], actor: usize, observer: usize) -> (&mut Client, &mut Client) {
        assert!(actor != observer);
        let (low, high) = c.split_at_mut(actor.max(observer));
        if actor < observer {
            (&mut low[actor], &mut high[0])
        } else {
            (&mut high[0], &mut low[observer])
        }
    }

    /// Reads the news of a newcomer that took the name `name` as it came: `* NAME joined`,
    /// or, had the server's grace for newcomers run out first, its guest name's join and
    /// rename. Returns the name it was first announced under.
    pub fn expect_arrival(&mut self, name: &str) -> String {
        let line = self.line();
        if line == format!("* {name} joined") {
            return name.to_string();
        }
        let guest = line
            .strip_prefix("* ")
            .and_then(|l| l.strip_suffix(" joined"))
            .filter(|g| g.starts_with("guest"))
            .unwrap_or_else(|| panic!("{} expected {name}'s arrival, got {line:?}", self.name))
            .to_string();
        self.expect(&format!("* {guest} is now {name}"));
        guest
    }

    /// Reads up to the line `want`, letting only join notices come first. Where another
    /// client's event must have been handled, this is the barrier to use: in threads mode a
    /// [`Client::sync`] from this client may overtake that event.
    pub fn expect_after_joins(&mut self, want: &str) {
        loop {
            let got = self.line();
            if got == want {
                return;
            }
            assert!(
                got.ends_with(" joined"),
                "{} expected {want:?}, got {got:?}",
                self.name
            );
        }
    }

    /// Waits for the server to close the connection; returns the lines that came first.
    pub fn until_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(l) = self.try_line() {
            lines.push(l);
        }
        lines
    }

    pub fn shutdown_write(&self) {
        self.stream().shutdown(Shutdown::Write).unwrap();
    }

    /// Closes with a reset (SO_LINGER 0) instead of a FIN.
    pub fn reset(self) {
        let sock = socket2::SockRef::from(self.stream());
        sock.set_linger(Some(Duration::ZERO)).unwrap();
    }

    /// Reads everything available until the peer closes or `limit` bytes; for draining.
    pub fn read_all(&mut self, limit: usize) -> usize {
        let mut total = 0;
        let mut buf = [0u8; 8192];
        while total < limit {
            match self.reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    }
}

/// The `chat` client for a server on 127.0.0.1, its output piped.
pub fn chat(server_port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args(["--host", "127.0.0.1", "--port", &server_port.to_string()])
        .args(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// The lines `from` (a child's output) gives, on a channel, to be read with deadlines.
pub fn lines_of(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Reads `rx` until a line satisfies `want`; returns the lines before it. Panics after
/// [`DEADLINE`] without one.
pub fn until_output(rx: &mpsc::Receiver<String>, want: impl Fn(&str) -> bool) -> Vec<String> {
    // One deadline for the whole wait: a child that keeps printing other lines does not
    // extend it.
    let until = Instant::now() + DEADLINE;
    let mut before = Vec::new();
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(line) if want(&line) => return before,
            Ok(line) => before.push(line),
            Err(e) => panic!("not seen ({e}); before it: {before:?}"),
        }
    }
}

/// Waits (bounded) for the child and collects its output.
pub fn finish(mut child: Child) -> Output {
    let until = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            panic!("chat did not exit in time");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut out = Output {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out.stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut out.stderr)
        .unwrap();
    out
}

/// A temporary folder of one test's (a store, a log, a password file), removed after:
/// `chatd-NAME-PID` in the system's temporary folder.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("chatd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The path of `name` in it, as an argument.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
