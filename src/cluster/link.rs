//! The link between a node and the broker: the official NATS client (`async-nats`) on a thread
//! of its own, with a single-threaded async runtime. The server hands it encoded messages
//! without waiting ([`Link::publish`]); what arrives, and the link going down or coming back,
//! is handed to a callback the server gives ([`Incoming`]), which wakes its loop (poll mode) or
//! its cluster thread (threads mode). It reconnects by itself, forever, and says "beat" every
//! second so that the others can tell it is alive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::ClusterConfig;
use super::wire::{self, Body, Message};

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
}

/// The server's end of the link.
#[derive(Clone)]
pub struct Link {
    config: Arc<ClusterConfig>,
    tx: mpsc::Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
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
        let link = Link {
            config: Arc::clone(&config),
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            stopped: Arc::new(std::sync::Mutex::new(Some(stopped))),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let beat = link.clone();
        thread::Builder::new()
            .name("cluster".into())
            .spawn(move || {
                runtime.block_on(run(config, rx, Arc::new(deliver), beat));
                let _ = done.send(());
            })?;
        Ok(link)
    }

    /// Sends what is queued (the node's goodbye last), then stops; waits at most `wait`.
    pub fn stop(&self, wait: Duration) {
        let _ = self.tx.try_send(Vec::new());
        let stopped = self.stopped.lock().ok().and_then(|mut s| s.take());
        if let Some(stopped) = stopped {
            let _ = stopped.recv_timeout(wait);
        }
    }

    /// Queues `body` for the other nodes; never waits.
    pub fn publish(&self, body: &Body<'_>) {
        let msg = Message {
            node: &self.config.node,
            body: body.clone(),
        };
        let bytes = wire::encode(&self.config.name, &msg);
        if self.tx.try_send(bytes).is_err() && self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
            log::warn!("cluster: the link is behind; messages for the other nodes are dropped");
        }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }
}

async fn run(
    config: Arc<ClusterConfig>,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    deliver: Arc<dyn Fn(Incoming) + Send + Sync>,
    beat: Link,
) {
    let events = Arc::clone(&deliver);
    let options = async_nats::ConnectOptions::new()
        .name(format!("chatd node {}", config.node))
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
                    other => log::info!("cluster: {other}"),
                }
            }
        });
    let client = match options.connect(config.urls.join(",")).await {
        Ok(c) => c,
        Err(e) => {
            log::error!("cluster: cannot use {:?}: {e}", config.urls);
            return;
        }
    };
    let subject = config.subject();
    let mut inbox = match client.subscribe(subject.clone()).await {
        Ok(s) => s,
        Err(e) => {
            log::error!("cluster: cannot subscribe to {subject}: {e}");
            return;
        }
    };
    // retry_on_initial_connect: the first Connected event may have come before the
    // subscription; say so again now that we read.
    deliver(Incoming::Link(true));
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
                Some(bytes) if bytes.is_empty() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
                    return;
                }
                Some(bytes) => {
                    if let Err(e) = client.publish(subject.clone(), bytes.into()).await {
                        log::debug!("cluster: publish: {e}");
                    }
                }
                None => {
                    let _ = client.flush().await;
                    return;
                }
            },
            _ = ticker.tick() => beat.publish(&Body::Beat),
        }
    }
}
