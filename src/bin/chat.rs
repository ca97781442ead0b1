//! The chat client. See `chat --help`.

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use chatd::client;

/// Chat through a chatd server: a line client, or a full-screen terminal UI with --tui.
#[derive(Debug, Parser)]
#[command(name = "chat", version)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = 12345)]
    port: u16,
    /// Your name (asked for when missing and input is a terminal).
    #[arg(long)]
    name: Option<String>,
    /// A room to go to once connected (everyone starts in the lobby).
    #[arg(long)]
    room: Option<String>,
    /// Full-screen terminal UI.
    #[arg(long)]
    tui: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let name = args.name.clone().or_else(|| {
        if !io::stdin().is_terminal() {
            return None;
        }
        eprint!("Name: ");
        let _ = io::stderr().flush();
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line).ok()?;
        Some(line.trim().to_string()).filter(|n| !n.is_empty())
    });
    let mut session = match client::connect(&args.host, args.port, name.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(room) = &args.room
        && let Err(e) = session.join(room)
    {
        eprintln!("chat: {e}");
        return ExitCode::FAILURE;
    }
    if args.tui {
        client::tui::run(session).unwrap_or_else(|e| {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        })
    } else {
        client::line::run(session)
    }
}
