//! What an operator watches: counters and gauges that every part of the server updates, and
//! their Prometheus text form (`GET /metrics` on the web port) and health (`GET /healthz`).
//!
//! One process-wide set ([`METRICS`]) of relaxed atomics: counting is one uncontended add where
//! it happens (the hub counts lines, deliveries and refusals; the drivers connections, bytes
//! and handshakes; the cluster link the broker's messages), with nothing passed around and no
//! lock. A scrape reads each value once; the set is not a snapshot of one instant, as with any
//! Prometheus exporter.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// The server's metrics.
pub static METRICS: Metrics = Metrics::new();

/// Bytes a thread counts before adding them to [`Metrics::sent_bytes`]'s shared counter: the
/// scraped figure lags by less than this per writing thread.
pub const BYTES_BATCH: u64 = 64 * 1024;

thread_local! {
    static PENDING_BYTES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How a client is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Tcp,
    Tls,
    WebSocket,
    Irc,
}

/// Why a client was dropped or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    TooSlow,
    Flooding,
    Idle,
    ServerFull,
    PerAddress,
    Banned,
}

const VIAS: [(Via, &str); 4] = [
    (Via::Tcp, "tcp"),
    (Via::Tls, "tls"),
    (Via::WebSocket, "websocket"),
    (Via::Irc, "irc"),
];

const DROPS: [(Dropped, &str); 6] = [
    (Dropped::TooSlow, "too_slow"),
    (Dropped::Flooding, "flooding"),
    (Dropped::Idle, "idle"),
    (Dropped::ServerFull, "server_full"),
    (Dropped::PerAddress, "per_address_limit"),
    (Dropped::Banned, "banned"),
];

pub struct Metrics {
    connected: [AtomicI64; VIAS.len()],
    pub rooms: AtomicI64,
    pub lines_received: AtomicU64,
    pub deliveries: AtomicU64,
    pub bytes_out: AtomicU64,
    dropped: [AtomicU64; 6],
    pub handshakes_failed: AtomicU64,
    pub rate_limited_reads: AtomicU64,
    pub in_cluster: AtomicBool,
    pub link_up: AtomicBool,
    pub nodes: AtomicI64,
    pub broker_published: AtomicU64,
    pub broker_received: AtomicU64,
    pub stopping: AtomicBool,
    /// The store: lines written, batches and their time, lines waiting, dropped unwritten
    /// (the queue was full), failed (a batch could not be written), the file's size.
    store_lines: AtomicU64,
    store_batches: AtomicU64,
    store_batch_us: AtomicU64,
    store_queue: AtomicI64,
    store_dropped: AtomicU64,
    store_failed: AtomicU64,
    store_bytes: AtomicI64,
    started: OnceLock<Instant>,
    mode: OnceLock<&'static str>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub const fn new() -> Metrics {
        Metrics {
            connected: [const { AtomicI64::new(0) }; VIAS.len()],
            rooms: AtomicI64::new(0),
            lines_received: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            dropped: [
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
            ],
            handshakes_failed: AtomicU64::new(0),
            rate_limited_reads: AtomicU64::new(0),
            in_cluster: AtomicBool::new(false),
            link_up: AtomicBool::new(false),
            nodes: AtomicI64::new(0),
            broker_published: AtomicU64::new(0),
            broker_received: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            store_lines: AtomicU64::new(0),
            store_batches: AtomicU64::new(0),
            store_batch_us: AtomicU64::new(0),
            store_queue: AtomicI64::new(0),
            store_dropped: AtomicU64::new(0),
            store_failed: AtomicU64::new(0),
            store_bytes: AtomicI64::new(0),
            started: OnceLock::new(),
            mode: OnceLock::new(),
        }
    }

    /// The server starts, in `mode`: uptime counts from now.
    pub fn start(&self, mode: &'static str) {
        let _ = self.started.set(Instant::now());
        let _ = self.mode.set(mode);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` more bytes written to a client. Counted per thread and added to the shared counter
    /// every [`BYTES_BATCH`]: a write is the hottest path there is, and one shared counter for
    /// every writing thread cost threads mode a few percent (`scripts/metrics-cost.sh`).
    pub fn sent_bytes(&self, n: u64) {
        PENDING_BYTES.with(|pending| {
            let total = pending.get() + n;
            if total >= BYTES_BATCH {
                self.bytes_out.fetch_add(total, Ordering::Relaxed);
                pending.set(0);
            } else {
                pending.set(total);
            }
        });
    }

    /// A client joined the chat (`+1`) or left it (`-1`).
    pub fn connected(&self, via: Via, delta: i64) {
        let i = VIAS.iter().position(|(v, _)| *v == via).unwrap_or(0);
        self.connected[i].fetch_add(delta, Ordering::Relaxed);
    }

    pub fn dropped(&self, why: Dropped) {
        let i = DROPS.iter().position(|(d, _)| *d == why).unwrap_or(0);
        self.dropped[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The store wrote a batch of `lines` in `took`.
    pub fn store_written(&self, lines: u64, took: std::time::Duration) {
        self.store_lines.fetch_add(lines, Ordering::Relaxed);
        self.store_batches.fetch_add(1, Ordering::Relaxed);
        self.store_batch_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Lines waiting to be written now.
    pub fn store_queued(&self, lines: usize) {
        self.store_queue.store(lines as i64, Ordering::Relaxed);
    }

    pub fn store_dropped(&self, lines: u64) {
        self.store_dropped.fetch_add(lines, Ordering::Relaxed);
    }

    pub fn store_failed(&self, lines: u64) {
        self.store_failed.fetch_add(lines, Ordering::Relaxed);
    }

    pub fn store_file_bytes(&self, bytes: u64) {
        self.store_bytes.store(bytes as i64, Ordering::Relaxed);
    }

    /// The store's counters: lines written, dropped, failed.
    pub fn store_counts(&self) -> (u64, u64, u64) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (
            get(&self.store_lines),
            get(&self.store_dropped),
            get(&self.store_failed),
        )
    }

    /// The Prometheus text exposition format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let connected: Vec<(String, String)> = VIAS
            .iter()
            .zip(&self.connected)
            .map(|((_, label), v)| {
                (
                    format!("{{transport=\"{label}\"}}"),
                    v.load(Ordering::Relaxed).max(0).to_string(),
                )
            })
            .collect();
        let connected: Vec<(&str, String)> = connected
            .iter()
            .map(|(l, v)| (l.as_str(), v.clone()))
            .collect();
        family(
            "chatd_clients_connected",
            "gauge",
            "Clients in the chat, by transport.",
            &connected,
        );
        family(
            "chatd_rooms",
            "gauge",
            "Rooms, the lobby included.",
            &[("", self.rooms.load(Ordering::Relaxed).to_string())],
        );
        family(
            "chatd_lines_received_total",
            "counter",
            "Chat lines (and /me) received from this node's clients.",
            &[("", get(&self.lines_received).to_string())],
        );
        family(
            "chatd_deliveries_total",
            "counter",
            "Chat lines queued for a client of this node, one per recipient.",
            &[("", get(&self.deliveries).to_string())],
        );
        family(
            "chatd_sent_bytes_total",
            "counter",
            "Bytes the server wrote to its clients (before TLS or WebSocket framing; counted in steps of 64 KiB per thread).",
            &[("", get(&self.bytes_out).to_string())],
        );
        let dropped: Vec<(String, String)> = DROPS
            .iter()
            .zip(&self.dropped)
            .map(|((_, label), v)| (format!("{{reason=\"{label}\"}}"), get(v).to_string()))
            .collect();
        let dropped: Vec<(&str, String)> = dropped
            .iter()
            .map(|(l, v)| (l.as_str(), v.clone()))
            .collect();
        family(
            "chatd_clients_dropped_total",
            "counter",
            "Clients dropped or refused, by reason.",
            &dropped,
        );
        family(
            "chatd_handshakes_failed_total",
            "counter",
            "TLS handshakes and web requests that failed or timed out.",
            &[("", get(&self.handshakes_failed).to_string())],
        );
        family(
            "chatd_rate_limited_reads_total",
            "counter",
            "Times a client's reading was paused by flood control.",
            &[("", get(&self.rate_limited_reads).to_string())],
        );
        let in_cluster = self.in_cluster.load(Ordering::Relaxed);
        family(
            "chatd_cluster_link_up",
            "gauge",
            "1 while this node's link to the cluster's broker is up (0 alone or down).",
            &[(
                "",
                u8::from(in_cluster && self.link_up.load(Ordering::Relaxed)).to_string(),
            )],
        );
        family(
            "chatd_cluster_nodes",
            "gauge",
            "Other nodes of the cluster this node hears.",
            &[("", self.nodes.load(Ordering::Relaxed).max(0).to_string())],
        );
        family(
            "chatd_broker_messages_published_total",
            "counter",
            "Messages this node published to the broker.",
            &[("", get(&self.broker_published).to_string())],
        );
        family(
            "chatd_broker_messages_received_total",
            "counter",
            "Messages this node received from the broker.",
            &[("", get(&self.broker_received).to_string())],
        );
        family(
            "chatd_store_lines_written_total",
            "counter",
            "Chat lines the store wrote to its file.",
            &[("", get(&self.store_lines).to_string())],
        );
        family(
            "chatd_store_batches_total",
            "counter",
            "Batches (transactions) the store wrote.",
            &[("", get(&self.store_batches).to_string())],
        );
        family(
            "chatd_store_batch_seconds_total",
            "counter",
            "Time spent writing the store's batches.",
            &[("", format!("{}", get(&self.store_batch_us) as f64 / 1e6))],
        );
        family(
            "chatd_store_queued_lines",
            "gauge",
            "Chat lines waiting to be written to the store.",
            &[(
                "",
                self.store_queue.load(Ordering::Relaxed).max(0).to_string(),
            )],
        );
        family(
            "chatd_store_dropped_lines_total",
            "counter",
            "Chat lines dropped unwritten because the store was behind (its queue full).",
            &[("", get(&self.store_dropped).to_string())],
        );
        family(
            "chatd_store_failed_lines_total",
            "counter",
            "Chat lines whose batch could not be written (a full disk, a read-only file).",
            &[("", get(&self.store_failed).to_string())],
        );
        family(
            "chatd_store_file_bytes",
            "gauge",
            "The store's file and its write-ahead log, in bytes.",
            &[(
                "",
                self.store_bytes.load(Ordering::Relaxed).max(0).to_string(),
            )],
        );
        let build = format!(
            "{{version=\"{}\",mode=\"{}\"}}",
            env!("CARGO_PKG_VERSION"),
            self.mode.get().copied().unwrap_or("")
        );
        family(
            "chatd_build_info",
            "gauge",
            "chatd's version and concurrency model.",
            &[(build.as_str(), "1".to_string())],
        );
        let uptime = self
            .started
            .get()
            .map_or(0.0, |s| s.elapsed().as_secs_f64());
        family(
            "chatd_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            &[("", format!("{uptime:.3}"))],
        );
        out
    }

    /// `GET /healthz`: 200 while the server accepts, 503 while it stops; in a cluster, the
    /// body says whether the link is up.
    pub fn health(&self) -> (u16, String) {
        let mut body = if self.stopping.load(Ordering::Relaxed) {
            "stopping\n".to_string()
        } else {
            "ok\n".to_string()
        };
        if self.in_cluster.load(Ordering::Relaxed) {
            let up = self.link_up.load(Ordering::Relaxed);
            body.push_str(if up {
                "cluster link up\n"
            } else {
                "cluster link down\n"
            });
        }
        let code = if self.stopping.load(Ordering::Relaxed) {
            503
        } else {
            200
        };
        (code, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_help_type_and_samples() {
        let m = Metrics::new();
        m.start("poll");
        m.connected(Via::WebSocket, 2);
        m.dropped(Dropped::TooSlow);
        Metrics::add(&m.deliveries, 7);
        let text = m.render();
        assert!(text.contains("# TYPE chatd_deliveries_total counter\nchatd_deliveries_total 7\n"));
        assert!(text.contains("chatd_clients_connected{transport=\"websocket\"} 2\n"));
        assert!(text.contains("chatd_clients_dropped_total{reason=\"too_slow\"} 1\n"));
        assert!(text.contains("chatd_build_info{version=\""));
        // Every sample's family has its HELP and TYPE first.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert_eq!(m.health().0, 200);
        m.stopping.store(true, Ordering::Relaxed);
        assert_eq!(m.health(), (503, "stopping\n".to_string()));
    }
}
