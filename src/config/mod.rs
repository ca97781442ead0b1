//! The server's command line: address, concurrency model, TLS, who may come in, limits,
//! logging; and the files it names (passwords), read once at start.

use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};

use crate::hub::HubConfig;
use crate::hub::access::Secret;
use crate::rate::RateLimit;

pub mod file;
pub mod reload;

/// Which concurrency model serves the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One thread, one mio::Poll loop, every socket non-blocking.
    Poll,
    /// A thread per client on blocking sockets: the design of the Python server chatd
    /// started from, done properly.
    Threads,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Poll => "poll",
            Mode::Threads => "threads",
        })
    }
}

/// chatd: a group chat over TCP. Every line a client sends reaches every other client in its
/// room.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatd", version, args_override_self = true)]
#[command(group(clap::ArgGroup::new("tls_listener").args(["tls_port", "web_port", "irc_tls_port"]).multiple(true)))]
pub struct ServerConfig {
    /// Read settings from this TOML file first (every option below, by its name: `port =
    /// 12345`, `max_per_ip = 16`); flags override them. See chatd.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (IPv4 or IPv6, e.g. ::1).
    #[arg(help_heading = "Listeners", long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (the address is printed on start).
    #[arg(help_heading = "Listeners", long, default_value_t = 12345)]
    pub port: u16,
    /// Also serve TLS on this port (0 picks a free one); needs --tls-cert and --tls-key.
    #[arg(help_heading = "Listeners", long, requires_all = ["tls_cert", "tls_key"])]
    pub tls_port: Option<u16>,
    /// The server's certificate chain, PEM, leaf first (for --tls-port, and --web-port).
    #[arg(
        help_heading = "TLS",
        long,
        requires = "tls_listener",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        help_heading = "TLS",
        long,
        requires = "tls_listener",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Also serve the chat to browsers on this port (0 picks a free one): the page at `/`,
    /// WebSocket clients at `/ws` (JSON events). Over TLS (https, wss) when --tls-cert and
    /// --tls-key are given.
    #[arg(help_heading = "Listeners", long)]
    pub web_port: Option<u16>,
    /// Also serve the chat to IRC clients on this port (0 picks a free one): irssi, WeeChat,
    /// HexChat, bots. `#ROOM` is the chat's room ROOM; see docs/irc.md.
    #[arg(help_heading = "Listeners", long)]
    pub irc_port: Option<u16>,
    /// Likewise over TLS; needs --tls-cert and --tls-key.
    #[arg(help_heading = "Listeners", long, requires_all = ["tls_cert", "tls_key"])]
    pub irc_tls_port: Option<u16>,
    /// An origin (`https://chat.example.org`) whose pages may open WebSockets here, besides
    /// the page's own; repeatable. Browsers from any other are refused (403).
    #[arg(help_heading = "Listeners", long, requires = "web_port")]
    pub web_origin: Vec<String>,
    /// Serve TLS only: no plain listener.
    #[arg(help_heading = "Listeners", long, requires = "tls_port")]
    pub no_plain: bool,
    /// A TLS client must finish its handshake within this many seconds.
    #[arg(help_heading = "TLS", long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=A_YEAR))]
    pub tls_handshake_timeout: u64,
    /// A file whose first line is the server's password: every client must send
    /// `/pass PASSWORD` before anything else (three wrong tries close it).
    #[arg(help_heading = "Who may come in", long)]
    pub password_file: Option<PathBuf>,
    /// A file whose first line is the operators' password, for `/oper PASSWORD`; without it
    /// there are no operators.
    #[arg(help_heading = "Who may come in", long)]
    pub oper_password_file: Option<PathBuf>,
    /// Accounts that are operators as soon as they log in (comma-separated names), beside
    /// the operators' password.
    #[arg(
        help_heading = "Who may come in",
        long,
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub operators: Vec<String>,
    /// Join a cluster of nodes through these NATS brokers (`nats://HOST:PORT`, comma-separated):
    /// every node's clients share one chat.
    #[arg(help_heading = "Cluster", long, value_delimiter = ',')]
    pub cluster: Vec<String>,
    /// The cluster's name: clusters sharing one broker are kept apart by it.
    #[arg(help_heading = "Cluster", long, default_value = "chatd", requires = "cluster", value_parser = cluster_name)]
    pub cluster_name: String,
    /// How this node proves itself to the broker: a NATS credentials file (a user JWT and its
    /// NKey seed, as `nsc` writes them) or a file whose first line is a token. A user and a
    /// password go in the URL instead (`nats://USER:PASS@HOST:PORT`).
    #[arg(
        help_heading = "Cluster",
        long,
        value_name = "FILE",
        requires = "cluster"
    )]
    pub cluster_creds: Option<PathBuf>,
    /// Check the broker's TLS certificate against these CA certificates (PEM); TLS to the
    /// broker is then required (`tls://` URLs require it too, checked against the system's
    /// roots without this).
    #[arg(
        help_heading = "Cluster",
        long,
        value_name = "FILE",
        requires = "cluster"
    )]
    pub cluster_ca: Option<PathBuf>,
    /// This node's id in the cluster, made at start.
    #[arg(skip)]
    pub node: Option<String>,
    /// Read from --cluster-creds (see [`ServerConfig::load_secrets`]).
    #[arg(skip)]
    pub cluster_auth: Option<crate::cluster::Auth>,
    /// Read from --password-file (see [`ServerConfig::load_secrets`]).
    #[arg(skip)]
    pub password: Option<Secret>,
    /// Read from --oper-password-file.
    #[arg(skip)]
    pub oper_password: Option<Secret>,
    /// Concurrency model.
    #[arg(help_heading = "Listeners", long, value_enum, default_value_t = Mode::Poll)]
    pub mode: Mode,
    /// Longest accepted line, in bytes (without its newline).
    #[arg(help_heading = "Limits", long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_line: u32,
    /// Most bytes queued for one client before it is dropped as too slow.
    #[arg(help_heading = "Limits", long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_backlog: u32,
    /// Most clients at once; one more is told `! server full` and closed.
    #[arg(help_heading = "Limits", long, default_value_t = 10_000)]
    pub max_clients: usize,
    /// Lines per second a client may send, on average; 0 turns flood control off. A client
    /// over it is read no faster (the rest waits in its socket): a pipe into the chat is paced,
    /// never cut short.
    #[arg(help_heading = "Limits", long, default_value_t = 50.0, value_parser = finite)]
    pub msg_rate: f64,
    /// Lines a client may send at once before --msg-rate applies (a paste, say).
    #[arg(help_heading = "Limits", long, default_value_t = 100.0, value_parser = finite)]
    pub msg_burst: f64,
    /// Drop a client (`! flooding`) that stays over --msg-rate, without a pause, for this many
    /// seconds; 0: never, it is only paced.
    #[arg(help_heading = "Limits", long, default_value_t = 0.0, value_parser = finite)]
    pub flood_after: f64,
    /// Most connections from one IP address (an IPv6 address counts as its /64); 0 means no
    /// limit. Addresses in --exempt are not limited.
    #[arg(help_heading = "Limits", long, default_value_t = 16)]
    pub max_per_ip: usize,
    /// Most new connections from one IP address in a minute (`! too many connections from your
    /// address; try again later`); 0 means no limit. Addresses in --exempt are not limited.
    #[arg(help_heading = "Limits", long, default_value_t = 60)]
    pub max_connects_per_ip: u32,
    /// Addresses that --max-per-ip and --max-connects-per-ip do not apply to (a reverse proxy,
    /// a test swarm), as CIDR ranges: repeat it for several; `none` for no exemption. Giving it
    /// replaces the default, loopback.
    #[arg(help_heading = "Limits", long, value_name = "CIDR", default_values = ["127.0.0.0/8", "::1"])]
    pub exempt: Vec<crate::cidr::Exempt>,
    /// Most rooms at once, the lobby included; one more is refused with `! too many rooms`.
    #[arg(help_heading = "Limits", long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms: u32,
    /// Most rooms one connection is in at once (one that reads JSON, or a WebSocket one, may
    /// be in several; a text connection is in one); one more is refused with
    /// `! you are in N rooms already`.
    #[arg(help_heading = "Limits", long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_rooms_per_client: u32,
    /// Chat lines each room keeps and shows whoever enters it; 0 keeps none.
    #[arg(help_heading = "Limits", long, default_value_t = 50)]
    pub history: u32,
    /// Close a connection that sent nothing for this many seconds (`! idle timeout`); 0: never.
    #[arg(help_heading = "Limits", long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=A_YEAR))]
    pub idle_timeout: u64,
    /// Send an IRC client silent this many seconds a PING, and close it if it is silent as
    /// long again (`ERROR :Closing link: idle timeout`); 0: never.
    #[arg(
        help_heading = "Limits",
        long,
        value_name = "SECS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(..=A_YEAR)
    )]
    pub irc_ping: u64,
    /// Close a client that has not sent a line this many seconds after connecting
    /// (`! idle timeout`), so that idle sockets cannot hold the server's places; 0: never.
    #[arg(
        help_heading = "Limits",
        long,
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(..=A_YEAR)
    )]
    pub first_line_timeout: u64,
    /// Length of the kernel's queue of connections not yet accepted (capped by
    /// net.core.somaxconn).
    #[arg(help_heading = "Listeners", long, default_value_t = 4096)]
    pub listen_backlog: i32,
    /// Stack size of each thread in threads mode, in KiB.
    #[arg(help_heading = "Threads mode", long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(16..))]
    pub thread_stack: u32,
    /// Most client threads at once in threads mode: one per client, and one more for a client
    /// while it is behind (an eighth of them are kept for that); 0: as many as this system
    /// allows (from vm.max_map_count, kernel.threads-max and the process limit). Clients past it
    /// are told `! server full`.
    #[arg(help_heading = "Threads mode", long, default_value_t = 0)]
    pub max_threads: usize,
    /// Where the chat is remembered across restarts (history, rooms, topics, bans, line ids):
    /// an SQLite file, made if missing (mode 0600); `none` keeps everything in memory only. A
    /// node of a cluster keeps no file: the broker is its store.
    #[arg(
        help_heading = "Store",
        long,
        value_name = "FILE|none",
        default_value = "chatd.db"
    )]
    pub store: String,
    /// The longest a chat line waits in memory before it is written: the store writes one
    /// batch, one transaction, at most this often.
    #[arg(help_heading = "Store", long, value_name = "MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub store_sync_ms: u64,
    /// Delete stored lines older than this many days; 0: keep them forever.
    #[arg(help_heading = "Store", long, value_name = "DAYS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=36_500))]
    pub keep_days: u64,
    /// Delete the oldest stored lines while the store is larger than this many MB; 0: no limit.
    #[arg(help_heading = "Store", long, value_name = "MB", default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=1 << 30))]
    pub keep_mb: u64,
    /// Check the --store file (that it is a chatd store, and whole) and exit: 0 if it is.
    #[arg(help_heading = "Store", long)]
    pub check: bool,
    /// Log level: error, warn, info, debug or trace.
    #[arg(help_heading = "Logging", long, default_value = "info")]
    pub log_level: log::LevelFilter,
    /// Log more: each message at debug (-v), or everything (-vv).
    #[arg(help_heading = "Logging", short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Log only warnings and errors.
    #[arg(help_heading = "Logging", short, long)]
    pub quiet: bool,
}

impl ServerConfig {
    /// The level in force once -v and -q are applied.
    pub fn effective_log_level(&self) -> log::LevelFilter {
        use log::LevelFilter::*;
        match (self.quiet, self.verbose) {
            (true, _) => Warn,
            (false, 0) => self.log_level,
            (false, 1) => self.log_level.max(Debug),
            _ => Trace,
        }
    }

    pub fn hub_config(&self) -> HubConfig {
        HubConfig {
            max_clients: self.max_clients,
            max_line: self.max_line as usize,
            rate: self.msg_rate,
            burst: self.msg_burst,
            max_per_ip: self.max_per_ip,
            max_connects_per_minute: self.max_connects_per_ip,
            exempt: crate::cidr::ranges(&self.exempt),
            max_rooms: self.max_rooms as usize,
            max_rooms_per_client: self.max_rooms_per_client as usize,
            history: self.history as usize,
            password: self.password.clone(),
            oper_password: self.oper_password.clone(),
            node: self.node.as_deref().map(Into::into),
            first_line: (self.first_line_timeout > 0)
                .then(|| std::time::Duration::from_secs(self.first_line_timeout)),
            learn_cluster_first: true,
            announce_grace: crate::hub::ANNOUNCE_GRACE,
            operators: self
                .operators
                .iter()
                .map(|name| name.trim())
                .filter(|name| !name.is_empty())
                .map(|name| name.to_ascii_lowercase().into())
                .collect(),
        }
    }

    /// The store's settings; `None` with `--store none`, and in a cluster.
    pub fn store_config(&self) -> Option<crate::store::StoreConfig> {
        if self.store == "none" || !self.cluster.is_empty() {
            return None;
        }
        let days = std::time::Duration::from_secs(self.keep_days.saturating_mul(86_400));
        Some(crate::store::StoreConfig {
            path: PathBuf::from(&self.store),
            sync: std::time::Duration::from_millis(self.store_sync_ms),
            keep_for: (self.keep_days > 0).then_some(days),
            keep_bytes: (self.keep_mb > 0).then_some(self.keep_mb.saturating_mul(1 << 20)),
            history: self.history as usize,
            max_rooms: (self.max_rooms as usize).saturating_sub(1),
        })
    }

    /// How this node joins its cluster, if it does (after [`ServerConfig::load_secrets`]).
    pub fn cluster_config(&self) -> Option<crate::cluster::ClusterConfig> {
        Some(crate::cluster::ClusterConfig {
            urls: self.cluster.clone(),
            name: self.cluster_name.clone(),
            node: self.node.clone()?,
            history: self.history as usize,
            keep_for: (self.keep_days > 0)
                .then(|| std::time::Duration::from_secs(self.keep_days.saturating_mul(86_400))),
            keep_bytes: (self.keep_mb > 0).then_some(self.keep_mb.saturating_mul(1 << 20)),
            auth: self.cluster_auth.clone(),
            ca: self.cluster_ca.clone(),
        })
    }

    /// Reads the password files named on the command line.
    /// Also gives the node its id, in a cluster.
    pub fn load_secrets(&mut self) -> Result<(), String> {
        for url in &self.cluster {
            // Checked here, not by clap, to say it in one line and exit 1 (and never show a
            // password the URL may carry).
            cluster_url(url)
                .map_err(|e| format!("--cluster {}: {e}", crate::cluster::redacted(url)))?;
        }
        if !self.cluster.is_empty() {
            self.node = Some(crate::cluster::new_node_id());
        }
        if let Some(path) = &self.cluster_creds {
            let first = read_password(path)?;
            let whole = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let auth = crate::cluster::Auth::parse(&whole, &first)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            self.cluster_auth = Some(auth);
        }
        if let Some(path) = &self.cluster_ca
            && let Err(e) = std::fs::read(path)
        {
            return Err(format!("cannot read {}: {e}", path.display()));
        }
        if let Some(path) = &self.password_file {
            self.password = Some(read_secret(path)?);
        }
        if let Some(path) = &self.oper_password_file {
            self.oper_password = Some(read_secret(path)?);
        }
        Ok(())
    }

    /// `--tls-handshake-timeout`.
    pub fn handshake_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.tls_handshake_timeout)
    }

    pub fn rate_limit(&self) -> RateLimit {
        RateLimit {
            rate: self.msg_rate.max(0.0),
            burst: self.msg_burst.max(1.0),
            flood_after: if self.flood_after > 0.0 {
                std::time::Duration::from_secs_f64(self.flood_after.min(1e9))
            } else {
                std::time::Duration::MAX
            },
        }
    }

    /// `--irc-ping`, if set.
    pub fn irc_ping_limit(&self) -> Option<std::time::Duration> {
        (self.irc_ping > 0).then(|| std::time::Duration::from_secs(self.irc_ping))
    }

    /// `--idle-timeout`, if set.
    pub fn idle_limit(&self) -> Option<std::time::Duration> {
        (self.idle_timeout > 0).then(|| std::time::Duration::from_secs(self.idle_timeout))
    }
}

/// The longest timeout an option takes, in seconds: deadlines are added to the clock.
const A_YEAR: u64 = 365 * 24 * 3600;

/// A number of lines or seconds: finite, and not below 0 (`inf`, `NaN` and `-1` are refused).
fn finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        Ok(_) => Err("a finite number, 0 or more".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A password file's first line, without surrounding blanks; warns when others may read the
/// file. Used by chatd and by the `chat` client alike.
pub fn read_password(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(format!("{}: the first line is empty", path.display()));
    }
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        log::warn!(
            "{}: readable by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    Ok(first.to_string())
}

fn read_secret(path: &Path) -> Result<Secret, String> {
    read_password(path).map(|p| Secret::new(&p))
}

/// A broker's address for `--cluster`: `nats://HOST[:PORT]`, `tls://HOST[:PORT]` or
/// `HOST[:PORT]`, as the NATS client takes them; anything else is refused at start rather than
/// found out by a node that then serves alone.
fn cluster_url(text: &str) -> Result<String, String> {
    let rest = match text.split_once("://") {
        Some(("nats" | "tls", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "{scheme}:// is not a NATS broker's address: use nats://HOST:PORT or tls://HOST:PORT"
            ));
        }
        None => text,
    };
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port.strip_suffix('/').unwrap_or(host_port);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
        _ => (host_port, None),
    };
    if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
        return Err("no broker host in it: use nats://HOST:PORT".into());
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(format!("{port:?} is not a port: use nats://HOST:PORT"));
    }
    Ok(text.to_string())
}

/// A cluster's name: a name as the chat's rules have it (it goes into a subject).
fn cluster_name(text: &str) -> Result<String, String> {
    if crate::command::valid_name(text) {
        Ok(text.to_string())
    } else {
        Err("1 to 32 letters, digits, _ or -".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_are_checked_at_start() {
        for good in [
            "nats://127.0.0.1:4222",
            "tls://broker.example:4443",
            "nats://user:pass@host:1",
            "localhost:4222",
            "nats://host",
            "nats://[::1]:4222",
        ] {
            assert_eq!(cluster_url(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "http://x",
            "nats://",
            "nats://host:abc",
            "nats://host:0",
            "nats://a b:1",
            "",
        ] {
            assert!(cluster_url(bad).is_err(), "{bad} taken");
        }
        let err = cluster_url("http://x").unwrap_err();
        assert!(err.contains("not a NATS broker"), "{err}");
    }
}
