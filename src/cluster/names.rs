//! The names this node's clients hold across the cluster, in the names bucket: one key per
//! lower-cased name, the holding node's id as its value.
//!
//! A claim is a `create`, which exactly one of any number of nodes asking at once wins. The
//! bucket forgets a key [`NAME_TTL`] after it was last written, and the holder writes each of
//! its keys again every [`RENEW`]: a node that stops, crashes or is cut off loses its names by
//! itself, and no node ever lets go of a name for another (two nodes split apart cannot both
//! take a name for free). A node lets go of a name only if the key still says it holds it.
//! A name found held by another node at renewal was lost (this node was cut off for longer than
//! the expiry): the hub is told, and gives its client another.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use super::kv::{CLAIM_TIME, Kv};
use crate::hub::Claim;

/// How long the cluster keeps a name its node has stopped renewing.
pub(super) const NAME_TTL: Duration = Duration::from_secs(15);
/// How often a node writes its names again (a third of [`NAME_TTL`]: two renewals may fail).
pub(super) const RENEW: Duration = Duration::from_secs(5);
/// Keys written at once, at most.
const AT_ONCE: usize = 64;

/// What a renewal found of one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Renewal {
    /// Written again: its new revision.
    Renewed(u64),
    /// Another node holds it now.
    Lost,
    /// Forgotten by the bucket (expired) or deleted: free to take again.
    Gone,
    /// No answer: try again next time.
    Unknown,
}

/// The names this node holds.
pub(super) struct Names {
    kv: Kv,
    /// This node's id, the value of every key it holds.
    node: Bytes,
    /// Lower-cased name -> (the name as claimed, the revision of this node's last write).
    held: HashMap<String, (String, u64)>,
}

impl Names {
    pub(super) fn new(kv: Kv, node: &str) -> Names {
        Names {
            kv,
            node: Bytes::from(node.to_string()),
            held: HashMap::new(),
        }
    }

    /// Opens the bucket now rather than at the first claim.
    pub(super) async fn open(&mut self) {
        self.kv.store().await;
    }

    /// Claims `name` for this node.
    pub(super) async fn claim(&mut self, name: &str) -> Claim {
        let node = self.node.clone();
        let Some(kv) = self.kv.store().await else {
            return Claim::Unavailable;
        };
        let key = name.to_ascii_lowercase();
        match tokio::time::timeout(CLAIM_TIME, kv.create(&key, node)).await {
            Ok(Ok(revision)) => {
                self.held.insert(key, (name.to_string(), revision));
                Claim::Granted
            }
            Ok(Err(e)) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                Claim::Taken
            }
            Ok(Err(e)) => {
                log::warn!("cluster: claiming {name}: {e}");
                self.kv.forget();
                Claim::Unavailable
            }
            Err(_) => Claim::Unavailable,
        }
    }

    /// Takes `name` for this node whoever holds it (its account's owner logged in here): the
    /// node that held it finds it lost at its next renewal, if it was not told before.
    pub(super) async fn take(&mut self, name: &str) -> Claim {
        let node = self.node.clone();
        let Some(kv) = self.kv.store().await else {
            return Claim::Unavailable;
        };
        let key = name.to_ascii_lowercase();
        match tokio::time::timeout(CLAIM_TIME, kv.put(&key, node)).await {
            Ok(Ok(revision)) => {
                self.held.insert(key, (name.to_string(), revision));
                Claim::Granted
            }
            Ok(Err(e)) => {
                log::warn!("cluster: taking {name}: {e}");
                self.kv.forget();
                Claim::Unavailable
            }
            Err(_) => Claim::Unavailable,
        }
    }

    /// Lets go of `name`, if this node holds it (the key still says so).
    pub(super) async fn release(&mut self, name: &str) {
        let key = name.to_ascii_lowercase();
        if self.held.remove(&key).is_none() {
            return;
        }
        let node = self.node.clone();
        if let Some(kv) = self.kv.store().await {
            let _ = tokio::time::timeout(CLAIM_TIME, delete_if_held(kv, &key, &node)).await;
        }
    }

    /// Lets go of every name held, within `wait` (a stopping node: what is not let go of by
    /// then expires by itself).
    pub(super) async fn release_all(&mut self, wait: Duration) {
        let keys: Vec<String> = self.held.drain().map(|(key, _)| key).collect();
        if keys.is_empty() {
            return;
        }
        let node = self.node.clone();
        let Some(kv) = self.kv.store().await else {
            return;
        };
        let deletes = futures_util::stream::iter(keys.iter())
            .map(|key| delete_if_held(kv, key, &node))
            .buffer_unordered(AT_ONCE)
            .collect::<Vec<()>>();
        if tokio::time::timeout(wait, deletes).await.is_err() {
            log::info!("cluster: stopping; names not let go of in time expire by themselves");
        }
    }

    /// What a renewal needs: the bucket, this node's id, and each name held with its last
    /// revision. `None` if nothing is held or the bucket cannot be had.
    pub(super) async fn renewal(&mut self) -> Option<Renew> {
        if self.held.is_empty() {
            return None;
        }
        let node = self.node.clone();
        let kv = self.kv.store().await?.clone();
        let keys = self
            .held
            .iter()
            .map(|(k, (_, rev))| (k.clone(), *rev))
            .collect();
        Some(Renew { kv, node, keys })
    }

    /// Takes what a renewal found: returns the names lost. A name let go of or claimed again
    /// since the renewal began (its revision differs) is left as it is now.
    pub(super) async fn renewed(&mut self, found: Vec<(String, u64, Renewal)>) -> Vec<String> {
        let mut lost = Vec::new();
        for (key, from, renewal) in found {
            let Some((_, revision)) = self.held.get_mut(&key).filter(|(_, r)| *r == from) else {
                continue;
            };
            match renewal {
                Renewal::Renewed(now) => *revision = now,
                Renewal::Unknown => {}
                Renewal::Lost => {
                    if let Some((name, _)) = self.held.remove(&key) {
                        lost.push(name);
                    }
                }
                Renewal::Gone => {
                    // Expired while this node was cut off, and no one took it: take it again.
                    let name = self.held.remove(&key).map(|(name, _)| name);
                    if let Some(name) = name
                        && self.claim(&name).await == Claim::Taken
                    {
                        lost.push(name);
                    }
                }
            }
        }
        lost
    }
}

/// One renewal of every name held, run beside the link's loop (it must not hold up messages).
pub(super) struct Renew {
    kv: async_nats::jetstream::kv::Store,
    node: Bytes,
    keys: Vec<(String, u64)>,
}

impl Renew {
    /// Writes every key again, within `wait`: `(key, revision it was at, what was found)`.
    pub(super) async fn run(self, wait: Duration) -> Vec<(String, u64, Renewal)> {
        let Renew { kv, node, keys } = self;
        let mut found = Vec::with_capacity(keys.len());
        let mut renewals = futures_util::stream::iter(keys)
            .map(|(key, revision)| {
                let (kv, node) = (&kv, node.clone());
                async move {
                    let renewal = renew_one(kv, &key, node, revision).await;
                    (key, revision, renewal)
                }
            })
            .buffer_unordered(AT_ONCE);
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(one)) = tokio::time::timeout_at(deadline, renewals.next()).await {
            found.push(one);
        }
        found
    }
}

async fn renew_one(
    kv: &async_nats::jetstream::kv::Store,
    key: &str,
    node: Bytes,
    revision: u64,
) -> Renewal {
    use async_nats::jetstream::kv::{Operation, UpdateErrorKind};
    match tokio::time::timeout(CLAIM_TIME, kv.update(key, node.clone(), revision)).await {
        Ok(Ok(now)) => return Renewal::Renewed(now),
        Ok(Err(e)) if e.kind() == UpdateErrorKind::WrongLastRevision => {}
        _ => return Renewal::Unknown,
    }
    // Written since this node last did: by whom?
    match tokio::time::timeout(CLAIM_TIME, kv.entry(key)).await {
        Ok(Ok(Some(e))) if e.operation == Operation::Put && e.value == node => {
            Renewal::Renewed(e.revision)
        }
        Ok(Ok(Some(e))) if e.operation == Operation::Put => Renewal::Lost,
        Ok(Ok(_)) => Renewal::Gone,
        _ => Renewal::Unknown,
    }
}

/// Deletes `key` if its value is `node` (and no one wrote it since it was read).
async fn delete_if_held(kv: &async_nats::jetstream::kv::Store, key: &str, node: &Bytes) {
    use async_nats::jetstream::kv::Operation;
    if let Ok(Some(e)) = kv.entry(key).await
        && e.operation == Operation::Put
        && e.value == *node
        && let Err(e) = kv.delete_expect_revision(key, Some(e.revision)).await
    {
        log::debug!("cluster: letting go of {key}: {e}");
    }
}
