//! A connection flood from one address (`--connect-flood`): connections opened at a steady
//! rate from a source address of their own (127.0.0.2 on loopback, not exempt from chatd's
//! per-address limits), for as long as the run sends, to show what a flood the server refuses
//! costs everyone else. Its own thread, with blocking connects, like an attacker on another
//! machine. The last [`HELD`] connections are kept open (so the limit on connections at once
//! is met too, not only the one on new connections a minute); each is dropped with a reset,
//! as a flooder that does not care would, which leaves no port waiting in TIME_WAIT.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// Flood connections kept open at once; older ones are dropped.
const HELD: usize = 1000;

pub struct ConnectFlood {
    thread: JoinHandle<()>,
    stopping: Arc<AtomicBool>,
    made: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    started: Instant,
}

/// What the flood did: connections made and failed, and over how long.
#[derive(Debug, Default, Clone, Copy)]
pub struct FloodCount {
    pub made: u64,
    pub failed: u64,
    pub secs: f64,
}

impl ConnectFlood {
    /// Starts opening `per_sec` connections a second to `to`, from `from`.
    pub fn start(to: SocketAddr, from: IpAddr, per_sec: u32) -> ConnectFlood {
        let stopping = Arc::new(AtomicBool::new(false));
        let made = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (stop, m, f) = (
            Arc::clone(&stopping),
            Arc::clone(&made),
            Arc::clone(&failed),
        );
        let started = Instant::now();
        let thread = thread::spawn(move || {
            let mut held = VecDeque::with_capacity(HELD);
            let interval = Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1)));
            let mut k: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                let due = started + interval * k;
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                k = k.wrapping_add(1);
                match connect(to, from) {
                    Ok(s) => {
                        m.fetch_add(1, Ordering::Relaxed);
                        if held.len() == HELD {
                            held.pop_front();
                        }
                        held.push_back(s);
                    }
                    Err(_) => {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        ConnectFlood {
            thread,
            stopping,
            made,
            failed,
            started,
        }
    }

    pub fn stop(self) -> FloodCount {
        self.stopping.store(true, Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64();
        let _ = self.thread.join();
        FloodCount {
            made: self.made.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            secs,
        }
    }
}

fn connect(to: SocketAddr, from: IpAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    s.set_linger(Some(Duration::ZERO))?;
    s.bind(&SocketAddr::new(from, 0).into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(1))?;
    Ok(s)
}
