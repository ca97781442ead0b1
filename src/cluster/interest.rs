//! What a node receives from the broker: the events subject (joins, leaves, names, beats:
//! every node needs them for its counts), and the chat lines of the rooms it has clients in
//! (the lobby always), so that a cluster with many rooms spread over many nodes does not send
//! every line to every node.
//!
//! One subscription per subject, and the broker keeps one publisher's order on one
//! connection, but the client library hands each subscription its own queue: reading them
//! one after the other could take bob's line before the event that he joined, or his leaving
//! before his last line. So every message carries its place among all its node published (the
//! `Chatd-Order` header, numbered by the sending link), and [`Interest::next`] takes everything
//! that has arrived on any subject, then puts each node's messages back in that order. This is
//! enough: by the time a message is in its queue, everything its node published before it is
//! in theirs.

use std::collections::HashMap;
use std::future::poll_fn;
use std::task::Poll;

use async_nats::{HeaderMap, Message, Subscriber};
use futures_util::StreamExt;
use futures_util::stream::{AbortHandle, Abortable, SelectAll, abortable};

/// The header with a message's place among all its node published.
pub const ORDER: &str = "Chatd-Order";

/// Headers for the `order`th message a node publishes.
pub fn order_headers(order: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ORDER, order.to_string());
    headers
}

/// The subscriptions of one node: the events subject and the rooms followed.
pub struct Interest {
    events: Subscriber,
    /// The rooms' subscriptions, in one stream that polls only those that were woken (a
    /// node following a thousand rooms does not look at each on every message).
    rooms: SelectAll<Abortable<Subscriber>>,
    /// What ends each room's subscription, by subject: once aborted, it ends at its next poll
    /// and is dropped, which unsubscribes it.
    followed: HashMap<String, AbortHandle>,
}

impl Interest {
    pub fn new(events: Subscriber) -> Interest {
        Interest {
            events,
            rooms: SelectAll::new(),
            followed: HashMap::new(),
        }
    }

    pub fn follows(&self, subject: &str) -> bool {
        self.followed.contains_key(subject)
    }

    /// How many room subjects are followed.
    pub fn rooms(&self) -> usize {
        self.followed.len()
    }

    pub fn add(&mut self, subject: String, subscriber: Subscriber) {
        let (stream, handle) = abortable(subscriber);
        self.rooms.push(stream);
        if let Some(old) = self.followed.insert(subject, handle) {
            old.abort();
        }
    }

    /// Stops receiving `subject`: nothing more of it is taken, and its subscription ends.
    pub fn remove(&mut self, subject: &str) {
        if let Some(handle) = self.followed.remove(subject) {
            handle.abort();
        }
    }

    /// Waits for messages, then takes every one that has arrived on any subject, each node's in
    /// the order it published them. `None` when the events subscription has ended.
    pub async fn next(&mut self) -> Option<Vec<Message>> {
        let mut batch = Vec::new();
        let mut from_rooms = false;
        poll_fn(|cx| {
            let mut ended = false;
            loop {
                match self.events.poll_next_unpin(cx) {
                    Poll::Ready(Some(m)) => batch.push(m),
                    Poll::Ready(None) => {
                        ended = true;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
            // Ready(None) when no room is followed (or the last ended): nothing to take.
            while let Poll::Ready(Some(m)) = self.rooms.poll_next_unpin(cx) {
                batch.push(m);
                from_rooms = true;
            }
            if !batch.is_empty() {
                Poll::Ready(Some(()))
            } else if ended {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await?;
        if from_rooms && batch.len() > 1 {
            in_publication_order(&mut batch, |m| {
                (sender(&m.payload), m.headers.as_ref().and_then(order))
            });
        }
        Some(batch)
    }
}

/// A message's place among its node's, from its header (`None` without one).
fn order(headers: &HeaderMap) -> Option<u64> {
    headers.get(ORDER)?.as_str().parse().ok()
}

/// The sending node's id in a message (its third word), unchecked: only for ordering; the
/// message is checked in full later.
pub fn sender(payload: &[u8]) -> &[u8] {
    payload.split(|&b| b == b' ').nth(2).unwrap_or_default()
}

/// Puts each sender's items in the order of their numbers, leaving the rest of the order as it
/// is: a stable sort by (sender, number), items without a number first for their sender. The
/// relative order of different senders' items is of no matter (nothing orders them).
pub fn in_publication_order<T>(items: &mut [T], key: impl Fn(&T) -> (&[u8], Option<u64>)) {
    items.sort_by(|a, b| key(a).cmp(&key(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_nodes_messages_come_back_in_its_order() {
        // As read one queue after the other: node a's line (5) before its join (4), node b's
        // leave (8) before its last line (7).
        let mut batch = vec![
            ("chatd1 c a line", Some(5)),
            ("chatd1 c b left", Some(8)),
            ("chatd1 c a joined", Some(4)),
            ("chatd1 c b line", Some(7)),
            ("chatd1 c a beat", Some(6)),
        ];
        in_publication_order(&mut batch, |(p, n)| (sender(p.as_bytes()), *n));
        let a: Vec<_> = batch.iter().filter(|(p, _)| p.contains(" a ")).collect();
        let b: Vec<_> = batch.iter().filter(|(p, _)| p.contains(" b ")).collect();
        assert_eq!(
            a.iter().map(|(_, n)| n.unwrap()).collect::<Vec<_>>(),
            [4, 5, 6]
        );
        assert_eq!(
            b.iter().map(|(_, n)| n.unwrap()).collect::<Vec<_>>(),
            [7, 8]
        );
    }

    #[test]
    fn hostile_or_odd_messages_are_sorted_without_harm() {
        let mut batch = vec![
            ("", None),
            ("x", Some(u64::MAX)),
            ("chatd1 c a line", None),
            ("chatd1 c a line", Some(0)),
        ];
        in_publication_order(&mut batch, |(p, n)| (sender(p.as_bytes()), *n));
        assert_eq!(batch.len(), 4);
        assert_eq!(sender(b"chatd1 c node7 beat"), b"node7");
        assert_eq!(sender(b"two words"), b"");
    }
}
