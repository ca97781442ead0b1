//! The cluster's history: a JetStream stream that keeps the last `--history` lines of every
//! room subject (fewer, if `--keep-days` or `--keep-mb` say so), made by whichever node needs it
//! first, its limits set again by a node started with others, and read by a node that starts
//! (every room's lines) or starts following a room (that room's).

use std::time::Duration;

use futures_util::StreamExt;

use super::ClusterConfig;

/// The stream's settings for `config`: the last `--history` lines of every room subject, none
/// older than `--keep-days`, at most `--keep-mb` in all.
pub(super) fn wanted(config: &ClusterConfig) -> async_nats::jetstream::stream::Config {
    use async_nats::jetstream::stream;
    stream::Config {
        name: format!("chatd_history_{}", config.name),
        subjects: vec![format!("chatd.{}.room.*", config.name)],
        max_messages_per_subject: config.history as i64,
        max_age: config.keep_for.unwrap_or(Duration::ZERO),
        // -1: no limit (what the broker says of a stream made without one).
        max_bytes: config
            .keep_bytes
            .map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX)),
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    }
}

/// The cluster's history stream, made if there is none yet; a stream made with other limits
/// (another `--history`, `--keep-days` or `--keep-mb`) is given this node's: the node started
/// last sets them, and says so.
pub(super) async fn stream(
    jetstream: &async_nats::jetstream::Context,
    config: &ClusterConfig,
) -> Result<async_nats::jetstream::stream::Stream, String> {
    let wanted = wanted(config);
    let mut stream = jetstream
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(|e| e.to_string())?;
    let have = &stream.cached_info().config;
    let limits = |c: &async_nats::jetstream::stream::Config| {
        (c.max_messages_per_subject, c.max_age, c.max_bytes)
    };
    if limits(have) != limits(&wanted) {
        log::info!(
            "cluster: history stream {}: limits (lines a room, age, bytes) {:?} -> {:?}",
            wanted.name,
            limits(have),
            limits(&wanted)
        );
        jetstream
            .update_stream(&wanted)
            .await
            .map_err(|e| e.to_string())?;
        stream = jetstream
            .get_stream(&wanted.name)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

/// The history stream (made if there is none yet), and what it keeps: the last lines of every
/// room, or of one (`room`: its subject), oldest first. Empty if the broker has no JetStream or
/// does not answer in time.
pub(super) async fn load(
    jetstream: &async_nats::jetstream::Context,
    config: &ClusterConfig,
    room: Option<String>,
) -> Vec<Vec<u8>> {
    use async_nats::jetstream::consumer;
    let name = format!("chatd_history_{}", config.name);
    let load = async {
        let stream = stream(jetstream, config).await?;
        let reader = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: room.clone().unwrap_or_default(),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let total = reader.cached_info().num_pending as usize;
        let mut lines = Vec::with_capacity(total.min(1 << 16));
        if total == 0 {
            return Ok(lines);
        }
        let mut messages = reader.messages().await.map_err(|e| e.to_string())?;
        while lines.len() < total {
            match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                Ok(Some(Ok(msg))) => lines.push(msg.payload.to_vec()),
                _ => break,
            }
        }
        Ok::<_, String>(lines)
    };
    let of = room.as_deref().unwrap_or("all rooms");
    match tokio::time::timeout(Duration::from_secs(10), load).await {
        Ok(Ok(lines)) => {
            log::debug!(
                "cluster: {} lines of history of {of} from {name}",
                lines.len()
            );
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
