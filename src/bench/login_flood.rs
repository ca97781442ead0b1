//! A `/login` flood (`--login-flood N`): N wrong tries in all, from `--login-flood-addresses`
//! source addresses (127.0.1.1, 127.0.1.2, ... on loopback: none exempt from the throttling of
//! wrong tries, which applies to every address), each address one connection trying as fast
//! as the server answers, for as long as the run sends or until the tries are spent. Half the
//! addresses guess at one registered-looking name, half at names of their own, so both the
//! per-account and the per-address slowing are met. Each first goes to a room of its own
//! (`/join loginflood`), so that what the run shows is what the logins cost, not 50 more
//! readers of the measured room. Threads of its own, blocking sockets, like attackers on other
//! machines: what the run shows is the server's doing.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// What the flood did.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoginCount {
    /// Tries sent and answered.
    pub tries: u64,
    /// Answered `! wrong name or password` (checked: a hash each).
    pub wrong: u64,
    /// Answered `! too many wrong tries; ...` (not checked: no hash).
    pub waited: u64,
    /// Answered `! busy, try again` (the hashing pool full).
    pub busy: u64,
    /// Connections that failed or were closed.
    pub failed: u64,
    pub secs: f64,
}

#[derive(Default)]
struct Counts {
    tries: AtomicU64,
    wrong: AtomicU64,
    waited: AtomicU64,
    busy: AtomicU64,
    failed: AtomicU64,
}

pub struct LoginFlood {
    threads: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    counts: Arc<Counts>,
    started: Instant,
}

impl LoginFlood {
    /// Starts `tries` wrong logins in all at `to`, from `addresses` source addresses.
    pub fn start(to: SocketAddr, tries: u64, addresses: u32) -> LoginFlood {
        let stopping = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let addresses = addresses.clamp(1, 250);
        let budget = Arc::new(AtomicU64::new(tries));
        let threads = (0..addresses)
            .map(|i| {
                let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + i as u8));
                let name = if i % 2 == 0 {
                    "victim".to_string()
                } else {
                    format!("flood{i}")
                };
                let (stopping, counts, budget) = (
                    Arc::clone(&stopping),
                    Arc::clone(&counts),
                    Arc::clone(&budget),
                );
                thread::spawn(move || try_logins(to, from, &name, &stopping, &counts, &budget))
            })
            .collect();
        LoginFlood {
            threads,
            stopping,
            counts,
            started: Instant::now(),
        }
    }

    /// Stops it; what it did.
    pub fn stop(self) -> LoginCount {
        self.stopping.store(true, Ordering::SeqCst);
        let secs = self.started.elapsed().as_secs_f64();
        for t in self.threads {
            let _ = t.join();
        }
        let c = &self.counts;
        LoginCount {
            tries: c.tries.load(Ordering::Relaxed),
            wrong: c.wrong.load(Ordering::Relaxed),
            waited: c.waited.load(Ordering::Relaxed),
            busy: c.busy.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            secs,
        }
    }
}

/// One address: a connection, and wrong tries one after the other, each answered first.
fn try_logins(
    to: SocketAddr,
    from: IpAddr,
    name: &str,
    stopping: &AtomicBool,
    counts: &Counts,
    budget: &AtomicU64,
) {
    let Ok(stream) = connect(to, from) else {
        counts.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let (Ok(mut writer), mut reader) = (stream.try_clone(), BufReader::new(stream)) else {
        return;
    };
    let mut line = String::new();
    // Up to the first line `want` says is the one (`None`: the connection ended, or the run).
    let mut until = |want: &dyn Fn(&str) -> bool| -> Option<String> {
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                Ok(_) if want(&line) => return Some(line.clone()),
                Ok(_) => {}
                Err(_) if stopping.load(Ordering::Relaxed) => return None,
                Err(_) => {}
            }
        }
    };
    if writer.write_all(b"/join loginflood\n").is_err() {
        counts.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if until(&|l| l.starts_with("* you are in #loginflood")).is_none() {
        return;
    }
    let mut n: u64 = 0;
    while !stopping.load(Ordering::Relaxed) {
        if budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_err()
        {
            return;
        }
        n += 1;
        if writer
            .write_all(format!("/login {name} wrong-guess-{n}\n").as_bytes())
            .is_err()
        {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Up to the answer (notices may come first).
        let Some(answer) = until(&|l| l.starts_with("! ")) else {
            return;
        };
        let counted = if answer.starts_with("! wrong name or password") {
            &counts.wrong
        } else if answer.starts_with("! too many wrong tries") {
            &counts.waited
        } else if answer.starts_with("! busy") {
            &counts.busy
        } else {
            &counts.failed
        };
        counted.fetch_add(1, Ordering::Relaxed);
        counts.tries.fetch_add(1, Ordering::Relaxed);
    }
}

fn connect(to: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(socket.into())
}
