//! The line client, as in the report: one thread prints what arrives, the main thread sends
//! what is typed. End of input or Ctrl+C sends `/quit`; the client exits once the server has
//! closed the connection, so everything sent before has been delivered.
//!
//! What is typed or piped goes out at the server's line rate (`/limits`): a paste or a pipe of
//! more lines than its burst waits here, read ahead from the input, and stderr says so (`sending
//! paced at 50 lines a second: 1900 lines waiting (about 38 s)`, every 2 s, then `all lines
//! sent`).
//!
//! When the connection is lost otherwise (a server restart), the printing thread says so on
//! stderr and connects again with backoff, as the same name in the same room, printing of the
//! room's replayed history only what it had not printed; meanwhile what is typed waits. With
//! `--no-reconnect` (`redial` None) it exits instead, status 1.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::link::{LinkReader, LinkWriter};
use super::pace::{Limits, Pacer, waiting_text};
use super::reconnect::{Backoff, Redial, Replay, Shown};
use super::server_line::{self, ServerLine};
use super::{Session, read_line};

/// How long to wait for the server to close after `/quit`.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// How often stderr says how many lines wait, while they do.
const SAY_WAITING_EVERY: Duration = Duration::from_secs(2);
/// Most input lines read ahead of the pacing; the input is read no faster past it.
const READ_AHEAD: usize = 100_000;

/// The writing half, while connected; `None` while reconnecting (typed lines wait for it).
struct Writer {
    link: Mutex<Option<LinkWriter>>,
    back: Condvar,
    /// The current connection's limits.
    limits: Mutex<Option<Limits>>,
    /// The account password typed last (`/login`, `/register`, `/password`), for a
    /// reconnection to log in with.
    account_password: Mutex<Option<String>>,
}

/// Input lines read and not sent yet, and whether the input has ended.
#[derive(Default)]
struct Input {
    lines: Mutex<(VecDeque<String>, bool)>,
    changed: Condvar,
}

impl Input {
    fn lock(&self) -> MutexGuard<'_, (VecDeque<String>, bool)> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads stdin into the queue, at most [`READ_AHEAD`] lines ahead.
    fn read_stdin(&self) {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let mut line = String::new();
        loop {
            line.clear();
            match input.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                continue;
            }
            let mut q = self.lock();
            while q.0.len() >= READ_AHEAD {
                q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.0.push_back(text.to_string());
            self.changed.notify_all();
        }
        self.lock().1 = true;
        self.changed.notify_all();
    }

    /// The next line, and how many wait after it; `None` at the end of the input.
    fn next(&self) -> Option<(String, usize)> {
        let mut q = self.lock();
        loop {
            if let Some(line) = q.0.pop_front() {
                self.changed.notify_all();
                return Some((line, q.0.len()));
            }
            if q.1 {
                return None;
            }
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Writer {
    fn lock(&self) -> MutexGuard<'_, Option<LinkWriter>> {
        self.link.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where the client is, as the server's lines tell it: what a reconnection asks for again.
struct Place {
    name: String,
    room: String,
    shown: Shown,
    /// The last line was a removal (kicked, banned): do not come back by ourselves.
    removed: bool,
}

impl Place {
    fn saw(&mut self, line: &str) {
        self.removed = false;
        match server_line::parse(line) {
            ServerLine::Chat { .. } => self.shown.push(line),
            ServerLine::YouAre(n) => self.name = n.to_string(),
            ServerLine::InRoom { room, .. } => {
                // Back in the same room after a reconnection, what was shown there stays
                // shown (its history is replayed against it).
                if !room.eq_ignore_ascii_case(&self.room) {
                    self.shown.clear();
                }
                self.room = room.to_string();
            }
            ServerLine::Error(e) => {
                self.removed = e.starts_with("kicked by ") || e.starts_with("banned");
            }
            _ => {}
        }
    }
}

pub fn run(session: Session, redial: Option<Redial>) -> ExitCode {
    let Session {
        addr,
        name,
        reader,
        writer,
        greeting,
        limits,
    } = session;
    eprintln!("connected to {addr} as {name}");
    let mut place = Place {
        name,
        room: crate::hub::LOBBY.to_string(),
        shown: Shown::default(),
        removed: false,
    };
    let mut out = io::stdout();
    for line in &greeting {
        let _ = writeln!(out, "{line}");
        place.saw(line);
    }
    let _ = out.flush();
    let quitting = Arc::new(AtomicBool::new(false));
    let writer = Arc::new(Writer {
        link: Mutex::new(Some(writer)),
        back: Condvar::new(),
        limits: Mutex::new(limits),
        account_password: Mutex::new(None),
    });

    let receiver = {
        let (quitting, writer) = (Arc::clone(&quitting), Arc::clone(&writer));
        thread::spawn(move || receive(reader, place, redial, &writer, &quitting))
    };

    // Ctrl+C and SIGTERM leave like the end of input does.
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        let (quitting, writer) = (Arc::clone(&quitting), Arc::clone(&writer));
        thread::spawn(move || {
            if signals.forever().next().is_some() {
                quit(&writer, &quitting);
            }
        });
    }

    let input = Arc::new(Input::default());
    {
        let input = Arc::clone(&input);
        thread::spawn(move || input.read_stdin());
    }
    let mut limits = *writer.limits.lock().unwrap_or_else(|e| e.into_inner());
    let mut pacer = Pacer::new(limits);
    // When stderr last said how many lines wait (and that it has said so).
    let mut said_waiting: Option<Instant> = None;
    while let Some((text, after)) = input.next() {
        let now_limits = *writer.limits.lock().unwrap_or_else(|e| e.into_inner());
        if now_limits != limits {
            limits = now_limits;
            pacer = Pacer::new(limits);
        }
        while let Err(wait) = pacer.next(Instant::now()) {
            if let Some(rate) = pacer.rate()
                && said_waiting.is_none_or(|t| t.elapsed() >= SAY_WAITING_EVERY)
            {
                eprintln!(
                    "sending paced at {rate} lines a second: {}",
                    waiting_text(after + 1, rate)
                );
                said_waiting = Some(Instant::now());
            }
            thread::sleep(wait);
        }
        if let Some(password) = super::account_password(&text) {
            // A reconnection logs in to the account with what was typed last.
            *writer
                .account_password
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(password);
        }
        let mut bytes = text.into_bytes();
        bytes.push(b'\n');
        // Wait while reconnecting; a write that fails is the receiver's to report.
        let mut link = writer.lock();
        while link.is_none() {
            link = writer.back.wait(link).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(w) = link.as_mut()
            && w.write_all(&bytes).and_then(|()| w.flush()).is_err()
        {
            *link = None;
        }
        drop(link);
        if after == 0 && said_waiting.take().is_some() {
            eprintln!("all lines sent");
        }
    }
    quit(&writer, &quitting);
    let _ = receiver.join();
    ExitCode::FAILURE // not reached: the receiver exits the process
}

/// The printing thread: prints what arrives; at the end of the connection, exits, or
/// reconnects and goes on.
fn receive(
    mut reader: BufReader<LinkReader>,
    mut place: Place,
    redial: Option<Redial>,
    writer: &Writer,
    quitting: &AtomicBool,
) {
    let mut out = io::stdout();
    // After a reconnection, until the room's history has been replayed.
    let mut replay: Option<Replay> = None;
    loop {
        while let Ok(Some(line)) = read_line(&mut reader) {
            let lines = match replay.as_mut() {
                Some(r) => r.filter(line, &place.shown),
                None => vec![line],
            };
            for line in lines {
                let _ = writeln!(out, "{line}");
                place.saw(&line);
            }
            let _ = out.flush();
            if replay.as_ref().is_some_and(Replay::is_done) {
                replay = None;
            }
        }
        let _ = out.flush();
        // The main thread may be blocked reading input: end the process from here.
        if quitting.load(Ordering::SeqCst) {
            std::process::exit(0);
        }
        let Some(redial) = redial.as_ref().filter(|_| !place.removed) else {
            eprintln!("server disconnected");
            std::process::exit(1);
        };
        *writer.lock() = None;
        let typed = writer
            .account_password
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let redial = Redial {
            account_password: typed.or_else(|| redial.account_password.clone()),
            ..redial.clone()
        };
        let session = reconnect(&redial, &place, quitting);
        let back = format!("reconnected to {} as {}", session.addr, session.name);
        place.name.clone_from(&session.name);
        let mut again = Replay::after(&session.greeting, &place.room, &mut place.shown);
        for line in session.greeting {
            for line in again.filter(line, &place.shown) {
                let _ = writeln!(out, "{line}");
                place.saw(&line);
            }
        }
        replay = Some(again).filter(|r| !r.is_done());
        let _ = out.flush();
        reader = session.reader;
        *writer.lock() = Some(session.writer);
        *writer.limits.lock().unwrap_or_else(|e| e.into_inner()) = session.limits;
        writer.back.notify_all();
        // Said once it is back for the input too: an end of input from here on says /quit
        // and waits for what the server still sends, instead of ending as if reconnecting.
        eprintln!("{back}");
    }
}

/// Tries until it is back, saying on stderr what it does.
fn reconnect(redial: &Redial, place: &Place, quitting: &AtomicBool) -> Session {
    let mut backoff = Backoff::from_clock();
    let mut why = "server closed the connection".to_string();
    loop {
        let wait = backoff.next_wait();
        eprintln!(
            "! disconnected: {why}; reconnecting in {:.1} s",
            wait.as_secs_f64()
        );
        thread::sleep(wait);
        if quitting.load(Ordering::SeqCst) {
            std::process::exit(0);
        }
        match redial.dial(&place.name, &place.room) {
            Ok(session) => return session,
            Err(e) => why = e.to_string(),
        }
    }
}

/// Says `/quit`, and bounds the wait for the server to close. While reconnecting there is no
/// one to tell: the client ends at once.
fn quit(writer: &Writer, quitting: &AtomicBool) {
    if quitting.swap(true, Ordering::SeqCst) {
        return;
    }
    let mut link = writer.lock();
    let Some(w) = link.as_mut() else {
        std::process::exit(0);
    };
    let _ = w.write_all(b"/quit\n");
    let _ = w.flush();
    let _ = w.set_read_timeout(Some(QUIT_WAIT));
}
