//! The load generator: one thread, one `mio::Poll`, so that it costs one core at most.
//!
//! Phases: connect N clients (at most `connect_concurrency` handshakes in flight), let the
//! server's greetings and join notices settle, then have S senders send M messages each at a
//! total rate R (0: as fast as the sockets take them) while every reading client records what
//! it receives. Each message carries `#cb RUN SENDER SEQ MICROS`, found anywhere in a received
//! line whatever the server put before it; other lines (notices) are skipped, and so are marks
//! of another run (a server that shows newcomers its history replays earlier runs' lines).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::connect_flood::ConnectFlood;
use super::flood::Flooders;
use super::histogram::Histogram;
use super::login_flood::LoginFlood;
use super::mark::{self, parse_mark};
use super::pagers::Pagers;
use super::procstat::{self, Sampler};
use super::timer::{TIMER, Timer};
use super::wire::{Client, Phase, flush, history_part, read_lines};
use super::ws::WsClient;
use crate::tls::Tls;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server's address, or the addresses of several nodes of one cluster: client `i`
    /// connects to `addrs[i % addrs.len()]` (so senders are spread too).
    pub addrs: Vec<SocketAddr>,
    pub clients: usize,
    pub senders: usize,
    pub messages: usize,
    /// Messages per second, all senders together; 0 is flat out.
    pub rate: f64,
    pub payload: usize,
    pub connect_concurrency: usize,
    /// Extra clients that connect and never read.
    pub slow: usize,
    /// Extra clients that send junk lines as fast as they can while the run lasts (and read
    /// and discard what they get), to show their effect on everyone else.
    pub flooders: usize,
    /// Extra clients that page back through history and search, one question at a time,
    /// for the whole run (see [`super::pagers`]), with ids below `pager_ids`.
    pub pagers: usize,
    pub pager_ids: u64,
    /// Connections a second, and the address they come from, of a connection flood while
    /// the run sends (see [`super::connect_flood`]).
    pub connect_flood: Option<(u32, std::net::IpAddr)>,
    /// Wrong `/login`s in all, and from how many addresses, while the run sends (see
    /// [`super::login_flood`]).
    pub login_flood: Option<(u64, u32)>,
    /// Lines each client sends first (e.g. a name); `{i}` becomes the client's number.
    pub hello: Option<String>,
    /// Put before each message (e.g. `PRIVMSG #bench :` for an IRC server).
    pub send_prefix: String,
    /// How long the room must stay quiet before the senders start.
    pub settle: Duration,
    /// How long to wait for the server to greet every client (send it anything) before
    /// starting anyway; 0 for servers that do not greet.
    pub greet_timeout: Duration,
    /// Give up waiting for deliveries after this long without progress.
    pub drain_timeout: Duration,
    /// End the run this long after sending began, whatever is still in flight: what has not
    /// arrived by then is counted late, not lost, and its latency is at least its age.
    pub time_limit: Option<Duration>,
    pub server_pid: Option<u32>,
    /// Connect over TLS with these settings, naming the server `tls_name`.
    pub tls: Option<(Arc<rustls::ClientConfig>, String)>,
    /// Rooms the clients are spread over (`/join benchR` after the hello); 0 or 1: all stay
    /// in the room they start in. A line is expected by the readers of its sender's room.
    pub rooms: usize,
    /// The first `ws` clients (senders first) are WebSocket clients of `web`.
    pub ws: usize,
    pub web: Option<SocketAddr>,
}

/// The room of client `i` among `rooms`: spread by a hash, so that with several nodes a room
/// has members on one node, or two, or all, as people would be.
pub fn room_of(i: usize, rooms: usize) -> usize {
    if rooms <= 1 {
        return 0;
    }
    ((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % rooms
}

/// What one node of a cluster had to do with lines (see [`LoadReport::nodes`]).
#[derive(Debug, Clone, Default)]
pub struct NodeLines {
    /// Lines its clients sent.
    pub sent: u64,
    /// Lines the other nodes' clients sent in rooms where it has readers: what it needs from
    /// the broker.
    pub needed: u64,
    /// Lines the other nodes' clients sent: what it receives from the broker if every node
    /// gets every line.
    pub others: u64,
}

/// What came of it.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub clients_asked: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub connect_secs: f64,
    /// Reading clients the server had sent something to before sending began.
    pub greeted: usize,
    /// Seconds from the first connect until every admitted reading client was greeted.
    pub greet_secs: f64,
    /// Bytes the server sent each reading client, on average, before sending began: the
    /// welcome and the join notices (the cost of a join storm to each member), its room's
    /// history apart.
    pub join_bytes_per_client: f64,
    /// Bytes of room history each reading client was shown before sending began, on average.
    pub history_bytes_per_client: f64,
    /// Reading clients still connected when sending began (the others were turned away).
    pub admitted: usize,
    pub disconnected_during_run: usize,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub run_secs: f64,
    pub deliveries_per_sec: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub server: Option<procstat::ServerStats>,
    pub stalled: bool,
    /// The time limit ended the run.
    pub cut: bool,
    /// Deliveries still in flight (or not yet sent) when the time limit ended the run; the
    /// latency percentiles count them at their age then, so they are lower bounds.
    pub late: u64,
    /// Lines the flooders wrote into their sockets.
    pub flood_sent: u64,
    /// Flooders the server disconnected.
    pub flooders_dropped: usize,
    /// What the connection flood did.
    pub connect_flood: super::connect_flood::FloodCount,
    /// What the login flood did.
    pub login_flood: super::login_flood::LoginCount,
    /// What the pagers saw.
    pub pagers: super::pagers::PagerCount,
    /// With several nodes: each one's lines (client `i` is on node `i % nodes`).
    pub nodes: Vec<NodeLines>,
}

/// Per node of a cluster: the lines its clients send, the lines of the others it needs (its
/// readers' rooms), and all the lines of the others.
fn node_lines(cfg: &LoadConfig, readers: &[usize], senders: &[usize]) -> Vec<NodeLines> {
    let n = cfg.addrs.len();
    let rooms = cfg.rooms.max(1);
    // Which nodes have readers in each room.
    let mut present = vec![vec![false; n]; rooms];
    for &r in readers {
        present[room_of(r, cfg.rooms)][r % n] = true;
    }
    let mut nodes = vec![NodeLines::default(); n];
    let lines = cfg.messages as u64;
    for &k in senders {
        for (node, load) in nodes.iter_mut().enumerate() {
            if node == k % n {
                load.sent += lines;
            } else {
                load.others += lines;
                if present[room_of(k, cfg.rooms)][node] {
                    load.needed += lines;
                }
            }
        }
    }
    nodes
}

/// Keep at most this much generated output per sender in user space.
const SEND_AHEAD: usize = 64 * 1024;

/// The open connections of `clients[range]`, taken out of the loop as blocking streams.
fn hand_over(
    clients: &mut [Client],
    range: std::ops::Range<usize>,
    poll: &Poll,
) -> io::Result<Vec<std::net::TcpStream>> {
    let mut streams = Vec::new();
    for c in &mut clients[range] {
        if let Some(mut s) = c.stream.take()
            && c.phase == Phase::Open
        {
            poll.registry().deregister(&mut s)?;
            // SAFETY: the descriptor comes out of the mio stream, which gives it up.
            streams.push(unsafe { std::net::TcpStream::from_raw_fd(s.into_raw_fd()) });
        }
    }
    Ok(streams)
}

pub fn run(cfg: &LoadConfig) -> io::Result<LoadReport> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let total = cfg.clients + cfg.slow + cfg.flooders + cfg.pagers;
    let flooders = cfg.clients + cfg.slow..cfg.clients + cfg.slow + cfg.flooders;
    let pagers = flooders.end..total;
    let senders = cfg.senders.min(cfg.clients);
    let mut sampler = cfg.server_pid.map(Sampler::new);
    let mut clients: Vec<Client> = (0..total)
        .map(|i| Client {
            stream: None,
            tls: None,
            phase: Phase::Connecting,
            reads: i < cfg.clients || i >= cfg.clients + cfg.slow,
            out: Vec::new(),
            partial: Vec::new(),
            next_seq: Vec::new(),
            sent: 0,
            ws: None,
        })
        .collect();
    let mut report = LoadReport {
        clients_asked: total,
        ..LoadReport::default()
    };
    let mut scratch = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let run = mark::run_id();

    // Reading clients the server has sent anything to.
    let mut greeted = vec![false; total];
    let mut join_bytes = 0usize;
    // Within a room's history block, by client; and the history's bytes, counted apart.
    let mut in_history = vec![false; total];
    let mut history_bytes = 0usize;

    // Phase 1: connect, a bounded number at a time.
    let mut next_to_start = 0;
    let mut in_flight = 0;
    let connect_deadline = Instant::now() + Duration::from_secs(60);
    while (next_to_start < total || in_flight > 0) && Instant::now() < connect_deadline {
        while in_flight < cfg.connect_concurrency.max(1) && next_to_start < total {
            let i = next_to_start;
            next_to_start += 1;
            let addr = match cfg.web {
                Some(web) if i < cfg.ws => web,
                _ => cfg.addrs[i % cfg.addrs.len()],
            };
            if i < cfg.ws {
                clients[i].ws = Some(Box::new(WsClient::new(&addr.to_string())));
            }
            match TcpStream::connect(addr) {
                Ok(mut s) => {
                    poll.registry().register(
                        &mut s,
                        Token(i),
                        Interest::WRITABLE | Interest::READABLE,
                    )?;
                    clients[i].stream = Some(s);
                    in_flight += 1;
                }
                Err(_) => {
                    clients[i].phase = Phase::Failed;
                    report.connect_failed += 1;
                }
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut clients[i];
            if c.phase == Phase::Connecting && (ev.is_writable() || ev.is_error()) {
                in_flight -= 1;
                let s = c.stream.as_mut().unwrap();
                let ok = s.take_error().ok().flatten().is_none() && s.peer_addr().is_ok();
                if ok {
                    c.phase = Phase::Open;
                    report.connected += 1;
                    let _ = s.set_nodelay(true);
                    let interest = if c.reads {
                        Interest::READABLE
                    } else {
                        Interest::WRITABLE
                    };
                    poll.registry().reregister(s, Token(i), interest)?;
                    if let Some((config, name)) = &cfg.tls {
                        c.tls = Some(Box::new(Tls::client(config, name)?));
                    }
                    if let Some(hello) = &cfg.hello {
                        c.out
                            .extend_from_slice(hello.replace("{i}", &i.to_string()).as_bytes());
                        c.out.push(b'\n');
                    }
                    if cfg.rooms > 1 && i < cfg.clients {
                        let join = format!("/join bench{}\n", room_of(i, cfg.rooms));
                        c.out.extend_from_slice(join.as_bytes());
                    }
                    // (Over TLS, the handshake starts here.)
                    flush(c);
                } else {
                    c.phase = Phase::Failed;
                    report.connect_failed += 1;
                    c.stream = None;
                }
            } else if ev.is_readable() {
                let mut hist = 0;
                let n = read_lines(c, &mut scratch, |l| {
                    hist += history_part(l, &mut in_history[i])
                });
                join_bytes += n.saturating_sub(hist);
                history_bytes += hist;
                if n > 0 && i < cfg.clients {
                    greeted[i] = true;
                }
            }
        }
    }
    report.connect_secs = start.elapsed().as_secs_f64();
    for c in clients.iter_mut().filter(|c| c.phase == Phase::Connecting) {
        c.phase = Phase::Failed;
        c.stream = None;
        report.connect_failed += 1;
    }

    // Phase 2: wait until the server has greeted every reading client (a connection the
    // kernel accepted is not yet one the server admitted), then until the room is quiet.
    let mut last_byte = Instant::now();
    let mut waiting = (0..cfg.clients)
        .filter(|&i| clients[i].phase == Phase::Open && !greeted[i])
        .count();
    let greet_deadline = Instant::now() + cfg.greet_timeout;
    report.greet_secs = start.elapsed().as_secs_f64();
    let settle_deadline = Instant::now() + cfg.greet_timeout + Duration::from_secs(30);
    while (waiting > 0 && Instant::now() < greet_deadline)
        || (last_byte.elapsed() < cfg.settle && Instant::now() < settle_deadline)
    {
        poll.poll(&mut events, Some(cfg.settle))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut clients[i];
            let mut hist = 0;
            let n = if c.phase == Phase::Open && c.reads {
                read_lines(c, &mut scratch, |l| {
                    hist += history_part(l, &mut in_history[i])
                })
            } else {
                0
            };
            if n > 0 {
                join_bytes += n.saturating_sub(hist);
                history_bytes += hist;
                last_byte = Instant::now();
                if i < cfg.clients && !greeted[i] {
                    greeted[i] = true;
                    waiting -= 1;
                    if waiting == 0 {
                        report.greet_secs = start.elapsed().as_secs_f64();
                    }
                }
            }
            if ev.is_writable() {
                flush(c);
            }
        }
    }
    report.greeted = greeted.iter().filter(|&&g| g).count();
    if waiting > 0 {
        report.greet_secs = start.elapsed().as_secs_f64();
    }
    report.join_bytes_per_client = join_bytes as f64 / report.greeted.max(1) as f64;
    report.history_bytes_per_client = history_bytes as f64 / report.greeted.max(1) as f64;
    if let Some(s) = sampler.as_mut() {
        s.sample_connected(report.connected);
    }

    // Phase 3: send and receive.
    let live_readers: Vec<usize> = (0..cfg.clients)
        .filter(|&i| clients[i].phase == Phase::Open)
        .collect();
    for &i in &live_readers {
        clients[i].next_seq = vec![0; senders];
    }
    report.admitted = live_readers.len();
    let live_senders: Vec<usize> = (0..senders)
        .filter(|&i| clients[i].phase == Phase::Open)
        .collect();
    // Each sender's line is for the other readers of its room.
    let mut readers_in = vec![0u64; cfg.rooms.max(1)];
    for &r in &live_readers {
        readers_in[room_of(r, cfg.rooms)] += 1;
    }
    let audience = |sender: usize| readers_in[room_of(sender, cfg.rooms)].saturating_sub(1);
    report.expected = live_senders
        .iter()
        .map(|&k| cfg.messages as u64 * audience(k))
        .sum();
    if cfg.addrs.len() > 1 {
        report.nodes = node_lines(cfg, &live_readers, &live_senders);
    }
    let mut hist = Histogram::default();
    let mut received = 0u64;
    let mut dup = 0u64;
    let mut ooo = 0u64;
    let t0 = Instant::now();
    let mut last_progress = Instant::now();
    let mut last_delivery = t0;
    let per_sender_rate = if cfg.rate > 0.0 {
        cfg.rate / live_senders.len().max(1) as f64
    } else {
        0.0
    };
    let filler = vec![b'x'; cfg.payload];
    let mut last_sample = Instant::now();
    let mut marks: Vec<(usize, u32, u64)> = Vec::new();
    let timer = Timer::new(poll.registry())?;
    // Per sender, each message's time stamp (micros since `start`).
    let mut stamps: Vec<Vec<u64>> = vec![Vec::new(); live_senders.len()];
    let t0_us = t0.duration_since(start).as_micros() as u64;
    // When message `seq` of sender `k` is due in a paced run: senders are staggered across
    // one interval.
    let due_at = |k: usize, seq: usize| -> u64 {
        let secs = seq as f64 / per_sender_rate - k as f64 / cfg.rate.max(1.0);
        t0_us + (secs.max(0.0) * 1e6) as u64
    };
    let due_by = |k: usize, elapsed: Duration| -> usize {
        if per_sender_rate > 0.0 {
            let secs = elapsed.as_secs_f64() + k as f64 / cfg.rate.max(1.0);
            ((secs * per_sender_rate) as usize + 1).min(cfg.messages)
        } else {
            cfg.messages
        }
    };
    // The flooders and the pagers leave this loop for threads of their own (see `flood` and
    // `pagers`).
    let flood = Flooders::start(hand_over(&mut clients, flooders, &poll)?);
    let paging = Pagers::start(hand_over(&mut clients, pagers, &poll)?, cfg.pager_ids);
    let connect_flood = cfg
        .connect_flood
        .map(|(per_sec, from)| ConnectFlood::start(cfg.addrs[0], from, per_sec));
    let login_flood = cfg
        .login_flood
        .map(|(tries, addresses)| LoginFlood::start(cfg.addrs[0], tries, addresses));
    loop {
        // Generate what is due.
        let now = Instant::now();
        let mut all_sent = true;
        for (k, &i) in live_senders.iter().enumerate() {
            let c = &mut clients[i];
            if c.phase != Phase::Open {
                continue;
            }
            let due = due_by(k, now.duration_since(t0));
            while c.sent < due && c.out.len() < SEND_AHEAD {
                // A paced message is stamped with when it was due, not when the socket took
                // it: a server that pushes back on its sender gets no credit for that
                // (no coordinated omission).
                let micros = if per_sender_rate > 0.0 {
                    due_at(k, c.sent)
                } else {
                    Instant::now().duration_since(start).as_micros() as u64
                };
                stamps[k].push(micros);
                c.out.extend_from_slice(cfg.send_prefix.as_bytes());
                c.out
                    .extend_from_slice(format!("#cb {run} {k} {} {micros} ", c.sent).as_bytes());
                c.out.extend_from_slice(&filler);
                c.out.push(b'\n');
                c.sent += 1;
                report.sent += 1;
            }
            flush(c);
            if c.sent < cfg.messages || !c.out.is_empty() {
                all_sent = false;
            }
        }
        let done = received >= report.expected && all_sent;
        if !done && cfg.time_limit.is_some_and(|limit| t0.elapsed() >= limit) {
            report.cut = true;
            break;
        }
        if done || (all_sent && last_progress.elapsed() > cfg.drain_timeout) {
            report.stalled = !done;
            break;
        }
        if last_progress.elapsed() > cfg.drain_timeout * 4 {
            report.stalled = true;
            break;
        }
        let timeout = if per_sender_rate > 0.0 && !all_sent {
            // Wake when the next message is due (see [`Timer`]).
            let now_us = Instant::now().duration_since(start).as_micros() as u64;
            let next_due = live_senders
                .iter()
                .enumerate()
                .filter(|&(_, &i)| {
                    clients[i].phase == Phase::Open && clients[i].sent < cfg.messages
                })
                .map(|(k, &i)| due_at(k, clients[i].sent))
                .min()
                .unwrap_or(now_us);
            match next_due.checked_sub(now_us) {
                // Due already, yet not generated: its sender's socket is full. Wait for it.
                None | Some(0) => Duration::from_millis(1),
                Some(wait) => {
                    timer.arm(Duration::from_micros(wait));
                    Duration::from_millis(10)
                }
            }
        } else if !all_sent {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(100)
        };
        poll.poll(&mut events, Some(timeout))?;
        for ev in events.iter() {
            if ev.token() == TIMER {
                timer.clear();
                continue;
            }
            let c = &mut clients[ev.token().0];
            if c.phase != Phase::Open {
                continue;
            }
            if ev.is_writable() {
                flush(c);
            }
            if c.reads && (ev.is_readable() || ev.is_read_closed()) {
                let now_us = Instant::now().duration_since(start).as_micros() as u64;
                marks.clear();
                read_lines(c, &mut scratch, |line| {
                    if let Some(m) = parse_mark(line, run) {
                        marks.push(m);
                    }
                });
                for &(sender, seq, micros) in &marks {
                    let Some(next) = c.next_seq.get_mut(sender) else {
                        continue;
                    };
                    if seq < *next {
                        dup += 1;
                        continue;
                    }
                    if seq > *next {
                        ooo += 1;
                    }
                    *next = seq + 1;
                    received += 1;
                    hist.record(now_us.saturating_sub(micros));
                }
                if !marks.is_empty() {
                    last_progress = Instant::now();
                    last_delivery = last_progress;
                }
                if c.phase == Phase::Closed && ev.token().0 < cfg.clients {
                    report.disconnected_during_run += 1;
                }
            }
        }
        if last_sample.elapsed() > Duration::from_millis(200) {
            if let Some(s) = sampler.as_mut() {
                s.sample();
            }
            last_sample = Instant::now();
        }
    }
    report.run_secs = last_delivery.duration_since(t0).as_secs_f64().max(1e-9);
    if report.cut {
        // What was due by now and has not arrived is late: count it, at its age so far.
        let now = Instant::now();
        let now_us = now.duration_since(start).as_micros() as u64;
        let due: Vec<usize> = (0..live_senders.len())
            .map(|k| due_by(k, now.duration_since(t0)))
            .collect();
        report.expected = live_senders
            .iter()
            .zip(&due)
            .map(|(&k, &due)| due as u64 * audience(k))
            .sum();
        for &r in &live_readers {
            for (k, &sender) in live_senders.iter().enumerate() {
                if sender == r || room_of(sender, cfg.rooms) != room_of(r, cfg.rooms) {
                    continue;
                }
                for seq in clients[r].next_seq[k] as usize..due[k] {
                    let stamp = match stamps[k].get(seq) {
                        Some(&s) => s,
                        None if per_sender_rate > 0.0 => due_at(k, seq),
                        None => t0_us,
                    };
                    hist.record(now_us.saturating_sub(stamp));
                    report.late += 1;
                }
            }
        }
        report.run_secs = now.duration_since(t0).as_secs_f64();
    }
    report.received = received;
    report.duplicated = dup;
    report.out_of_order = ooo;
    report.lost = report.expected.saturating_sub(received + report.late);
    report.deliveries_per_sec = received as f64 / report.run_secs;
    report.p50_us = hist.quantile(0.50);
    report.p90_us = hist.quantile(0.90);
    report.p99_us = hist.quantile(0.99);
    report.p999_us = hist.quantile(0.999);
    report.max_us = hist.max();
    report.server = sampler.map(|s| s.finish());
    (report.flood_sent, report.flooders_dropped) = flood.stop();
    report.pagers = paging.stop();
    if let Some(f) = connect_flood {
        report.connect_flood = f.stop();
    }
    if let Some(f) = login_flood {
        report.login_flood = f.stop();
    }
    Ok(report)
}
