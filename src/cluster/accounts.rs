//! The cluster's accounts: a key-value bucket (`chatd_accounts_CLUSTER`, one key per lower-cased
//! name, the account's node message as its value: see [`crate::node_wire::Body::Account`]), and
//! the private messages that wait for an owner who is away, in a stream
//! (`chatd_waiting_CLUSTER`, a subject per account, at most
//! [`crate::hub::MAX_WAITING`] kept on each, the oldest dropped past that).
//!
//! A registration is a `create`, which exactly one of any number of nodes registering a name at
//! once wins; a password changed, a ban or an unregistration is a `put` or a `delete` by the node
//! whose client asked (the hub told the others already). The waiting messages are read by the
//! node their owner logs in to, and purged up to the last one read: one sent meanwhile waits
//! for the next login.

use std::time::Duration;

use futures_util::StreamExt;

use super::kv::{CLAIM_TIME, Kv};
use crate::hub::Claim;

pub(super) struct Accounts {
    kv: Kv,
    jetstream: async_nats::jetstream::Context,
    cluster: String,
    /// The waiting stream, once made or found.
    waiting: Option<async_nats::jetstream::stream::Stream>,
}

impl Accounts {
    pub(super) fn new(jetstream: async_nats::jetstream::Context, cluster: &str) -> Accounts {
        Accounts {
            kv: Kv::accounts(jetstream.clone(), cluster),
            jetstream,
            cluster: cluster.to_string(),
            waiting: None,
        }
    }

    /// Makes `name`'s account, `value` its node message, unless a node made one by that name.
    pub(super) async fn create(&mut self, name: &str, value: Vec<u8>) -> Claim {
        let Some(kv) = self.kv.store().await else {
            return Claim::Unavailable;
        };
        let key = name.to_ascii_lowercase();
        match tokio::time::timeout(CLAIM_TIME, kv.create(&key, value.into())).await {
            Ok(Ok(_)) => Claim::Granted,
            Ok(Err(e)) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                Claim::Taken
            }
            Ok(Err(e)) => {
                log::warn!("cluster: registering {name}: {e}");
                self.kv.forget();
                Claim::Unavailable
            }
            Err(_) => Claim::Unavailable,
        }
    }

    /// Keeps `name`'s account as it is now.
    pub(super) async fn put(&mut self, name: &str, value: Vec<u8>) {
        let Some(kv) = self.kv.store().await else {
            return;
        };
        let key = name.to_ascii_lowercase();
        if let Ok(Err(e)) = tokio::time::timeout(CLAIM_TIME, kv.put(&key, value.into())).await {
            log::warn!("cluster: keeping the account {name}: {e}");
        }
    }

    /// Forgets `name`'s account, and the messages waiting for it.
    pub(super) async fn delete(&mut self, name: &str) {
        if let Some(kv) = self.kv.store().await
            && let Ok(Err(e)) =
                tokio::time::timeout(CLAIM_TIME, kv.delete(name.to_ascii_lowercase())).await
        {
            log::warn!("cluster: forgetting the account {name}: {e}");
        }
        let subject = self.subject(name);
        if let Some(stream) = self.waiting().await {
            let _ = tokio::time::timeout(CLAIM_TIME, stream.purge().filter(subject)).await;
        }
    }

    /// Every account kept (node messages, not checked yet); `None` if they could not be read.
    pub(super) async fn load(&mut self) -> Option<Vec<Vec<u8>>> {
        self.kv.load_values().await
    }

    /// The subject of the messages waiting for `name`'s owner.
    fn subject(&self, name: &str) -> String {
        format!(
            "chatd.{}.waiting.{}",
            self.cluster,
            name.to_ascii_lowercase()
        )
    }

    /// The waiting stream, made if there is none yet.
    async fn waiting(&mut self) -> Option<&async_nats::jetstream::stream::Stream> {
        if self.waiting.is_none() {
            use async_nats::jetstream::stream;
            let config = stream::Config {
                name: format!("chatd_waiting_{}", self.cluster),
                subjects: vec![format!("chatd.{}.waiting.*", self.cluster)],
                max_messages_per_subject: crate::hub::MAX_WAITING as i64,
                storage: stream::StorageType::File,
                discard: stream::DiscardPolicy::Old,
                ..Default::default()
            };
            let made = self.jetstream.get_or_create_stream(config);
            match tokio::time::timeout(CLAIM_TIME, made).await {
                Ok(Ok(stream)) => self.waiting = Some(stream),
                Ok(Err(e)) => log::warn!("cluster: the waiting messages' stream: {e}"),
                Err(_) => log::warn!("cluster: the waiting messages' stream: no answer"),
            }
        }
        self.waiting.as_ref()
    }

    /// Keeps `message` (a waiting node message) for `to`'s owner.
    pub(super) async fn keep_waiting(&mut self, to: &str, message: Vec<u8>) {
        if self.waiting().await.is_none() {
            return;
        }
        let subject = self.subject(to);
        let kept = async {
            self.jetstream
                .publish(subject, message.into())
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(CLAIM_TIME, kept).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::warn!("cluster: keeping a message for {to}: {e}"),
            Err(_) => log::warn!("cluster: keeping a message for {to}: no answer"),
        }
    }

    /// The messages waiting for `name`'s owner, oldest first (node messages, not checked yet),
    /// let go of once read.
    pub(super) async fn take_waiting(&mut self, name: &str) -> Vec<Vec<u8>> {
        use async_nats::jetstream::consumer;
        let subject = self.subject(name);
        let Some(stream) = self.waiting().await.cloned() else {
            return Vec::new();
        };
        let read = async {
            let reader = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: subject.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            let total = reader.cached_info().num_pending as usize;
            let mut found = Vec::with_capacity(total.min(crate::hub::MAX_WAITING));
            let mut last = None;
            if total > 0 {
                let mut messages = reader.messages().await.map_err(|e| e.to_string())?;
                while found.len() < total {
                    match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                        Ok(Some(Ok(msg))) => {
                            last = msg.info().ok().map(|i| i.stream_sequence);
                            found.push(msg.payload.to_vec());
                        }
                        _ => break,
                    }
                }
            }
            if let Some(last) = last {
                stream
                    .purge()
                    .filter(subject.clone())
                    .sequence(last + 1)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(found)
        };
        match tokio::time::timeout(Duration::from_secs(5), read).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                log::warn!("cluster: the messages waiting for {name}: {e}");
                Vec::new()
            }
            Err(_) => {
                log::warn!("cluster: the messages waiting for {name}: no answer");
                Vec::new()
            }
        }
    }
}
