//! The chat server. See `chatd --help`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use chatd::config::{Mode, ServerConfig};
use chatd::{net, poll_server, shutdown, thread_server};

fn main() -> ExitCode {
    chatd::memory::keep_freed_memory();
    let config = ServerConfig::parse();
    let _ = simple_logger::SimpleLogger::new()
        .with_level(config.effective_log_level())
        .init();
    let listener = match net::listen(&config.host, config.port, config.listen_backlog) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "chatd: cannot listen on {}:{}: {e}",
                config.host, config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let stop = match shutdown::on_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chatd: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr} (mode: {})", config.mode),
        Err(e) => {
            eprintln!("chatd: {e}");
            return ExitCode::FAILURE;
        }
    }
    let _ = std::io::stdout().flush();
    let result = match config.mode {
        Mode::Poll => poll_server::run(listener, &config, stop),
        Mode::Threads => thread_server::run(listener, &config, stop),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatd: {e}");
            ExitCode::FAILURE
        }
    }
}
