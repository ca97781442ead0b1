//! Pagers: clients that page back through history and search for the whole run, one question
//! at a time, in a room of their own (`#pagers`, so the run's lines do not reach them), each
//! on its own thread with a blocking socket, like the flooders. What they measure is how long
//! a question takes to be answered; what the run measures beside them is whether the others
//! notice.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::histogram::Histogram;

/// Words a pager searches for (those `chatbench --store-bench` writes, and common ones).
const WORDS: [&str; 6] = ["release", "friday", "needle", "socket", "bench", "deploy"];

pub struct Pagers {
    streams: Vec<TcpStream>,
    threads: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    took: Arc<Mutex<(Histogram, u64)>>,
}

/// What the pagers saw: answers, their latency, and answers that were errors.
#[derive(Debug, Default, Clone)]
pub struct PagerCount {
    pub answers: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Pagers {
    /// Starts paging on each connected stream: `/history before ID` with ids below
    /// `max_id`, and `/search WORD`, in turn.
    pub fn start(streams: Vec<TcpStream>, max_id: u64) -> Pagers {
        let stopping = Arc::new(AtomicBool::new(false));
        let took = Arc::new(Mutex::new((Histogram::default(), 0)));
        let mut threads = Vec::new();
        for (n, stream) in streams.iter().enumerate() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(stream) = stream.try_clone() else {
                continue;
            };
            let (stopping, took) = (Arc::clone(&stopping), Arc::clone(&took));
            threads.push(thread::spawn(move || {
                page(stream, n as u64, max_id.max(2), &stopping, &took)
            }));
        }
        Pagers {
            streams,
            threads,
            stopping,
            took,
        }
    }

    pub fn stop(self) -> PagerCount {
        self.stopping.store(true, Ordering::SeqCst);
        for s in &self.streams {
            let _ = s.shutdown(Shutdown::Both);
        }
        for t in self.threads {
            let _ = t.join();
        }
        let (hist, errors) = &*self.took.lock().unwrap_or_else(|e| e.into_inner());
        PagerCount {
            answers: hist.count(),
            errors: *errors,
            p50_us: hist.quantile(0.5),
            p99_us: hist.quantile(0.99),
            max_us: hist.max(),
        }
    }
}

/// One pager's loop, until the stream is shut.
fn page(
    stream: TcpStream,
    seed: u64,
    max_id: u64,
    stopping: &AtomicBool,
    took: &Mutex<(Histogram, u64)>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // Into a room of its own, past what the server says on the way.
    if writer.write_all(b"/join pagers\n").is_err() {
        return;
    }
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        if line.starts_with("* you are in #pagers") {
            break;
        }
    }
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut asked = 0u64;
    while !stopping.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let question = if asked.is_multiple_of(2) {
            format!("/history before {}\n", 1 + rng % (max_id - 1))
        } else {
            format!("/search {}\n", WORDS[(rng % WORDS.len() as u64) as usize])
        };
        asked += 1;
        let start = Instant::now();
        if writer.write_all(question.as_bytes()).is_err() {
            return;
        }
        // Its answer ends with `* end of ...`, or is one error line.
        let error = loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(n) if n > 0 => {}
                _ => return,
            }
            if line.starts_with("! ") {
                break true;
            }
            if line.starts_with("* end of history") || line.starts_with("* end of search") {
                break false;
            }
        };
        let mut t = took.lock().unwrap_or_else(|e| e.into_inner());
        if error {
            t.1 += 1;
        } else {
            t.0.record(start.elapsed().as_micros() as u64);
        }
    }
}
