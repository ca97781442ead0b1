//! Flooders: clients that send junk lines flat out for the whole run. Each has its own two
//! threads on a blocking socket (one writes, one reads and discards), like an attacker on
//! another machine: a flooder the server has throttled sleeps in `write` and costs the
//! measuring loop nothing, so what the run shows is the server's doing, not the loader's.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

const LINE: &[u8] = b"flood flood flood flood flood flood flood flood\n";
const LINES_PER_WRITE: usize = 1024;

pub struct Flooders {
    streams: Vec<TcpStream>,
    threads: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    dropped: Arc<AtomicUsize>,
}

impl Flooders {
    /// Starts flooding on each connected stream.
    pub fn start(streams: Vec<TcpStream>) -> Flooders {
        let stopping = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        let chunk: Arc<[u8]> = LINE.repeat(LINES_PER_WRITE).into();
        for stream in &streams {
            let _ = stream.set_nonblocking(false);
            let (Ok(mut writer), Ok(mut reader)) = (stream.try_clone(), stream.try_clone()) else {
                continue;
            };
            let (chunk, sent) = (Arc::clone(&chunk), Arc::clone(&sent));
            threads.push(thread::spawn(move || {
                while writer.write_all(&chunk).is_ok() {
                    sent.fetch_add(LINES_PER_WRITE as u64, Ordering::Relaxed);
                }
            }));
            let (stopping, dropped) = (Arc::clone(&stopping), Arc::clone(&dropped));
            threads.push(thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
                if !stopping.load(Ordering::SeqCst) {
                    dropped.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        Flooders {
            streams,
            threads,
            stopping,
            sent,
            dropped,
        }
    }

    /// Stops them; returns the lines they wrote and how many the server disconnected.
    pub fn stop(self) -> (u64, usize) {
        self.stopping.store(true, Ordering::SeqCst);
        for s in &self.streams {
            let _ = s.shutdown(Shutdown::Both);
        }
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.dropped.load(Ordering::SeqCst),
        )
    }
}
