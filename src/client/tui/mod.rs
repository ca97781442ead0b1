//! `chat --tui`: the full-screen client. A thread reads the server's lines into a channel; the
//! main thread waits for keys (50 ms at a time), applies them and the server's lines to the
//! [`state::App`], and redraws. The terminal is restored on every way out: normal exit,
//! error, and panic (ratatui's panic hook). When the connection is lost, a thread connects
//! again with backoff (see [`super::reconnect`]) while the screen says so and stays usable;
//! back, it joins again every room it was in.

pub mod state;
pub mod view;

use std::io::{self, BufReader};
use std::process::ExitCode;
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::link::{LinkReader, LinkWriter};
use super::pace::Pacer;
use super::reconnect::{Backoff, Redial};
use super::{Session, read_line};
use state::{Action, App, Key, Status};

enum FromServer {
    Line(String),
    Closed,
    /// Reconnecting: the last reason, and the wait before the next attempt.
    Retry(String, Duration),
    Back(Session),
}

/// Reads the server's lines into the channel, then says it closed.
fn spawn_reader(mut reader: BufReader<LinkReader>, tx: Sender<FromServer>) {
    thread::spawn(move || {
        while let Ok(Some(line)) = read_line(&mut reader) {
            if tx.send(FromServer::Line(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(FromServer::Closed);
    });
}

/// Tries to connect again as `name` in `room` until it succeeds, saying each wait.
fn spawn_reconnect(redial: Redial, name: String, room: String, tx: Sender<FromServer>) {
    thread::spawn(move || {
        let mut backoff = Backoff::from_clock();
        let mut why = "server closed the connection".to_string();
        loop {
            let wait = backoff.next_wait();
            if tx.send(FromServer::Retry(why.clone(), wait)).is_err() {
                return;
            }
            thread::sleep(wait);
            match redial.dial(&name, &room) {
                Ok(session) => {
                    let _ = tx.send(FromServer::Back(session));
                    return;
                }
                Err(e) => why = e.to_string(),
            }
        }
    });
}

/// Sends the lines waiting that the line rate lets go now; true if one was `/quit`.
fn send_waiting(app: &mut App, pacer: &mut Pacer, writer: &mut Option<LinkWriter>) -> bool {
    let mut quit = false;
    while writer.is_some() && !app.waiting.is_empty() {
        if pacer.next(std::time::Instant::now()).is_err() {
            break;
        }
        let Some(line) = app.waiting.pop_front() else {
            break;
        };
        quit |= line.to_ascii_lowercase().starts_with("/quit");
        if send(writer, &line).is_err() {
            app.not_sent("connection lost");
        }
    }
    quit
}

fn send(writer: &mut Option<LinkWriter>, line: &str) -> io::Result<()> {
    use std::io::Write;
    let Some(w) = writer.as_mut() else {
        return Err(io::ErrorKind::NotConnected.into());
    };
    w.write_all(format!("{line}\n").as_bytes())?;
    w.flush()
}

/// Events a program can trust from now on (a `/me` cannot pass for a leave), then the room's
/// members.
fn start_session(writer: &mut Option<LinkWriter>) {
    let _ = send(writer, "/format json");
    let _ = send(writer, "/who");
}

pub fn run(session: Session, mut redial: Option<Redial>) -> io::Result<ExitCode> {
    let Session {
        addr,
        name,
        reader,
        writer,
        greeting,
        limits,
    } = session;
    let mut app = App::new(addr.to_string(), name);
    let mut pacer = Pacer::new(limits);
    app.paced_at = pacer.rate();
    for line in &greeting {
        app.server_line(line);
    }
    let (tx, rx) = mpsc::channel();
    spawn_reader(reader, tx.clone());
    let mut writer = Some(writer);
    start_session(&mut writer);

    let mut terminal = ratatui::try_init()?;
    let result = (|| -> io::Result<bool> {
        let mut quitting = false;
        loop {
            terminal.draw(|f| view::render(f, &mut app))?;
            if event::poll(Duration::from_millis(50))?
                && let Event::Key(key) = event::read()?
                && let Some(key) = map_key(key)
            {
                match app.key(key) {
                    Action::None => {}
                    // It goes when the line rate and the connection let it.
                    Action::Send(line) => {
                        // A reconnection logs in to the account with what was typed last.
                        if let Some(password) = crate::client::account_password(&line)
                            && let Some(r) = redial.as_mut()
                        {
                            r.account_password = Some(password);
                        }
                        app.waiting.push_back(line)
                    }
                    Action::Quit => {
                        if app.status == Status::Connected {
                            let _ = send(&mut writer, "/quit");
                            return Ok(true);
                        }
                        // Leaving while disconnected (or reconnecting) is leaving.
                        return Ok(quitting || redial.is_some());
                    }
                }
            }
            quitting |= send_waiting(&mut app, &mut pacer, &mut writer);
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    FromServer::Line(line) => {
                        if let Some(reply) = app.server_line(&line) {
                            let _ = send(&mut writer, &reply);
                        }
                    }
                    FromServer::Closed => {
                        if quitting {
                            return Ok(true);
                        }
                        writer = None;
                        match redial.as_ref().filter(|_| !app.removed) {
                            Some(r) => {
                                let r = Redial {
                                    host: r.host.clone(),
                                    port: r.port,
                                    tls: r.tls.clone(),
                                    password: r.password.clone(),
                                    account_password: r.account_password.clone(),
                                };
                                let room = app.room().to_string();
                                spawn_reconnect(r, app.me.clone(), room, tx.clone());
                            }
                            None => app.disconnected("server closed the connection"),
                        }
                    }
                    FromServer::Retry(why, wait) => app.reconnecting(&why, wait),
                    FromServer::Back(session) => {
                        spawn_reader(session.reader, tx.clone());
                        writer = Some(session.writer);
                        pacer = Pacer::new(session.limits);
                        app.paced_at = pacer.rate();
                        app.reconnected(session.addr.to_string(), session.name, &session.greeting);
                        start_session(&mut writer);
                        // Back to the other rooms too, the shown one last, first of what waits
                        // (paced: 25 rooms is more than a flood limit lets through at once).
                        for line in app.rejoin_lines().into_iter().rev() {
                            app.waiting.push_front(line);
                        }
                    }
                }
            }
        }
    })();
    ratatui::restore();
    match result? {
        true => Ok(ExitCode::SUCCESS),
        false => {
            eprintln!("server disconnected");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn map_key(k: KeyEvent) -> Option<Key> {
    if k.kind != KeyEventKind::Press {
        return None;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    Some(match k.code {
        KeyCode::Char(c @ '1'..='9') if alt => Key::Room(c as usize - '1' as usize),
        KeyCode::Char(_) if alt => return None,
        KeyCode::Char('c' | 'd') if ctrl => Key::Quit,
        KeyCode::Char('u') if ctrl => Key::ClearLine,
        KeyCode::Char('w') if ctrl => Key::DeleteWord,
        KeyCode::Char('a') if ctrl => Key::Home,
        KeyCode::Char('e') if ctrl => Key::End,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Delete => Key::Delete,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Esc => Key::Quit,
        _ => return None,
    })
}
