//! The line client, as in the report: one thread prints what arrives, the main thread sends
//! what is typed. End of input or Ctrl+C sends `/quit`; the client exits once the server has
//! closed the connection, so everything sent before has been delivered.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use super::link::LinkWriter;
use super::{Session, read_line};

/// How long to wait for the server to close after `/quit`.
const QUIT_WAIT: Duration = Duration::from_secs(5);

pub fn run(session: Session) -> ExitCode {
    let Session {
        addr,
        name,
        mut reader,
        mut writer,
        greeting,
    } = session;
    eprintln!("connected to {addr} as {name}");
    let mut out = io::stdout();
    for line in &greeting {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    let quitting = Arc::new(AtomicBool::new(false));

    let receiver = {
        let quitting = Arc::clone(&quitting);
        thread::spawn(move || {
            let mut out = io::stdout();
            while let Ok(Some(line)) = read_line(&mut reader) {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            let _ = out.flush();
            // The main thread may be blocked reading input: end the process from here.
            if quitting.load(Ordering::SeqCst) {
                std::process::exit(0);
            }
            eprintln!("server disconnected");
            std::process::exit(1);
        })
    };

    // Ctrl+C and SIGTERM leave like the end of input does.
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) && let Ok(mut w) = writer.try_clone()
    {
        let quitting = Arc::clone(&quitting);
        thread::spawn(move || {
            if signals.forever().next().is_some() {
                quit(&mut w, &quitting);
            }
        });
    }

    let stdin = io::stdin();
    let mut lines = stdin.lock();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(b'\n');
        if writer
            .write_all(&bytes)
            .and_then(|()| writer.flush())
            .is_err()
        {
            break; // the receiver reports the disconnection
        }
    }
    quit(&mut writer, &quitting);
    let _ = receiver.join();
    ExitCode::FAILURE // not reached: the receiver exits the process
}

/// Says `/quit`, and bounds the wait for the server to close.
fn quit(writer: &mut LinkWriter, quitting: &AtomicBool) {
    if quitting.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = writer.write_all(b"/quit\n");
    let _ = writer.flush();
    let _ = writer.set_read_timeout(Some(QUIT_WAIT));
}
