//! `chat --tui`: the full-screen client. A thread reads the server's lines into a channel; the
//! main thread waits for keys (50 ms at a time), applies them and the server's lines to the
//! [`state::App`], and redraws. The terminal is restored on every way out: normal exit,
//! error, and panic (ratatui's panic hook).

pub mod state;
pub mod view;

use std::io;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{Session, read_line};
use state::{Action, App, Key, Status};

enum FromServer {
    Line(String),
    Closed,
}

pub fn run(session: Session) -> io::Result<ExitCode> {
    let Session {
        addr,
        name,
        mut reader,
        mut writer,
        greeting,
    } = session;
    let mut app = App::new(addr.to_string(), name);
    for line in &greeting {
        app.server_line(line);
    }
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        while let Ok(Some(line)) = read_line(&mut reader) {
            if tx.send(FromServer::Line(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(FromServer::Closed);
    });
    let mut send = |line: &str| {
        use std::io::Write;
        writer.write_all(format!("{line}\n").as_bytes())?;
        writer.flush()
    };
    // Events a program can trust from now on (a `/me` cannot pass for a leave), then the
    // room's members.
    let _ = send("/format json");
    let _ = send("/who");

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
                    Action::Send(line) => {
                        quitting |= line.to_ascii_lowercase().starts_with("/quit");
                        if send(&line).is_err() {
                            app.disconnected("cannot send: connection lost");
                        }
                    }
                    Action::Quit => {
                        if app.status == Status::Connected {
                            let _ = send("/quit");
                            return Ok(true);
                        }
                        return Ok(quitting);
                    }
                }
            }
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    FromServer::Line(line) => {
                        if let Some(reply) = app.server_line(&line) {
                            let _ = send(&reply);
                        }
                    }
                    FromServer::Closed => {
                        if quitting {
                            return Ok(true);
                        }
                        app.disconnected("server closed the connection");
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
    Some(match k.code {
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
