//! Connecting a node to its broker: the options (credentials, TLS), the check at start that
//! tells a refusal (exit) from an absence (serve alone and wait), and the connection the link
//! keeps, reconnecting forever.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::kv::Kv;
use super::{Auth, ClusterConfig};

/// The options every connection of this node to the broker starts from: its name, its
/// credentials, and TLS if asked for.
fn base_options(config: &ClusterConfig) -> async_nats::ConnectOptions {
    let options = match &config.auth {
        Some(Auth::Credentials(creds)) => async_nats::ConnectOptions::with_credentials(creds)
            .unwrap_or_else(|e| {
                // Checked at start (`Auth::parse`): cannot happen.
                log::error!("cluster: credentials: {e}");
                async_nats::ConnectOptions::new()
            }),
        Some(Auth::Token(token)) => async_nats::ConnectOptions::with_token(token.clone()),
        None => async_nats::ConnectOptions::new(),
    };
    // A node's own messages are not sent back to it (it would drop them).
    let options = options
        .name(format!("chatd node {}", config.node))
        .no_echo();
    // A user and password in a URL (the first that has them) go in as options.
    let user = config.urls.iter().find_map(|u| super::split_user(u).1);
    let options = match user {
        Some((user, pass)) => options.user_and_password(user, pass),
        None => options,
    };
    match &config.ca {
        Some(ca) => options.add_root_certificates(ca.clone()).require_tls(true),
        None => options,
    }
}

/// The brokers' addresses as the NATS client takes them: no user or password in them.
fn addresses(config: &ClusterConfig) -> String {
    let urls: Vec<String> = config.urls.iter().map(|u| super::split_user(u).0).collect();
    urls.join(",")
}

/// The URLs, without passwords, for the log.
fn shown(config: &ClusterConfig) -> String {
    let urls: Vec<String> = config.urls.iter().map(|u| super::redacted(u)).collect();
    urls.join(",")
}

/// One try at the broker at start: a broker that refuses this node (its credentials, or its
/// certificate) is a mistake to say now, and the node does not start; a broker that is not
/// there (yet) is not: the node serves its own clients until it comes. A broker that answers
/// gives the node its first guest numbers.
pub(super) async fn check_broker(config: &ClusterConfig) -> std::io::Result<Start> {
    use async_nats::ConnectErrorKind::{Authentication, AuthorizationViolation, Tls};
    let attempt = base_options(config)
        .connection_timeout(Duration::from_secs(2))
        .connect(addresses(config));
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Err(e))
            if matches!(e.kind(), Authentication | AuthorizationViolation | Tls)
                || refused_by_tls(&e) =>
        {
            Err(std::io::Error::other(format!(
                "cluster: the broker at {} refused this node: {e}",
                shown(config)
            )))
        }
        Ok(Ok(client)) => {
            let jetstream = async_nats::jetstream::new(client);
            let learn = async {
                // The history stream exists before anyone is served: no line said in the
                // node's first moments is missing from the cluster's history.
                if config.history > 0
                    && let Err(e) = super::history::stream(&jetstream, config).await
                {
                    log::warn!("cluster: history stream: {e}");
                }
                let guests = Kv::counters(jetstream.clone(), &config.name)
                    .reserve_guests()
                    .await;
                let topics = Kv::topics(jetstream.clone(), &config.name)
                    .load_values()
                    .await;
                let accounts = Kv::accounts(jetstream.clone(), &config.name)
                    .load_values()
                    .await;
                let bans = Kv::bans(jetstream, &config.name).load_bans().await;
                Start {
                    guests,
                    bans: bans.unwrap_or_default(),
                    topics: topics.unwrap_or_default(),
                    accounts: accounts.unwrap_or_default(),
                }
            };
            // A slow JetStream delays the start by this much at most; the link asks again
            // once it runs (guest numbers at link-up, bans at its first beat).
            Ok(tokio::time::timeout(START_LEARNING, learn)
                .await
                .unwrap_or_default())
        }
        Ok(Err(e)) => {
            log::warn!(
                "cluster: {}: {e}; serving this node's clients until it answers",
                shown(config)
            );
            Ok(Start::default())
        }
        Err(_) => Ok(Start::default()),
    }
}

/// How long a node may spend learning its first guest numbers, the topics and the bans before
/// it serves.
const START_LEARNING: Duration = Duration::from_secs(3);

/// What a node learns from its broker before it serves.
#[derive(Default)]
pub(super) struct Start {
    pub guests: Option<(u64, u64)>,
    pub bans: Vec<(IpAddr, u64, String)>,
    /// The rooms' topics, as kept (node messages, not checked yet).
    pub topics: Vec<Vec<u8>>,
    /// The accounts, likewise.
    pub accounts: Vec<Vec<u8>>,
}

/// Whether a failed connection failed in TLS (the broker's certificate was not trusted, say):
/// the client reports those as I/O errors with a rustls error inside.
fn refused_by_tls(e: &async_nats::ConnectError) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map_or(err, |inner| inner as &(dyn std::error::Error + 'static));
        if inner.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Connects to the broker (and keeps reconnecting, forever), telling `link` when the link is
/// up (`true`) or down. `None` if the URLs cannot be used at all.
pub(super) async fn connect(
    config: &ClusterConfig,
    link: Arc<dyn Fn(bool) + Send + Sync>,
) -> Option<async_nats::Client> {
    let events = Arc::clone(&link);
    let options = base_options(config)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .ping_interval(Duration::from_secs(2))
        .reconnect_delay_callback(|attempt| Duration::from_millis((100 * attempt as u64).min(1000)))
        .event_callback(move |event| {
            let events = Arc::clone(&events);
            async move {
                match event {
                    async_nats::Event::Connected => {
                        log::info!("cluster: connected to the broker");
                        events(true);
                    }
                    async_nats::Event::Disconnected => {
                        log::warn!("cluster: lost the broker; reconnecting");
                        events(false);
                    }
                    // Each failed reconnect says so: only worth a debug line.
                    async_nats::Event::ClientError(e) => log::debug!("cluster: {e}"),
                    other => log::info!("cluster: {other}"),
                }
            }
        });
    // With retry_on_initial_connect this returns at once, connected or not.
    let client = match options.connect(addresses(config)).await {
        Ok(c) => c,
        Err(e) => {
            log::error!("cluster: cannot use {}: {e}", shown(config));
            return None;
        }
    };
    // Not connected within 2 s: the server is told the link is down (and up once it connects).
    let (watched, urls) = (client.clone(), shown(config));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if watched.connection_state() != async_nats::connection::State::Connected {
            log::warn!("cluster: cannot reach {urls} yet; serving this node's clients alone");
            link(false);
        }
    });
    Some(client)
}

pub(super) fn connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}
