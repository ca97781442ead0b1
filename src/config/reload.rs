//! SIGHUP: the settings read again (the command line and its `--config` file), and what may
//! change without a restart applied: the hub's limits and passwords, the connections' line
//! rate, idle timeout and backlog, and the log level. What cannot (the listeners, the
//! concurrency model, TLS, the cluster, the longest line, which the framing was set up with)
//! is kept, and the log says which changed and needs a restart.

use std::ffi::OsString;

use clap::Parser;

use super::{ServerConfig, file};
use crate::hub::HubConfig;

/// SIGHUP's socket (see `crate::shutdown::on_reload`) and what to do when it is readable.
pub struct Reload {
    pub signal: std::os::unix::net::UnixStream,
    pub reloader: Reloader,
}

impl Reload {
    /// Reads the settings again (the caller took the signal's bytes), sets the log level and
    /// logs what changed; the hub's and the connections' new settings, for the driver to
    /// apply. `None` if the settings could not be read (nothing changed, and the log says why).
    pub fn take(&mut self) -> Option<Reloaded> {
        match self.reloader.reload() {
            Ok(done) => {
                log::set_max_level(done.log_level);
                if done.said.is_empty() {
                    log::info!("reload: nothing changed");
                }
                for line in &done.said {
                    log::info!("reload: {line}");
                }
                Some(done)
            }
            Err(e) => {
                log::error!("reload: {e}; nothing changed");
                None
            }
        }
    }
}

/// What a reload decided.
pub struct Reloaded {
    /// The hub's settings from now on.
    pub hub: HubConfig,
    /// Every connection's line rate from now on (their buckets keep their tokens).
    pub limit: crate::rate::RateLimit,
    /// The idle timeout of connections from now on.
    pub idle: Option<std::time::Duration>,
    /// The most output queued for one client from now on.
    pub max_backlog: usize,
    pub log_level: log::LevelFilter,
    /// One line per setting, for the log: what changed, and what needs a restart.
    pub said: Vec<String>,
}

/// Keeps what the server started with, to read the settings again and compare.
pub struct Reloader {
    args: Vec<OsString>,
    current: ServerConfig,
}

impl Reloader {
    pub fn new(args: Vec<OsString>, current: ServerConfig) -> Reloader {
        Reloader { args, current }
    }

    /// Reads the settings again. An error (a bad file, a password file gone) changes nothing.
    pub fn reload(&mut self) -> Result<Reloaded, String> {
        let args = file::with_config_file(self.args.clone())?;
        let mut new = ServerConfig::try_parse_from(args).map_err(|e| {
            let e = e.to_string();
            e.lines().next().unwrap_or_default().to_string()
        })?;
        // The same node id: it is the node's for as long as it runs.
        new.node = self.current.node.clone();
        new.cluster = self.current.cluster.clone();
        load_passwords(&mut new)?;
        let said = changes(&self.current, &new);
        // What needs a restart stays as it was.
        let mut kept = self.current.clone();
        kept.max_clients = new.max_clients;
        kept.max_per_ip = new.max_per_ip;
        kept.max_connects_per_ip = new.max_connects_per_ip;
        kept.exempt = new.exempt.clone();
        kept.first_line_timeout = new.first_line_timeout;
        kept.max_rooms = new.max_rooms;
        kept.max_rooms_per_client = new.max_rooms_per_client;
        kept.history = new.history;
        kept.password_file = new.password_file.clone();
        kept.password = new.password.clone();
        kept.oper_password_file = new.oper_password_file.clone();
        kept.oper_password = new.oper_password.clone();
        kept.operators = new.operators.clone();
        kept.log_level = new.log_level;
        kept.msg_rate = new.msg_rate;
        kept.msg_burst = new.msg_burst;
        kept.flood_after = new.flood_after;
        kept.idle_timeout = new.idle_timeout;
        kept.max_backlog = new.max_backlog;
        self.current = kept;
        Ok(Reloaded {
            hub: self.current.hub_config(),
            limit: self.current.rate_limit(),
            idle: self.current.idle_limit(),
            max_backlog: self.current.max_backlog as usize,
            log_level: self.current.effective_log_level(),
            said,
        })
    }
}

/// The password files read again (not the cluster's: the link keeps its credentials).
fn load_passwords(c: &mut ServerConfig) -> Result<(), String> {
    c.password = match &c.password_file {
        Some(path) => Some(super::read_secret(path)?),
        None => None,
    };
    c.oper_password = match &c.oper_password_file {
        Some(path) => Some(super::read_secret(path)?),
        None => None,
    };
    Ok(())
}

/// What differs between `old` and `new`, a line each.
fn changes(old: &ServerConfig, new: &ServerConfig) -> Vec<String> {
    let mut said = Vec::new();
    let mut applied = |name: &str, a: String, b: String| {
        if a != b {
            said.push(format!("{name}: {a} -> {b}"));
        }
    };
    applied(
        "max_clients",
        old.max_clients.to_string(),
        new.max_clients.to_string(),
    );
    applied(
        "max_per_ip",
        old.max_per_ip.to_string(),
        new.max_per_ip.to_string(),
    );
    applied(
        "max_connects_per_ip",
        old.max_connects_per_ip.to_string(),
        new.max_connects_per_ip.to_string(),
    );
    let list = |e: &[crate::cidr::Exempt]| {
        e.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    applied("exempt", list(&old.exempt), list(&new.exempt));
    applied(
        "first_line_timeout",
        old.first_line_timeout.to_string(),
        new.first_line_timeout.to_string(),
    );
    applied(
        "max_rooms",
        old.max_rooms.to_string(),
        new.max_rooms.to_string(),
    );
    applied(
        "max_rooms_per_client",
        old.max_rooms_per_client.to_string(),
        new.max_rooms_per_client.to_string(),
    );
    applied("history", old.history.to_string(), new.history.to_string());
    applied(
        "msg_rate",
        old.msg_rate.to_string(),
        new.msg_rate.to_string(),
    );
    applied(
        "msg_burst",
        old.msg_burst.to_string(),
        new.msg_burst.to_string(),
    );
    applied(
        "flood_after",
        old.flood_after.to_string(),
        new.flood_after.to_string(),
    );
    applied(
        "idle_timeout",
        old.idle_timeout.to_string(),
        new.idle_timeout.to_string(),
    );
    applied(
        "max_backlog",
        old.max_backlog.to_string(),
        new.max_backlog.to_string(),
    );
    applied(
        "log_level",
        old.log_level.to_string(),
        new.log_level.to_string(),
    );
    if old.password != new.password {
        said.push(match new.password {
            Some(_) => "the server's password changed (from now on)".to_string(),
            None => "the server's password is off".to_string(),
        });
    }
    if old.oper_password != new.oper_password {
        said.push(match new.oper_password {
            Some(_) => "the operators' password changed (from now on)".to_string(),
            None => "the operators' password is off (no new operators)".to_string(),
        });
    }
    let mut restart = |name: &str, a: String, b: String| {
        if a != b {
            said.push(format!("{name}: {a} -> {b} needs a restart; kept {a}"));
        }
    };
    restart("host", old.host.clone(), new.host.clone());
    restart("port", old.port.to_string(), new.port.to_string());
    restart("mode", old.mode.to_string(), new.mode.to_string());
    restart(
        "tls_port",
        format!("{:?}", old.tls_port),
        format!("{:?}", new.tls_port),
    );
    restart(
        "web_port",
        format!("{:?}", old.web_port),
        format!("{:?}", new.web_port),
    );
    restart(
        "irc_port",
        format!("{:?}", old.irc_port),
        format!("{:?}", new.irc_port),
    );
    restart(
        "irc_ping",
        old.irc_ping.to_string(),
        new.irc_ping.to_string(),
    );
    restart(
        "irc_tls_port",
        format!("{:?}", old.irc_tls_port),
        format!("{:?}", new.irc_tls_port),
    );
    restart(
        "max_line",
        old.max_line.to_string(),
        new.max_line.to_string(),
    );
    restart("store", old.store.clone(), new.store.clone());
    restart(
        "store_sync_ms",
        old.store_sync_ms.to_string(),
        new.store_sync_ms.to_string(),
    );
    restart(
        "keep_days",
        old.keep_days.to_string(),
        new.keep_days.to_string(),
    );
    restart("keep_mb", old.keep_mb.to_string(), new.keep_mb.to_string());
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_the_log_level_change_and_listeners_are_kept() {
        let dir = std::env::temp_dir().join(format!("chatd-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("chatd.toml");
        std::fs::write(&file, "max_per_ip = 4\nport = 4000\n").unwrap();
        let args: Vec<OsString> = ["chatd", "--config", file.to_str().unwrap()]
            .iter()
            .map(OsString::from)
            .collect();
        let first =
            ServerConfig::try_parse_from(file::with_config_file(args.clone()).unwrap()).unwrap();
        let mut r = Reloader::new(args, first);
        std::fs::write(
            &file,
            "max_per_ip = 2\nport = 5000\nlog_level = \"debug\"\n",
        )
        .unwrap();
        let done = r.reload().unwrap();
        assert_eq!(done.hub.max_per_ip, 2);
        assert_eq!(done.log_level, log::LevelFilter::Debug);
        assert!(
            done.said.contains(&"max_per_ip: 4 -> 2".to_string()),
            "{:?}",
            done.said
        );
        assert!(
            done.said
                .contains(&"port: 4000 -> 5000 needs a restart; kept 4000".to_string())
        );
        // A broken file changes nothing.
        std::fs::write(&file, "max_per_ip = \"x\"\n").unwrap();
        assert!(r.reload().is_err());
        std::fs::write(
            &file,
            "max_per_ip = 2\nport = 5000\nlog_level = \"debug\"\n",
        )
        .unwrap();
        assert!(
            r.reload()
                .unwrap()
                .said
                .iter()
                .all(|s| s.contains("needs a restart"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
