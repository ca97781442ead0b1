//! The link between a node and the broker: the official NATS client (`async-nats`) on a thread
//! of its own, with a single-threaded async runtime. The server hands it encoded messages
//! without waiting ([`Link::publish`]); what arrives, and the link going down or coming back,
//! is handed to a callback the server gives ([`Incoming`]), which wakes its loop (poll mode) or
//! its cluster thread (threads mode). It reconnects by itself, forever, and says "beat" every
//! second so that the others can tell it is alive.
//!
//! Accounts, and the messages that wait for their owners, are in [`super::accounts`].
//! Guest numbers and bans are kept in JetStream key-value buckets ([`super::kv`]), and the
//! names this node's clients hold, renewed before they expire, in another ([`super::names`]);
//! connecting, with credentials and TLS, is in [`super::broker`]; which subjects a node
//! receives, and in what order, in [`super::interest`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use tokio::sync::mpsc;

use super::ClusterConfig;
use super::accounts::Accounts;
use super::broker::{check_broker, connect, connected};
use super::history;
use super::interest::{Interest, order_headers};
use super::kv::Kv;
use super::names::{self, Names};
use crate::hub::{Claim, ClientId, LOBBY, Nodes};
use crate::metrics::{METRICS, Metrics};
pub use crate::news::{Inbound, Inbox, Incoming};
use crate::node_wire::{self as wire, Body, Message};

/// How often a node says it is alive.
pub const BEAT: Duration = Duration::from_secs(1);
/// Messages waiting to be published, at most; past it they are dropped (and counted).
const OUTGOING: usize = 64 * 1024;

/// Starts the link of a node in a cluster (`None`: a single node, no link); what arrives is
/// handed to `deliver` (see [`crate::news::inbox`]).
pub fn start(
    config: Option<ClusterConfig>,
    deliver: impl Fn(Incoming) + Send + Sync + 'static,
) -> std::io::Result<Option<Link>> {
    config
        .map(|config| Link::start(config, deliver))
        .transpose()
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
    /// Keep a room's topic: the room, and the node message that set it.
    StoreTopic(String, Vec<u8>),
    /// Read the history stream again.
    History,
    /// Receive this room's lines, and read its history.
    Follow(String),
    /// Stop receiving this room's lines.
    Unfollow(String),
    /// Read this room's history, without following it.
    Read(String),
    /// Make an account (client, work number, name, its node message) unless one exists.
    CreateAccount(ClientId, u64, String, Vec<u8>),
    /// Keep an account as it is now: its name, its node message.
    StoreAccount(String, Vec<u8>),
    ForgetAccount(String),
    /// Take a name for its account's owner (client, work number, name).
    TakeName(ClientId, u64, String),
    /// Keep a waiting message (its node message) for an account.
    KeepWaiting(String, Vec<u8>),
    /// Read (and let go of) what waits for an account, for its owner, this client.
    ReadWaiting(ClientId, String),
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
        if !start.topics.is_empty() {
            deliver(Incoming::Topics(start.topics));
        }
        if !start.accounts.is_empty() {
            deliver(Incoming::Accounts(start.accounts));
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
                Request::CreateAccount(id, serial, ..) | Request::TakeName(id, serial, _) => {
                    (self.deliver)(Incoming::Answered(id, serial, Claim::Unavailable))
                }
                Request::ReadWaiting(id, name) => {
                    (self.deliver)(Incoming::Waited(id, name, Vec::new()))
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

    fn store_topic(&self, room: &str, by: &str, text: &str) {
        let msg = Message {
            node: &self.config.node,
            body: Body::Topic { room, by, text },
        };
        let bytes = wire::encode(&self.config.name, &msg);
        self.request(Request::StoreTopic(room.to_string(), bytes));
    }

    fn reload_history(&self) {
        self.request(Request::History);
    }

    fn follow(&self, room: &str) {
        self.request(Request::Follow(room.to_string()));
    }

    fn unfollow(&self, room: &str) {
        self.request(Request::Unfollow(room.to_string()));
    }

    fn read_room(&self, room: &str) {
        self.request(Request::Read(room.to_string()));
    }

    fn create_account(&self, to: ClientId, serial: u64, name: &str, hash: &str) {
        let value = self.account_message(name, 0, hash);
        self.request(Request::CreateAccount(to, serial, name.to_string(), value));
    }

    fn store_account(&self, name: &str, until: u64, hash: &str) {
        let value = self.account_message(name, until, hash);
        self.request(Request::StoreAccount(name.to_string(), value));
    }

    fn forget_account(&self, name: &str) {
        self.request(Request::ForgetAccount(name.to_string()));
    }

    fn take_name(&self, to: ClientId, serial: u64, name: &str) {
        self.request(Request::TakeName(to, serial, name.to_string()));
    }

    fn keep_waiting(&self, from: &str, to: &str, at: u64, text: &str) {
        let msg = Message {
            node: &self.config.node,
            body: Body::Waiting { from, to, at, text },
        };
        let bytes = wire::encode(&self.config.name, &msg);
        self.request(Request::KeepWaiting(to.to_string(), bytes));
    }

    fn read_waiting(&self, to: ClientId, name: &str) {
        self.request(Request::ReadWaiting(to, name.to_string()));
    }
}

impl Link {
    /// An account's node message, as its bucket keeps it.
    fn account_message(&self, name: &str, until: u64, hash: &str) -> Vec<u8> {
        let msg = Message {
            node: &self.config.node,
            body: Body::Account { name, until, hash },
        };
        wire::encode(&self.config.name, &msg)
    }
}

/// The link's thread: connect, subscribe, read the history, then pass messages both ways and
/// beat until told to stop.
async fn run(
    config: Arc<ClusterConfig>,
    mut outgoing: mpsc::Receiver<Request>,
    deliver: Arc<dyn Fn(Incoming) + Send + Sync>,
    beat: Link,
) {
    let link_state = {
        let deliver = Arc::clone(&deliver);
        Arc::new(move |up| deliver(Incoming::Link(up)))
    };
    let Some(client) = connect(&config, link_state).await else {
        return;
    };
    let subject = config.subject();
    let lobby = config.room_subject(LOBBY);
    let mut interest = match subscribe(&client, &subject, &lobby).await {
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
    let mut names = Names::new(
        Kv::names(jetstream.clone(), &config.name, names::NAME_TTL),
        &config.node,
    );
    let mut counters = Kv::counters(jetstream.clone(), &config.name);
    let mut bans = Kv::bans(jetstream.clone(), &config.name);
    let mut topics = Kv::topics(jetstream.clone(), &config.name);
    let mut accounts = Accounts::new(jetstream.clone(), &config.name);
    if config.history > 0 {
        // The history is read once connected (a node started before its broker waits for it;
        // its own clients are served meanwhile).
        while !connected(&client) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        deliver(Incoming::History(
            history::load(&jetstream, &config, None).await,
        ));
    }
    if connected(&client) {
        // Opened now, not at the first claim.
        names.open().await;
    }
    // The names held are written again every RENEW, beside the loop; what it found comes back
    // here.
    let mut renew_ticker = tokio::time::interval(names::RENEW);
    let (renewed_tx, mut renewed_rx) = mpsc::channel(1);
    let mut renewing = false;
    // The bans were read at start if the broker answered then; if not, at the first beat
    // that finds it.
    let mut bans_read = false;
    let mut ticker = tokio::time::interval(BEAT);
    // Every message this node publishes is numbered (see `interest`).
    let mut published = 0u64;
    loop {
        tokio::select! {
            batch = interest.next() => match batch {
                Some(batch) => {
                    Metrics::add(&METRICS.broker_received, batch.len() as u64);
                    for msg in batch {
                        deliver(Incoming::Message(msg.payload.to_vec()));
                    }
                }
                None => {
                    log::error!("cluster: subscription ended");
                    return;
                }
            },
            out = outgoing.recv() => match out {
                Some(Request::Stop) | None => {
                    names.release_all(Duration::from_millis(800)).await;
                    let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
                    return;
                }
                Some(Request::Publish(to, bytes)) => {
                    let to = to.unwrap_or_else(|| subject.clone());
                    published += 1;
                    Metrics::add(&METRICS.broker_published, 1);
                    let headers = order_headers(published);
                    if let Err(e) = client.publish_with_headers(to, headers, bytes.into()).await {
                        log::debug!("cluster: publish: {e}");
                    }
                }
                Some(Request::Follow(room)) => {
                    let room_subject = config.room_subject(&room);
                    if !interest.follows(&room_subject) {
                        match client.subscribe(room_subject.clone()).await {
                            Ok(sub) => {
                                interest.add(room_subject.clone(), sub);
                                log::debug!("cluster: following {room_subject} ({} rooms)", interest.rooms());
                            }
                            Err(e) => log::warn!("cluster: cannot subscribe to {room_subject}: {e}"),
                        }
                    }
                    // Read after subscribing (the broker takes requests in order): a line is
                    // in the history read, or comes live, or both (the hub keeps it once).
                    let (jetstream, config, deliver) =
                        (jetstream.clone(), Arc::clone(&config), Arc::clone(&deliver));
                    tokio::spawn(async move {
                        let lines = if config.history > 0 {
                            history::load(&jetstream, &config, Some(room_subject)).await
                        } else {
                            Vec::new()
                        };
                        deliver(Incoming::Followed(room, lines));
                    });
                }
                Some(Request::Read(room)) if config.history > 0 => {
                    // Not waited for here, as a follow's read is not.
                    let room_subject = config.room_subject(&room);
                    let (jetstream, config, deliver) =
                        (jetstream.clone(), Arc::clone(&config), Arc::clone(&deliver));
                    tokio::spawn(async move {
                        let lines = history::load(&jetstream, &config, Some(room_subject)).await;
                        if !lines.is_empty() {
                            deliver(Incoming::Followed(room, lines));
                        }
                    });
                }
                Some(Request::Read(_)) => {}
                Some(Request::Unfollow(room)) => {
                    let room_subject = config.room_subject(&room);
                    if room_subject != lobby {
                        interest.remove(&room_subject);
                    }
                }
                Some(Request::Claim(id, name)) => {
                    let claim = names.claim(&name).await;
                    deliver(Incoming::Claimed(id, name, claim));
                }
                Some(Request::Release(name)) => names.release(&name).await,
                Some(Request::StoreBan(ip, secs, by)) => bans.put_ban(ip, secs, &by).await,
                Some(Request::ForgetBan(ip)) => bans.delete_ban(ip).await,
                Some(Request::StoreTopic(room, bytes)) => topics.put_topic(&room, bytes).await,
                Some(Request::CreateAccount(id, serial, name, value)) => {
                    let made = accounts.create(&name, value).await;
                    deliver(Incoming::Answered(id, serial, made));
                }
                Some(Request::StoreAccount(name, value)) => accounts.put(&name, value).await,
                Some(Request::ForgetAccount(name)) => accounts.delete(&name).await,
                Some(Request::TakeName(id, serial, name)) => {
                    let taken = names.take(&name).await;
                    deliver(Incoming::Answered(id, serial, taken));
                }
                Some(Request::KeepWaiting(to, bytes)) => accounts.keep_waiting(&to, bytes).await,
                Some(Request::ReadWaiting(id, name)) => {
                    let found = accounts.take_waiting(&name).await;
                    deliver(Incoming::Waited(id, name, found));
                }
                Some(Request::History) => {
                    // Not waited for here: the chat goes on while it is read.
                    let (jetstream, config, deliver) =
                        (jetstream.clone(), Arc::clone(&config), Arc::clone(&deliver));
                    tokio::spawn(async move {
                        deliver(Incoming::History(history::load(&jetstream, &config, None).await));
                    });
                }
                Some(Request::Guests) => {
                    let (start, end) = counters.reserve_guests().await.unwrap_or((0, 0));
                    deliver(Incoming::Guests(start, end));
                }
            },
            _ = renew_ticker.tick(), if !renewing && connected(&client) => {
                if let Some(renew) = names.renewal().await {
                    renewing = true;
                    let renewed_tx = renewed_tx.clone();
                    tokio::spawn(async move {
                        let _ = renewed_tx.send(renew.run(names::RENEW).await).await;
                    });
                }
            }
            Some(found) = renewed_rx.recv() => {
                renewing = false;
                for name in names.renewed(found).await {
                    log::warn!("cluster: the name {name} is another node's now");
                    deliver(Incoming::NameLost(name));
                }
            }
            _ = ticker.tick() => {
                beat.publish(&Body::Beat);
                if !bans_read && connected(&client) {
                    // Read after subscribing: with the store written before each ban or unban
                    // is published, no lift or ban falls between this read and the messages.
                    if let Some(kept) = bans.load_bans().await {
                        bans_read = true;
                        deliver(Incoming::Bans(kept));
                        // Likewise the topics (set before this read, or published after it),
                        // and the accounts.
                        if let Some(kept) = topics.load_values().await {
                            deliver(Incoming::Topics(kept));
                        }
                        if let Some(kept) = accounts.load().await {
                            deliver(Incoming::Accounts(kept));
                        }
                    }
                }
            }
        }
    }
}

/// The subscriptions a node starts with: the events, and the lobby's lines.
async fn subscribe(
    client: &async_nats::Client,
    events: &str,
    lobby: &str,
) -> Result<Interest, async_nats::SubscribeError> {
    let mut interest = Interest::new(client.subscribe(events.to_string()).await?);
    interest.add(
        lobby.to_string(),
        client.subscribe(lobby.to_string()).await?,
    );
    Ok(interest)
}
