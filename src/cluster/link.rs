//! The link between a node and the broker: the official NATS client (`async-nats`) on a thread
//! of its own, with a single-threaded async runtime. The server hands it encoded messages
//! without waiting ([`Link::publish`]); what arrives, and the link going down or coming back,
//! is handed to a callback the server gives ([`Incoming`]), which wakes its loop (poll mode) or
//! its cluster thread (threads mode). It reconnects by itself, forever, and says "beat" every
//! second so that the others can tell it is alive.
//!
//! Names are claimed in a JetStream key-value bucket (`chatd_names_CLUSTER`, one key per
//! lower-cased name, the owning node as its value): `create` succeeds for exactly one of any
//! number of nodes asking at once.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Auth, ClusterConfig};
use crate::hub::{Claim, ClientId, Event, GUEST_BLOCK, Hub, Nodes, Outbox};
use crate::node_wire::{self as wire, Body, Message};

/// How often a node says it is alive.
pub const BEAT: Duration = Duration::from_secs(1);
/// Messages waiting to be published, at most; past it they are dropped (and counted).
const OUTGOING: usize = 64 * 1024;

/// What the link hands the server.
pub enum Incoming {
    /// A message from the broker, not checked yet (see [`wire::decode`]).
    Message(Vec<u8>),
    /// Connected to the broker (`true`), or lost it (`false`).
    Link(bool),
    /// The answer to [`Link::claim`].
    Claimed(ClientId, String, Claim),
    /// Guest numbers for this node, `start..end` (empty: the cluster could not be asked).
    Guests(u64, u64),
    /// The bans the cluster keeps: address, seconds left, by whom.
    Bans(Vec<(IpAddr, u64, String)>),
    /// The rooms' last lines as the cluster keeps them (messages not checked yet), oldest
    /// first; once, when the link first comes up.
    History(Vec<Vec<u8>>),
}

/// What both concurrency models do with what the link brings: turn it into hub events,
/// checking every message from the broker first and counting (and logging, sparingly) the
/// ones refused.
pub struct Inbound {
    cluster: String,
    refused: u64,
}

impl Inbound {
    pub fn new(cluster: &str) -> Inbound {
        Inbound {
            cluster: cluster.to_string(),
            refused: 0,
        }
    }

    /// Hands the hub everything in `items`.
    pub fn hand_all(&mut self, items: &[Incoming], hub: &mut Hub, out: &mut impl Outbox) {
        for item in items {
            self.hand(item, hub, out);
        }
    }

    /// Hands `item` to the hub.
    pub fn hand(&mut self, item: &Incoming, hub: &mut Hub, out: &mut impl Outbox) {
        match item {
            Incoming::Link(up) => hub.handle(Event::Link(*up), out),
            Incoming::History(raw) => {
                let lines = wire::lines(&self.cluster, raw);
                hub.handle(Event::Stored(&lines), out);
            }
            Incoming::Claimed(id, name, claim) => {
                hub.handle(Event::Claimed(*id, name, *claim), out)
            }
            Incoming::Guests(start, end) => hub.handle(Event::Guests(*start, *end), out),
            Incoming::Bans(bans) => {
                let bans: Vec<(IpAddr, u64, &str)> = bans
                    .iter()
                    .map(|(ip, secs, by)| (*ip, *secs, by.as_str()))
                    .collect();
                hub.handle(Event::Bans(&bans), out);
            }
            Incoming::Message(bytes) => match wire::decode(&self.cluster, bytes) {
                Ok(msg) => hub.handle(Event::Cluster(&msg), out),
                Err(e) => {
                    self.refused += 1;
                    if self.refused <= 10 || self.refused.is_power_of_two() {
                        log::warn!("cluster: ignored a message ({e}); {} so far", self.refused);
                    }
                }
            },
        }
    }
}

/// What the link brought and the server has not taken yet: the link's thread puts it here and
/// calls the server's `wake` (poll mode's `mio::Waker`); the server takes it all at once, or
/// waits for it on a thread of its own (threads mode).
#[derive(Default)]
pub struct Inbox {
    items: std::sync::Mutex<Vec<Incoming>>,
    arrived: std::sync::Condvar,
}

impl Inbox {
    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Incoming>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, item: Incoming) {
        self.items().push(item);
        self.arrived.notify_one();
    }

    /// Everything that arrived so far.
    pub fn take(&self) -> Vec<Incoming> {
        std::mem::take(&mut *self.items())
    }

    /// Everything that arrived, waiting until something has.
    pub fn wait(&self) -> Vec<Incoming> {
        let items = self.items();
        let mut items = self
            .arrived
            .wait_while(items, |i| i.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *items)
    }
}

/// Starts the link of a node in a cluster (`None`: a single node, no link): what arrives is
/// put in the returned [`Inbox`], then `wake` is called.
pub fn start(
    config: Option<ClusterConfig>,
    wake: impl Fn() + Send + Sync + 'static,
) -> std::io::Result<Option<(Link, Arc<Inbox>)>> {
    let Some(config) = config else {
        return Ok(None);
    };
    let inbox = Arc::new(Inbox::default());
    let to = Arc::clone(&inbox);
    let link = Link::start(config, move |incoming| {
        to.put(incoming);
        wake();
    })?;
    Ok(Some((link, inbox)))
}

/// What the server asks of the link.
enum Request {
    /// On this subject (None: the events subject).
    Publish(Option<String>, Vec<u8>),
    Claim(ClientId, String),
    Release(String),
    /// The next block of guest numbers.
    Guests,
    /// Keep a ban: address, seconds, by whom.
    StoreBan(IpAddr, u64, String),
    ForgetBan(IpAddr),
    /// Send what is queued, then stop.
    Stop,
}

/// The server's end of the link.
#[derive(Clone)]
pub struct Link {
    config: Arc<ClusterConfig>,
    tx: mpsc::Sender<Request>,
    dropped: Arc<AtomicU64>,
    /// The server's callback, for answering a claim that could not even be queued.
    deliver: Arc<dyn Fn(Incoming) + Send + Sync>,
    /// Told when the link has flushed and stopped (see [`Link::stop`]).
    stopped: Arc<std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
}

impl Link {
    /// Starts the link's thread. `deliver` is called on that thread for everything that
    /// arrives; it must not block for long.
    pub fn start(
        config: ClusterConfig,
        deliver: impl Fn(Incoming) + Send + Sync + 'static,
    ) -> std::io::Result<Link> {
        let (tx, rx) = mpsc::channel(OUTGOING);
        let (done, stopped) = std::sync::mpsc::channel();
        let config = Arc::new(config);
        let deliver: Arc<dyn Fn(Incoming) + Send + Sync> = Arc::new(deliver);
        let link = Link {
            config: Arc::clone(&config),
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            deliver: Arc::clone(&deliver),
            stopped: Arc::new(std::sync::Mutex::new(Some(stopped))),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let start = runtime.block_on(check_broker(&config))?;
        // Before the server serves anyone: its first newcomers get these numbers, and the
        // addresses banned across the cluster are refused from the first connection on.
        if let Some((first, end)) = start.guests {
            deliver(Incoming::Guests(first, end));
        }
        if !start.bans.is_empty() {
            deliver(Incoming::Bans(start.bans));
        }
        let beat = link.clone();
        thread::Builder::new()
            .name("cluster".into())
            .spawn(move || {
                runtime.block_on(run(config, rx, deliver, beat));
                let _ = done.send(());
            })?;
        Ok(link)
    }

    /// Sends what is queued (the node's goodbye last), then stops; waits at most `wait`.
    pub fn stop(&self, wait: Duration) {
        let _ = self.tx.try_send(Request::Stop);
        let stopped = self.stopped.lock().ok().and_then(|mut s| s.take());
        if let Some(stopped) = stopped {
            let _ = stopped.recv_timeout(wait);
        }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    fn request(&self, request: Request) {
        if let Err(mpsc::error::TrySendError::Full(request)) = self.tx.try_send(request) {
            if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                log::warn!("cluster: the link is behind; messages for the other nodes are dropped");
            }
            match request {
                // A claim is never left unanswered, nor a request for guest numbers.
                Request::Claim(id, name) => {
                    (self.deliver)(Incoming::Claimed(id, name, Claim::Unavailable))
                }
                Request::Guests => (self.deliver)(Incoming::Guests(0, 0)),
                _ => {}
            }
        }
    }
}

impl Nodes for Link {
    /// Queues `body` for the other nodes; never waits.
    fn publish(&self, body: &Body<'_>) {
        let msg = Message {
            node: &self.config.node,
            body: body.clone(),
        };
        let subject = match body {
            Body::Line { room, .. } => Some(self.config.room_subject(room)),
            _ => None,
        };
        self.request(Request::Publish(
            subject,
            wire::encode(&self.config.name, &msg),
        ));
    }

    /// Asks the cluster for `name` for client `id`; the answer comes as [`Incoming::Claimed`].
    fn claim(&self, id: ClientId, name: &str) {
        self.request(Request::Claim(id, name.to_string()));
    }

    /// Lets go of a name.
    fn release(&self, name: &str) {
        self.request(Request::Release(name.to_string()));
    }

    /// Asks for guest numbers; they come as [`Incoming::Guests`].
    fn reserve_guests(&self) {
        self.request(Request::Guests);
    }

    fn store_ban(&self, ip: IpAddr, secs: u64, by: &str) {
        self.request(Request::StoreBan(ip, secs, by.to_string()));
    }

    fn forget_ban(&self, ip: IpAddr) {
        self.request(Request::ForgetBan(ip));
    }
}

/// How long a claim or a release may take before the store is taken for unreachable.
const CLAIM_TIME: Duration = Duration::from_secs(5);

/// A JetStream key-value bucket of the cluster's, opened (or made) on first use and again
/// after an error. Two serve the cluster: the names claimed (`chatd_names_CLUSTER`, one key per
/// lower-cased name, the owning node as its value; and the guest counter) and the bans
/// (`chatd_bans_CLUSTER`, one key per address, `UNTIL BY` as its value, UNTIL in Unix seconds).
struct Kv {
    jetstream: async_nats::jetstream::Context,
    bucket: String,
    store: Option<async_nats::jetstream::kv::Store>,
}

impl Kv {
    fn names(jetstream: async_nats::jetstream::Context, cluster: &str) -> Kv {
        Kv::new(jetstream, format!("chatd_names_{cluster}"))
    }

    fn bans(jetstream: async_nats::jetstream::Context, cluster: &str) -> Kv {
        Kv::new(jetstream, format!("chatd_bans_{cluster}"))
    }

    fn new(jetstream: async_nats::jetstream::Context, bucket: String) -> Kv {
        Kv {
            jetstream,
            bucket,
            store: None,
        }
    }

    /// The bucket, if it can be had within [`CLAIM_TIME`].
    async fn store(&mut self) -> Option<&async_nats::jetstream::kv::Store> {
        if self.store.is_none() {
            let (jetstream, bucket) = (&self.jetstream, &self.bucket);
            let open = async {
                if let Ok(kv) = jetstream.get_key_value(bucket).await {
                    return Ok(kv);
                }
                let made = jetstream
                    .create_key_value(async_nats::jetstream::kv::Config {
                        bucket: bucket.to_string(),
                        history: 1,
                        ..Default::default()
                    })
                    .await;
                match made {
                    Ok(kv) => Ok(kv),
                    // Another node made it meanwhile.
                    Err(e) => jetstream.get_key_value(bucket).await.map_err(|_| e),
                }
            };
            match tokio::time::timeout(CLAIM_TIME, open).await {
                Ok(Ok(kv)) => self.store = Some(kv),
                Ok(Err(e)) => log::warn!("cluster: the names bucket {bucket}: {e}"),
                Err(_) => log::warn!("cluster: the names bucket {bucket}: no answer"),
            }
        }
        self.store.as_ref()
    }

    /// Claims `name` for `node`: `create` succeeds for exactly one of any number of nodes
    /// asking at once.
    async fn claim(&mut self, node: &str, name: &str) -> Claim {
        let Some(kv) = self.store().await else {
            return Claim::Unavailable;
        };
        let key = name.to_ascii_lowercase();
        let owner = node.to_string().into_bytes().into();
        match tokio::time::timeout(CLAIM_TIME, kv.create(&key, owner)).await {
            Ok(Ok(_)) => Claim::Granted,
            Ok(Err(e)) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                Claim::Taken
            }
            Ok(Err(e)) => {
                log::warn!("cluster: claiming {name}: {e}");
                self.store = None;
                Claim::Unavailable
            }
            Err(_) => Claim::Unavailable,
        }
    }

    /// Takes the next [`GUEST_BLOCK`] guest numbers: the key `guests.next` (a `.`, so no
    /// client's name) holds the first number no node has taken, moved on by compare-and-set,
    /// so that nodes asking at once get different blocks.
    async fn reserve_guests(&mut self) -> Option<(u64, u64)> {
        const KEY: &str = "guests.next";
        let kv = self.store().await?;
        for _ in 0..16 {
            let entry = match tokio::time::timeout(CLAIM_TIME, kv.entry(KEY)).await {
                Ok(Ok(entry)) => entry,
                Ok(Err(e)) => {
                    log::warn!("cluster: guest numbers: {e}");
                    return None;
                }
                Err(_) => return None,
            };
            let start = entry
                .as_ref()
                .and_then(|e| std::str::from_utf8(&e.value).ok()?.parse().ok())
                .unwrap_or(1u64);
            let end = start + GUEST_BLOCK;
            let value = end.to_string().into_bytes().into();
            let set = match &entry {
                Some(e) => tokio::time::timeout(CLAIM_TIME, kv.update(KEY, value, e.revision))
                    .await
                    .map(|r| r.is_ok()),
                None => tokio::time::timeout(CLAIM_TIME, kv.create(KEY, value))
                    .await
                    .map(|r| r.is_ok()),
            };
            match set {
                Ok(true) => return Some((start, end)),
                Ok(false) => continue, // another node took that block first
                Err(_) => return None,
            }
        }
        None
    }

    /// Keeps a ban of `ip` for `secs` seconds from now.
    async fn put_ban(&mut self, ip: IpAddr, secs: u64, by: &str) {
        let Some(kv) = self.store().await else {
            return;
        };
        let value = format!("{} {by}", unix_now() + secs).into_bytes().into();
        if let Ok(Err(e)) = tokio::time::timeout(CLAIM_TIME, kv.put(ban_key(ip), value)).await {
            log::warn!("cluster: keeping the ban of {ip}: {e}");
        }
    }

    async fn delete_ban(&mut self, ip: IpAddr) {
        if let Some(kv) = self.store().await
            && let Ok(Err(e)) = tokio::time::timeout(CLAIM_TIME, kv.delete(ban_key(ip))).await
        {
            log::warn!("cluster: lifting the ban of {ip}: {e}");
        }
    }

    /// The bans kept and not over: `(address, seconds left, by)`; `None` if they could not be
    /// read (which must lift none). What does not read as a ban (another program's key, a
    /// hostile value) is left out.
    async fn load_bans(&mut self) -> Option<Vec<(IpAddr, u64, String)>> {
        let kv = self.store().await?;
        let read = async {
            let mut found = Vec::new();
            let mut keys = kv.keys().await.ok()?;
            while let Some(Ok(key)) = keys.next().await {
                let Ok(ip) = key.replace('_', ":").parse::<IpAddr>() else {
                    continue;
                };
                if let Ok(Some(value)) = kv.get(key).await
                    && let Some(ban) = read_ban(ip, &value)
                {
                    found.push(ban);
                }
                if found.len() >= MAX_KEPT_BANS {
                    break;
                }
            }
            Some(found)
        };
        match tokio::time::timeout(Duration::from_secs(5), read).await {
            Ok(Some(bans)) => {
                log::info!("cluster: {} bans kept in {}", bans.len(), self.bucket);
                Some(bans)
            }
            _ => {
                log::warn!("cluster: the bans in {}: no answer", self.bucket);
                None
            }
        }
    }

    /// Lets go of `name`.
    async fn release(&mut self, name: &str) {
        if let Some(kv) = self.store().await {
            let key = name.to_ascii_lowercase();
            if let Ok(Err(e)) = tokio::time::timeout(CLAIM_TIME, kv.delete(&key)).await {
                log::debug!("cluster: letting go of {name}: {e}");
            }
        }
    }
}

/// The history stream (made if there is none yet), and all it keeps: the last lines of every
/// room, oldest first. Empty if the broker has no JetStream or does not answer in time.
async fn load_history(
    jetstream: &async_nats::jetstream::Context,
    config: &ClusterConfig,
) -> Vec<Vec<u8>> {
    use async_nats::jetstream::{consumer, stream};
    let name = format!("chatd_history_{}", config.name);
    let load = async {
        let mut stream = jetstream
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("chatd.{}.room.*", config.name)],
                max_messages_per_subject: config.history as i64,
                storage: stream::StorageType::File,
                discard: stream::DiscardPolicy::Old,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let total = stream
            .info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .messages as usize;
        let mut lines = Vec::with_capacity(total.min(1 << 16));
        if total == 0 {
            return Ok(lines);
        }
        let reader = stream
            .create_consumer(consumer::pull::OrderedConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = reader.messages().await.map_err(|e| e.to_string())?;
        while lines.len() < total {
            match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                Ok(Some(Ok(msg))) => lines.push(msg.payload.to_vec()),
                _ => break,
            }
        }
        Ok::<_, String>(lines)
    };
    match tokio::time::timeout(Duration::from_secs(10), load).await {
        Ok(Ok(lines)) => {
            log::info!("cluster: {} lines of history from {name}", lines.len());
            lines
        }
        Ok(Err(e)) => {
            log::warn!("cluster: history stream {name}: {e}");
            Vec::new()
        }
        Err(_) => {
            log::warn!("cluster: history stream {name}: no answer");
            Vec::new()
        }
    }
}

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
    let options = options.name(format!("chatd node {}", config.node));
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
async fn check_broker(config: &ClusterConfig) -> std::io::Result<Start> {
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
            let guests = Kv::names(jetstream.clone(), &config.name)
                .reserve_guests()
                .await;
            let bans = Kv::bans(jetstream, &config.name)
                .load_bans()
                .await
                .unwrap_or_default();
            Ok(Start { guests, bans })
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

/// What a node learns from its broker before it serves.
#[derive(Default)]
struct Start {
    guests: Option<(u64, u64)>,
    bans: Vec<(IpAddr, u64, String)>,
}

/// Most bans read from the cluster at start.
const MAX_KEPT_BANS: usize = 100_000;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A ban's key: the address, with `_` for IPv6's `:` (not allowed in keys).
fn ban_key(ip: IpAddr) -> String {
    ip.to_string().replace(':', "_")
}

/// A kept ban's value, `UNTIL BY`, as `(address, seconds left, by)`, if it is one and not over.
fn read_ban(ip: IpAddr, value: &[u8]) -> Option<(IpAddr, u64, String)> {
    let (until, by) = std::str::from_utf8(value).ok()?.split_once(' ')?;
    let left = until.parse::<u64>().ok()?.checked_sub(unix_now())?;
    let valid =
        (1..=crate::node_wire::MAX_BAN_SECS).contains(&left) && crate::command::valid_name(by);
    valid.then(|| (ip, left, by.to_string()))
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

/// Connects to the broker (and keeps reconnecting, forever), telling the server when the link
/// is up or down. `None` if the URLs cannot be used at all.
async fn connect(
    config: &ClusterConfig,
    deliver: &Arc<dyn Fn(Incoming) + Send + Sync>,
) -> Option<async_nats::Client> {
    let events = Arc::clone(deliver);
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
                        events(Incoming::Link(true));
                    }
                    async_nats::Event::Disconnected => {
                        log::warn!("cluster: lost the broker; reconnecting");
                        events(Incoming::Link(false));
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
    let (watched, deliver, urls) = (client.clone(), Arc::clone(deliver), shown(config));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if watched.connection_state() != async_nats::connection::State::Connected {
            log::warn!("cluster: cannot reach {urls} yet; serving this node's clients alone");
            deliver(Incoming::Link(false));
        }
    });
    Some(client)
}

fn connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

/// The link's thread: connect, subscribe, read the history, then pass messages both ways and
/// beat until told to stop.
async fn run(
    config: Arc<ClusterConfig>,
    mut outgoing: mpsc::Receiver<Request>,
    deliver: Arc<dyn Fn(Incoming) + Send + Sync>,
    beat: Link,
) {
    let Some(client) = connect(&config, &deliver).await else {
        return;
    };
    let subject = config.subject();
    let mut inbox = match client.subscribe(config.all_subjects()).await {
        Ok(s) => s,
        Err(e) => {
            log::error!("cluster: cannot subscribe to {subject}: {e}");
            return;
        }
    };
    // The first Connected event may have come before the subscription: say so again now that
    // we read.
    if connected(&client) {
        deliver(Incoming::Link(true));
    }
    let jetstream = async_nats::jetstream::new(client.clone());
    let mut names = Kv::names(jetstream.clone(), &config.name);
    let mut bans = Kv::bans(jetstream.clone(), &config.name);
    if config.history > 0 {
        // The history is read once connected (a node started before its broker waits for it;
        // its own clients are served meanwhile).
        while !connected(&client) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        deliver(Incoming::History(load_history(&jetstream, &config).await));
    }
    if connected(&client) {
        // Opened now, not at the first claim.
        names.store().await;
    }
    // The bans were read at start if the broker answered then; if not, at the first beat
    // that finds it.
    let mut bans_read = false;
    let mut ticker = tokio::time::interval(BEAT);
    loop {
        tokio::select! {
            msg = inbox.next() => match msg {
                Some(msg) => deliver(Incoming::Message(msg.payload.to_vec())),
                None => {
                    log::error!("cluster: subscription ended");
                    return;
                }
            },
            out = outgoing.recv() => match out {
                Some(Request::Stop) | None => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
                    return;
                }
                Some(Request::Publish(to, bytes)) => {
                    let to = to.unwrap_or_else(|| subject.clone());
                    if let Err(e) = client.publish(to, bytes.into()).await {
                        log::debug!("cluster: publish: {e}");
                    }
                }
                Some(Request::Claim(id, name)) => {
                    let claim = names.claim(&config.node, &name).await;
                    deliver(Incoming::Claimed(id, name, claim));
                }
                Some(Request::Release(name)) => names.release(&name).await,
                Some(Request::StoreBan(ip, secs, by)) => bans.put_ban(ip, secs, &by).await,
                Some(Request::ForgetBan(ip)) => bans.delete_ban(ip).await,
                Some(Request::Guests) => {
                    let (start, end) = names.reserve_guests().await.unwrap_or((0, 0));
                    deliver(Incoming::Guests(start, end));
                }
            },
            _ = ticker.tick() => {
                beat.publish(&Body::Beat);
                if !bans_read && connected(&client) {
                    // Read after subscribing: with the store written before each ban or unban
                    // is published, no lift or ban falls between this read and the messages.
                    if let Some(kept) = bans.load_bans().await {
                        bans_read = true;
                        deliver(Incoming::Bans(kept));
                    }
                }
            }
        }
    }
}
