//! The cluster's JetStream key-value buckets, opened or made on first use: the names held
//! (kept by [`super::names`]), the guest counter, the bans.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt;

use crate::hub::GUEST_BLOCK;

/// How long a claim or a release may take before the store is taken for unreachable.
pub(super) const CLAIM_TIME: Duration = Duration::from_secs(5);

/// A JetStream key-value bucket of the cluster's, opened (or made) on first use and again
/// after an error. Five serve the cluster: the names held (`chatd_names_CLUSTER`, one key per
/// lower-cased name, the holding node as its value, each forgotten a while
/// after it was last written: see `names.rs`), the accounts (`accounts.rs`), the counters (`chatd_counters_CLUSTER`: the guest counter, which
/// must never be forgotten), the rooms' topics (`chatd_topics_CLUSTER`, one key per lower-cased
/// room, the node message that set it as its value) and the bans (`chatd_bans_CLUSTER`, one key per address, `UNTIL BY`
/// as its value, UNTIL in Unix seconds).
pub(super) struct Kv {
    jetstream: async_nats::jetstream::Context,
    bucket: String,
    /// How long a key is kept after its last write (zero: for good).
    max_age: Duration,
    store: Option<async_nats::jetstream::kv::Store>,
}

impl Kv {
    /// The names bucket, whose keys are forgotten `ttl` after their last write.
    pub(super) fn names(
        jetstream: async_nats::jetstream::Context,
        cluster: &str,
        ttl: Duration,
    ) -> Kv {
        let mut kv = Kv::new(jetstream, format!("chatd_names_{cluster}"));
        kv.max_age = ttl;
        kv
    }

    pub(super) fn counters(jetstream: async_nats::jetstream::Context, cluster: &str) -> Kv {
        Kv::new(jetstream, format!("chatd_counters_{cluster}"))
    }

    pub(super) fn topics(jetstream: async_nats::jetstream::Context, cluster: &str) -> Kv {
        Kv::new(jetstream, format!("chatd_topics_{cluster}"))
    }

    /// The accounts (see `accounts.rs`), kept for good.
    pub(super) fn accounts(jetstream: async_nats::jetstream::Context, cluster: &str) -> Kv {
        Kv::new(jetstream, format!("chatd_accounts_{cluster}"))
    }

    pub(super) fn bans(jetstream: async_nats::jetstream::Context, cluster: &str) -> Kv {
        Kv::new(jetstream, format!("chatd_bans_{cluster}"))
    }

    fn new(jetstream: async_nats::jetstream::Context, bucket: String) -> Kv {
        Kv {
            jetstream,
            bucket,
            max_age: Duration::ZERO,
            store: None,
        }
    }

    /// Opens the bucket again at its next use (after an error).
    pub(super) fn forget(&mut self) {
        self.store = None;
    }

    /// The bucket, if it can be had within [`CLAIM_TIME`].
    pub(super) async fn store(&mut self) -> Option<&async_nats::jetstream::kv::Store> {
        if self.store.is_none() {
            let (jetstream, bucket) = (&self.jetstream, &self.bucket);
            let max_age = self.max_age;
            let open = async {
                if let Ok(kv) = jetstream.get_key_value(bucket).await {
                    return Ok(kv);
                }
                let made = jetstream
                    .create_key_value(async_nats::jetstream::kv::Config {
                        bucket: bucket.to_string(),
                        history: 1,
                        max_age,
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
                Ok(Err(e)) => log::warn!("cluster: the bucket {bucket}: {e}"),
                Err(_) => log::warn!("cluster: the bucket {bucket}: no answer"),
            }
        }
        self.store.as_ref()
    }

    /// Takes the next [`GUEST_BLOCK`] guest numbers: the key `guests.next` (a `.`, so no
    /// client's name) holds the first number no node has taken, moved on by compare-and-set,
    /// so that nodes asking at once get different blocks.
    pub(super) async fn reserve_guests(&mut self) -> Option<(u64, u64)> {
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
    pub(super) async fn put_ban(&mut self, ip: IpAddr, secs: u64, by: &str) {
        let Some(kv) = self.store().await else {
            return;
        };
        let value = format!("{} {by}", unix_now() + secs).into_bytes().into();
        if let Ok(Err(e)) = tokio::time::timeout(CLAIM_TIME, kv.put(ban_key(ip), value)).await {
            log::warn!("cluster: keeping the ban of {ip}: {e}");
        }
    }

    /// Keeps `room`'s topic: `message`, the node message that set it (encoded).
    pub(super) async fn put_topic(&mut self, room: &str, message: Vec<u8>) {
        let Some(kv) = self.store().await else {
            return;
        };
        let key = room.to_ascii_lowercase();
        if let Ok(Err(e)) = tokio::time::timeout(CLAIM_TIME, kv.put(&key, message.into())).await {
            log::warn!("cluster: keeping the topic of #{room}: {e}");
        }
    }

    /// Every value kept (at most [`MAX_KEPT_VALUES`]), not checked yet; `None` if they could
    /// not be read.
    pub(super) async fn load_values(&mut self) -> Option<Vec<Vec<u8>>> {
        let kv = self.store().await?;
        let read = async {
            let mut found = Vec::new();
            let mut keys = kv.keys().await.ok()?;
            while let Some(Ok(key)) = keys.next().await {
                if let Ok(Some(value)) = kv.get(key).await {
                    found.push(value.to_vec());
                }
                if found.len() >= MAX_KEPT_VALUES {
                    break;
                }
            }
            Some(found)
        };
        let read = tokio::time::timeout(Duration::from_secs(5), read).await;
        if !matches!(read, Ok(Some(_))) {
            log::warn!("cluster: the values in {}: no answer", self.bucket);
        }
        read.ok().flatten()
    }

    pub(super) async fn delete_ban(&mut self, ip: IpAddr) {
        if let Some(kv) = self.store().await
            && let Ok(Err(e)) = tokio::time::timeout(CLAIM_TIME, kv.delete(ban_key(ip))).await
        {
            log::warn!("cluster: lifting the ban of {ip}: {e}");
        }
    }

    /// The bans kept and not over: `(address, seconds left, by)`; `None` if they could not be
    /// read (which must lift none). What does not read as a ban (another program's key, a
    /// hostile value) is left out.
    pub(super) async fn load_bans(&mut self) -> Option<Vec<(IpAddr, u64, String)>> {
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
}

/// Most topics (or accounts) read from the cluster at start.
const MAX_KEPT_VALUES: usize = 100_000;

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
