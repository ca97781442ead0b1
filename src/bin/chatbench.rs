//! Load generator and raw relay. See `chatbench --help`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use chatd::bench::{self, BenchArgs};

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    if args.serve_relay {
        let listener = match chatd::net::listen(&args.host, args.port, 4096) {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "chatbench: cannot listen on {}:{}: {e}",
                    args.host, args.port
                );
                return ExitCode::FAILURE;
            }
        };
        println!(
            "relay listening on {}",
            listener.local_addr().expect("bound")
        );
        let _ = std::io::stdout().flush();
        return match bench::relay::serve(listener) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("chatbench: relay: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match args.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chatbench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match bench::load::run(&config) {
        Ok(report) => {
            if args.json {
                println!("{}", bench::to_json(&report));
            } else {
                print!("{}", bench::to_text(&report));
            }
            if report.connected == 0 {
                eprintln!("chatbench: no client could connect to {:?}", config.addrs);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chatbench: {e}");
            ExitCode::FAILURE
        }
    }
}
