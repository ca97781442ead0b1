//! chatbench: a load generator for line-based chat servers, and the raw relay it is compared
//! with. See `chatbench --help` and the README's benchmark section.

pub mod connect_flood;
pub mod flood;
pub mod histogram;
pub mod load;
pub mod login_flood;
pub mod mark;
pub mod pagers;
pub mod procstat;
pub mod relay;
pub mod store;
pub mod timer;
mod wire;
pub mod ws;

use std::fmt::Write as _;
use std::time::Duration;

use clap::Parser;

use load::{LoadConfig, LoadReport};

/// Load a line-based chat server and report deliveries, losses, latency and server cost.
#[derive(Debug, Parser)]
#[command(name = "chatbench", version)]
pub struct BenchArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = 12345)]
    pub port: u16,
    /// Several nodes of one cluster instead (`HOST:PORT,HOST:PORT,...`): the clients are
    /// spread over them in turn, senders included.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Clients that connect and read (senders included).
    #[arg(short = 'n', long, default_value_t = 100)]
    pub clients: usize,
    /// How many of the clients send.
    #[arg(short = 's', long, default_value_t = 1)]
    pub senders: usize,
    /// Messages per sender.
    #[arg(short = 'm', long, default_value_t = 1000)]
    pub messages: usize,
    /// Messages per second, all senders together; 0 sends as fast as possible.
    #[arg(short = 'r', long, default_value_t = 0.0)]
    pub rate: f64,
    /// Payload bytes per message, besides its header.
    #[arg(short = 'p', long, default_value_t = 32)]
    pub payload: usize,
    /// Connection handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Extra clients that connect and never read.
    #[arg(long, default_value_t = 0)]
    pub slow: usize,
    /// Extra clients that send junk lines flat out for the whole run (and are not measured).
    #[arg(long, default_value_t = 0, conflicts_with = "tls")]
    pub flooders: usize,
    /// Extra clients that page through history (`/history before ID`, ids below
    /// --pager-ids) and search (`/search WORD`) for the whole run, one question at a time, in
    /// a room of their own; their answers' latency is reported apart.
    #[arg(long, default_value_t = 0, conflicts_with = "tls")]
    pub pagers: usize,
    #[arg(long, default_value_t = 1000)]
    pub pager_ids: u64,
    /// Open this many connections a second from --connect-flood-from while the run sends (the
    /// last 1,000 held open), as a flood from one address that the server's per-address
    /// limits should refuse at no cost to the measured clients; 0: none.
    #[arg(long, default_value_t = 0)]
    pub connect_flood: u32,
    /// The address the connection flood comes from (on loopback, any 127.x.y.z).
    #[arg(long, default_value = "127.0.0.2")]
    pub connect_flood_from: std::net::IpAddr,
    /// Send this many wrong `/login`s in all while the run sends, from
    /// --login-flood-addresses addresses (127.0.1.1 up), each as fast as it is answered
    /// (see `bench/login_flood.rs`); 0: none.
    #[arg(long, default_value_t = 0)]
    pub login_flood: u64,
    #[arg(long, default_value_t = 50)]
    pub login_flood_addresses: u32,
    /// Spread the clients over this many rooms (each sends `/join benchR` first; rooms picked
    /// by a hash of the client's number): a line is for the readers of its room. With
    /// --nodes, the report says per node how many lines it needed from the others.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Make the first N clients (the senders first) WebSocket clients of --web-port: they
    /// send lines as text frames and read the JSON events chatd sends them.
    #[arg(
        long,
        default_value_t = 0,
        requires = "web_port",
        conflicts_with = "tls"
    )]
    pub ws: usize,
    /// The server's web port (chatd --web-port), for --ws.
    #[arg(long)]
    pub web_port: Option<u16>,
    /// Connect over TLS. Without --tls-ca any certificate is taken (a benchmark on loopback).
    #[arg(long)]
    pub tls: bool,
    /// Check the server's certificate against these CA certificates (PEM).
    #[arg(long, requires = "tls")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Line(s) each client sends first, e.g. a name; `{i}` is the client's number, `\n`
    /// separates lines.
    #[arg(long)]
    pub hello: Option<String>,
    /// Text put before every message, e.g. `PRIVMSG #bench :` for an IRC server.
    #[arg(long, default_value = "")]
    pub send_prefix: String,
    /// Milliseconds of quiet before sending starts: longer than chatd's grace for newcomers
    /// (0.5 s; a silent one is announced when it is over), so that no join notice lands in
    /// the measurement.
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// Seconds to wait for the server to greet every client before sending; 0 for servers
    /// that send nothing on connect.
    #[arg(long, default_value_t = 60)]
    pub greet_timeout: u64,
    /// Seconds without a delivery before the run is called stalled.
    #[arg(long, default_value_t = 5)]
    pub drain_timeout: u64,
    /// Seconds after sending begins at which the run ends, whatever is still in flight (0: no
    /// limit). What has not arrived by then is reported late, not lost, and the latency
    /// percentiles become lower bounds.
    #[arg(long, default_value_t = 0.0)]
    pub time_limit: f64,
    /// The server's pid, to report its memory and threads from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Serve the raw relay on --host/--port (0 picks a port) instead of loading a server.
    #[arg(long)]
    pub serve_relay: bool,
    /// Measure chatd's store on its own in this folder instead (no server): the writer's
    /// rate, opening a file of --store-lines lines, and /history before and /search over it.
    #[arg(long, value_name = "DIR")]
    pub store_bench: Option<std::path::PathBuf>,
    /// --store-bench: lines in the file opened and asked.
    #[arg(long, default_value_t = 1_000_000)]
    pub store_lines: u64,
    /// --store-bench: rooms the lines are spread over.
    #[arg(long, default_value_t = 100)]
    pub store_rooms: usize,
    /// --store-bench: writer rates to try, lines a second, each for --store-step-ms.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100000,200000,400000,800000"
    )]
    pub store_rates: Vec<u64>,
    #[arg(long, default_value_t = 2000)]
    pub store_step_ms: u64,
    /// --store-bench: questions of each kind.
    #[arg(long, default_value_t = 1000)]
    pub store_questions: usize,
}

impl BenchArgs {
    pub fn load_config(&self) -> Result<LoadConfig, String> {
        use std::net::ToSocketAddrs;
        let resolve = |at: &str| {
            at.to_socket_addrs()
                .map_err(|e| format!("{at}: {e}"))?
                .next()
                .ok_or_else(|| format!("{at}: no address"))
        };
        let addrs = if self.nodes.is_empty() {
            vec![resolve(&format!("{}:{}", self.host, self.port))?]
        } else {
            self.nodes
                .iter()
                .map(|n| resolve(n))
                .collect::<Result<_, _>>()?
        };
        Ok(LoadConfig {
            addrs,
            clients: self.clients,
            senders: self.senders,
            messages: self.messages,
            rate: self.rate,
            payload: self.payload,
            connect_concurrency: self.connect_concurrency,
            slow: self.slow,
            flooders: self.flooders,
            pagers: self.pagers,
            pager_ids: self.pager_ids,
            connect_flood: (self.connect_flood > 0)
                .then_some((self.connect_flood, self.connect_flood_from)),
            login_flood: (self.login_flood > 0)
                .then_some((self.login_flood, self.login_flood_addresses)),
            hello: self.hello.as_ref().map(|h| h.replace("\\n", "\n")),
            send_prefix: self.send_prefix.clone(),
            settle: Duration::from_millis(self.settle_ms),
            greet_timeout: Duration::from_secs(self.greet_timeout),
            drain_timeout: Duration::from_secs(self.drain_timeout),
            time_limit: (self.time_limit > 0.0).then(|| Duration::from_secs_f64(self.time_limit)),
            server_pid: self.server_pid,
            rooms: self.rooms,
            ws: self.ws,
            web: match self.web_port {
                Some(port) => Some(resolve(&format!("{}:{port}", self.host))?),
                None => None,
            },
            tls: match (self.tls, &self.tls_ca) {
                (false, _) => None,
                (true, ca) => {
                    let trust = match ca {
                        Some(ca) => crate::tls::Trust::Ca(ca),
                        None => crate::tls::Trust::Insecure,
                    };
                    Some((crate::tls::client_config(trust)?, self.host.clone()))
                }
            },
        })
    }
}

/// The report as one JSON object.
pub fn to_json(r: &LoadReport) -> String {
    let mut s = String::from("{");
    let mut field = |k: &str, v: String| {
        if s.len() > 1 {
            s.push(',');
        }
        let _ = write!(s, "\"{k}\":{v}");
    };
    field("clients_asked", r.clients_asked.to_string());
    field("connected", r.connected.to_string());
    field("connect_failed", r.connect_failed.to_string());
    field("connect_secs", format!("{:.3}", r.connect_secs));
    field("greeted", r.greeted.to_string());
    field("greet_secs", format!("{:.3}", r.greet_secs));
    field(
        "join_bytes_per_client",
        format!("{:.0}", r.join_bytes_per_client),
    );
    field(
        "history_bytes_per_client",
        format!("{:.0}", r.history_bytes_per_client),
    );
    field("admitted", r.admitted.to_string());
    field(
        "disconnected_during_run",
        r.disconnected_during_run.to_string(),
    );
    field("sent", r.sent.to_string());
    field("expected", r.expected.to_string());
    field("received", r.received.to_string());
    field("lost", r.lost.to_string());
    field("duplicated", r.duplicated.to_string());
    field("out_of_order", r.out_of_order.to_string());
    field("stalled", r.stalled.to_string());
    field("cut", r.cut.to_string());
    field("late", r.late.to_string());
    field("flood_sent", r.flood_sent.to_string());
    field("flooders_dropped", r.flooders_dropped.to_string());
    field("pager_answers", r.pagers.answers.to_string());
    field("pager_errors", r.pagers.errors.to_string());
    field("pager_p50_us", r.pagers.p50_us.to_string());
    field("pager_p99_us", r.pagers.p99_us.to_string());
    field("login_flood_tries", r.login_flood.tries.to_string());
    field("login_flood_wrong", r.login_flood.wrong.to_string());
    field("login_flood_waited", r.login_flood.waited.to_string());
    field("login_flood_busy", r.login_flood.busy.to_string());
    field("connect_flood_made", r.connect_flood.made.to_string());
    field("connect_flood_failed", r.connect_flood.failed.to_string());
    field(
        "connect_flood_per_sec",
        format!(
            "{:.0}",
            r.connect_flood.made as f64 / r.connect_flood.secs.max(1e-9)
        ),
    );
    field("run_secs", format!("{:.3}", r.run_secs));
    field("deliveries_per_sec", format!("{:.0}", r.deliveries_per_sec));
    field("p50_us", r.p50_us.to_string());
    field("p90_us", r.p90_us.to_string());
    field("p99_us", r.p99_us.to_string());
    field("p999_us", r.p999_us.to_string());
    field("max_us", r.max_us.to_string());
    if !r.nodes.is_empty() {
        let list = |f: fn(&load::NodeLines) -> u64| {
            let v: Vec<String> = r.nodes.iter().map(|n| f(n).to_string()).collect();
            format!("[{}]", v.join(","))
        };
        field("node_lines_sent", list(|n| n.sent));
        field("node_lines_needed", list(|n| n.needed));
        field("node_lines_of_others", list(|n| n.others));
    }
    if let Some(sv) = &r.server {
        field("server_baseline_rss_kib", sv.baseline_rss_kib.to_string());
        field("server_connected_rss_kib", sv.connected_rss_kib.to_string());
        field("server_peak_rss_kib", sv.peak_rss_kib.to_string());
        field(
            "server_rss_per_conn_bytes",
            format!("{:.0}", sv.rss_per_conn_bytes),
        );
        field("server_threads_connected", sv.threads_connected.to_string());
        field("server_threads_peak", sv.threads_peak.to_string());
    }
    s.push('}');
    s
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// The report for people.
pub fn to_text(r: &LoadReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "connected   {} of {} in {:.2} s ({} failed); {} greeted, {} still there to read",
        r.connected, r.clients_asked, r.connect_secs, r.connect_failed, r.greeted, r.admitted
    );
    let _ = writeln!(
        s,
        "joining     all greeted {:.2} s after the first connect; {:.0} bytes of welcome and \
         join notices per client, and {:.0} of room history",
        r.greet_secs, r.join_bytes_per_client, r.history_bytes_per_client
    );
    let _ = writeln!(
        s,
        "deliveries  {} of {} expected: {} lost, {} duplicated, {} out of order{}",
        r.received,
        r.expected,
        r.lost,
        r.duplicated,
        r.out_of_order,
        if r.stalled { " (STALLED)" } else { "" }
    );
    if r.cut {
        let _ = writeln!(
            s,
            "late        {} deliveries not made when the time limit ended the run; the \
             percentiles below count them at their age then (lower bounds)",
            r.late
        );
    }
    let _ = writeln!(
        s,
        "throughput  {:.0} deliveries/s over {:.2} s ({} messages sent)",
        r.deliveries_per_sec, r.run_secs, r.sent
    );
    let _ = writeln!(
        s,
        "latency     {}p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        if r.late > 0 { "at least " } else { "" },
        ms(r.p50_us),
        ms(r.p90_us),
        ms(r.p99_us),
        ms(r.p999_us),
        ms(r.max_us)
    );
    if r.flood_sent > 0 {
        let _ = writeln!(
            s,
            "flooders    queued {} lines; {} of them disconnected by the server",
            r.flood_sent, r.flooders_dropped
        );
    }
    if r.pagers.answers + r.pagers.errors > 0 {
        let p = &r.pagers;
        let _ = writeln!(
            s,
            "pagers      {} answers ({} errors): p50 {}  p99 {}  max {}",
            p.answers,
            p.errors,
            ms(p.p50_us),
            ms(p.p99_us),
            ms(p.max_us)
        );
    }
    if r.login_flood.tries + r.login_flood.failed > 0 {
        let f = r.login_flood;
        let _ = writeln!(
            s,
            "logins      {} wrong tries in {:.1} s: {} checked (hashed), {} told to wait, {} busy; {} connections failed",
            f.tries, f.secs, f.wrong, f.waited, f.busy, f.failed
        );
    }
    if r.connect_flood.made + r.connect_flood.failed > 0 {
        let f = r.connect_flood;
        let _ = writeln!(
            s,
            "flood       {} connections from one address in {:.1} s ({:.0}/s), {} failed to connect",
            f.made,
            f.secs,
            f.made as f64 / f.secs.max(1e-9),
            f.failed
        );
    }
    for (i, n) in r.nodes.iter().enumerate() {
        let _ = writeln!(
            s,
            "node {i}      sent {} lines; needs {} of the {} the other nodes' clients sent",
            n.sent, n.needed, n.others
        );
    }
    if r.disconnected_during_run > 0 {
        let _ = writeln!(
            s,
            "dropped     {} reading clients were disconnected",
            r.disconnected_during_run
        );
    }
    if let Some(sv) = &r.server {
        let _ = writeln!(
            s,
            "server      RSS {} KiB idle, {} KiB connected ({:.0} B per connection), peak {} KiB",
            sv.baseline_rss_kib, sv.connected_rss_kib, sv.rss_per_conn_bytes, sv.peak_rss_kib
        );
        let _ = writeln!(
            s,
            "            threads {} idle, {} connected, peak {}",
            sv.threads_baseline, sv.threads_connected, sv.threads_peak
        );
    }
    s
}
