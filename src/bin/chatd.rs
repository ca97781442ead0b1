//! The chat server. See `chatd --help`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use chatd::config::{Mode, ServerConfig};
use chatd::{net, poll_server, shutdown, thread_server, tls};

fn main() -> ExitCode {
    chatd::memory::keep_freed_memory();
    let command_line: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = match chatd::config::file::with_config_file(command_line.clone()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("chatd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = ServerConfig::parse_from(args);
    // chatd's own modules log at the level asked for; the crates under it at info at most:
    // some print what a client sends at debug or trace (tungstenite its frames), and that may
    // be a password.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Info)
        .with_module_level("chatd", log::LevelFilter::Trace)
        .init();
    log::set_max_level(config.effective_log_level());
    if let Err(e) = config.load_secrets() {
        eprintln!("chatd: {e}");
        return ExitCode::FAILURE;
    }
    if config.check {
        return match chatd::store::check(std::path::Path::new(&config.store)) {
            Ok(found) => {
                println!("{found}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("chatd: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Before listening: a store that cannot be used is one line and exit 1, nothing served.
    let store = match config.store_config().map(chatd::store::open).transpose() {
        Ok(store) => store,
        Err(e) => {
            eprintln!("chatd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listen = |port: u16| {
        net::listen(&config.host, port, config.listen_backlog)
            .map_err(|e| format!("cannot listen on {}:{port}: {e}", config.host))
    };
    let tls_config = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => match tls::server_config(cert, key) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("chatd: TLS: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let tls = match (config.tls_port, &tls_config) {
        (Some(port), Some(c)) => match listen(port) {
            Ok(l) => Some((l, c.clone())),
            Err(e) => {
                eprintln!("chatd: TLS: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let web = match config.web_port.map(listen).transpose() {
        Ok(web) => web.map(|listener| net::WebListener {
            listener,
            tls: tls_config.clone(),
            site: std::sync::Arc::new(chatd::http::Site {
                origins: config.web_origin.clone(),
                tls: tls_config.is_some(),
            }),
        }),
        Err(e) => {
            eprintln!("chatd: web: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plain = if config.no_plain {
        None
    } else {
        match listen(config.port) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("chatd: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let irc = match config.irc_port.map(listen).transpose() {
        Ok(irc) => irc,
        Err(e) => {
            eprintln!("chatd: IRC: {e}");
            return ExitCode::FAILURE;
        }
    };
    let irc_tls = match (config.irc_tls_port, &tls_config) {
        (Some(port), Some(c)) => match listen(port) {
            Ok(l) => Some((l, c.clone())),
            Err(e) => {
                eprintln!("chatd: IRC over TLS: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let listeners = net::Listeners {
        plain,
        tls,
        web,
        irc,
        irc_tls,
    };
    chatd::metrics::METRICS.start(match config.mode {
        Mode::Poll => "poll",
        Mode::Threads => "threads",
    });
    chatd::metrics::METRICS.in_cluster.store(
        !config.cluster.is_empty(),
        std::sync::atomic::Ordering::Relaxed,
    );
    let stop = match shutdown::on_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chatd: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The plain address first, as tests and scripts expect; then the TLS one, the web one.
    let web_kind = if tls_config.is_some() {
        ", web, tls"
    } else {
        ", web"
    };
    let addrs = [
        listeners.plain.as_ref().map(|l| (l, "")),
        listeners.tls.as_ref().map(|(l, _)| (l, ", tls")),
        listeners.web.as_ref().map(|w| (&w.listener, web_kind)),
        listeners.irc.as_ref().map(|l| (l, ", irc")),
        listeners.irc_tls.as_ref().map(|(l, _)| (l, ", irc, tls")),
    ];
    for (listener, tls) in addrs.into_iter().flatten() {
        match listener.local_addr() {
            Ok(addr) => say(format_args!(
                "listening on {addr} (mode: {}{tls})",
                config.mode
            )),
            Err(e) => {
                eprintln!("chatd: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match &store {
        Some(store) => say(format_args!("store: {}", store.describe())),
        None if config.cluster.is_empty() => say(format_args!("store: none (kept in memory only)")),
        None => say(format_args!("store: the cluster's broker")),
    }
    // SIGHUP reads the settings again (see config/reload.rs).
    let reload = match shutdown::on_reload() {
        Ok(signal) => Some(chatd::config::reload::Reload {
            signal,
            reloader: chatd::config::reload::Reloader::new(command_line, config.clone()),
        }),
        Err(e) => {
            log::warn!("SIGHUP will not reload the settings: {e}");
            None
        }
    };
    let result = match config.mode {
        Mode::Poll => poll_server::run(listeners, &config, stop, reload, store),
        Mode::Threads => thread_server::run(listeners, &config, stop, reload, store),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one start-up line on stdout. A closed stdout (`chatd | head -1`, a script that read
/// the address and went away) must not stop the server, so a failed write is ignored.
fn say(line: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
