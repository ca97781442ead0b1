//! The chat client. See `chat --help`.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use chatd::client;
use chatd::tls::{self, Trust};

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
    /// Connect over TLS, checking the server's certificate against the system's roots.
    #[arg(long)]
    tls: bool,
    /// Check the server's certificate against these CA certificates (PEM) instead (TLS).
    #[arg(long, conflicts_with = "tls_insecure")]
    tls_ca: Option<PathBuf>,
    /// Take any certificate the server shows: encrypted, but not safe from someone in between
    /// (TLS).
    #[arg(long)]
    tls_insecure: bool,
    /// A file whose first line is the server's password, for a server that asks for one.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// A file whose first line is the password of the account --name, when that name is
    /// registered (on a terminal it is asked for, without echo).
    #[arg(long)]
    account_password_file: Option<PathBuf>,
    /// Exit (status 1) when the connection is lost, instead of connecting again with backoff
    /// as the same name in the same room.
    #[arg(long)]
    no_reconnect: bool,
}

/// The text after `! ` for a name or room that the server would refuse.
fn check_name(kind: &str, name: &str) -> Result<(), String> {
    if chatd::command::valid_name(name) {
        return Ok(());
    }
    Err(format!(
        "invalid {kind}: {name:?} (1 to {} letters, digits, _ or -)",
        chatd::command::MAX_NAME
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    // What the server would refuse is refused before anything is sent.
    let asked = args.name.as_deref().map(|n| check_name("name", n));
    let room = args
        .room
        .as_deref()
        .map(|r| check_name("room", r.strip_prefix('#').unwrap_or(r)));
    for refused in [asked, room].into_iter().flatten() {
        if let Err(e) = refused {
            eprintln!("chat: {e}");
            return ExitCode::from(2);
        }
    }
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
    // --tls-ca and --tls-insecure only make sense over TLS: they ask for it.
    let tls = if args.tls || args.tls_ca.is_some() || args.tls_insecure {
        let trust = match (&args.tls_ca, args.tls_insecure) {
            (Some(ca), _) => Trust::Ca(ca),
            (None, true) => Trust::Insecure,
            (None, false) => Trust::System,
        };
        match tls::client_config(trust) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("chat: TLS: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let mut passwords = [&args.password_file, &args.account_password_file]
        .map(|file| file.as_ref().map(|f| chatd::config::read_password(f)));
    for read in passwords.iter().flatten() {
        if let Err(e) = read {
            eprintln!("chat: {e}");
            return ExitCode::FAILURE;
        }
    }
    let [password, account_password] =
        std::mem::take(&mut passwords).map(|read| read.and_then(Result::ok));
    // On a terminal, a server's password is asked for without echo (--password-file is for
    // scripts).
    // Kept for reconnecting.
    let asked = std::cell::RefCell::new(None);
    let ask = || {
        let typed = io::stdin()
            .is_terminal()
            .then(|| client::read_hidden("Password: ").ok())
            .flatten()
            .filter(|p| !p.is_empty());
        asked.replace(typed.clone());
        typed
    };
    let asked_account = std::cell::RefCell::new(None);
    let ask_account = |name: &str| {
        let typed = io::stdin()
            .is_terminal()
            .then(|| client::read_hidden(&format!("Password for {name}: ")).ok())
            .flatten()
            .filter(|p| !p.is_empty());
        asked_account.replace(typed.clone());
        typed
    };
    let options = client::Options {
        host: &args.host,
        port: args.port,
        name: name.as_deref(),
        tls: tls.clone(),
        password: password.as_deref(),
        ask_password: Some(&ask),
        account_password: account_password.as_deref(),
        ask_account_password: Some(&ask_account),
    };
    let mut session = match client::connect(&options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // A name asked for on the command line, and not obtained: a script should know.
    if let Some(wanted) = &args.name
        && !session.name.eq_ignore_ascii_case(wanted)
    {
        let why = session
            .greeting
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("! "))
            .map(|e| e.split("; you are").next().unwrap_or(e).to_string())
            .unwrap_or_else(|| "refused".into());
        eprintln!("chat: cannot be {wanted}: {why}");
        return ExitCode::FAILURE;
    }
    if let Some(room) = args.room.as_ref().filter(|r| {
        !r.trim_start_matches('#')
            .eq_ignore_ascii_case(chatd::hub::LOBBY)
    }) {
        if let Err(e) = session.join(room) {
            eprintln!("chat: {e}");
            return ExitCode::FAILURE;
        }
        if let Some(e) = session.greeting.last().and_then(|l| l.strip_prefix("! ")) {
            eprintln!("chat: cannot join {room}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let redial = (!args.no_reconnect).then(|| client::reconnect::Redial {
        host: args.host.clone(),
        port: args.port,
        tls,
        password: password.or_else(|| asked.take()),
        account_password: account_password.or_else(|| asked_account.take()),
    });
    if args.tui {
        client::tui::run(session, redial).unwrap_or_else(|e| {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        })
    } else {
        client::line::run(session, redial)
    }
}
