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
    if let Some(dir) = &args.store_bench {
        let bench = bench::store::StoreBench {
            dir: dir.clone(),
            lines: args.store_lines,
            rooms: args.store_rooms.max(1),
            rates: args.store_rates.clone(),
            step: std::time::Duration::from_millis(args.store_step_ms),
            questions: args.store_questions,
        };
        return match bench::store::run(&bench) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("chatbench: store: {e}");
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
