//! What nodes of a cluster tell each other through the broker, and its text form. Pure.
//!
//! One message per broker message, UTF-8, fields separated by one space, the last field of
//! some kinds free text (which may hold spaces):
//!
//! ```text
//! chatd1 CLUSTER NODE hello                      I am here (or back): tell me your roster
//! chatd1 CLUSTER NODE beat                       still here (every second)
//! chatd1 CLUSTER NODE bye                        stopping: forget my clients now
//! chatd1 CLUSTER NODE roster [NAME ROOM]...      all my clients, and their rooms (a NAME once
//!                                                for each room it is in)
//! chatd1 CLUSTER NODE joined NAME ROOM           NAME is in ROOM now (as well)
//! chatd1 CLUSTER NODE parted NAME ROOM           NAME left ROOM (and is still connected)
//! chatd1 CLUSTER NODE left NAME [REASON]         NAME is gone, from every room
//! chatd1 CLUSTER NODE renamed OLD NEW
//! chatd1 CLUSTER NODE moved NAME FROM TO
//! chatd1 CLUSTER NODE line ROOM AT SEQ TEXT      a chat line as its room sees it: `<ana> hi`;
//!                                                AT its time (µs of Unix time), SEQ its number
//! chatd1 CLUSTER NODE said ROOM AT SEQ TEXT      a line said while the node was cut off from
//!                                                the broker: for the room's history only
//! chatd1 CLUSTER NODE topic ROOM NAME TEXT
//! chatd1 CLUSTER NODE private FROM TO TEXT
//! chatd1 CLUSTER NODE kick NAME OPERATOR [REASON] an operator here asks NAME's node to act
//! chatd1 CLUSTER NODE mute NAME OPERATOR         (and unmute)
//! chatd1 CLUSTER NODE ban NAME OPERATOR MINUTES  NAME's node knows the address: it bans it
//! chatd1 CLUSTER NODE banned ADDRESS SECONDS OPERATOR   every node refuses ADDRESS that long
//! chatd1 CLUSTER NODE unbanned ADDRESS
//! chatd1 CLUSTER NODE account NAME UNTIL HASH    NAME is an account (registered, its password
//!                                                changed, or banned until UNTIL, Unix seconds,
//!                                                0 for none); HASH its password's PHC string
//! chatd1 CLUSTER NODE unregistered NAME          NAME's account is gone
//! chatd1 CLUSTER NODE loggedin NAME              NAME's owner logged in here: a connection
//!                                                under NAME elsewhere is closed
//! chatd1 CLUSTER NODE waiting FROM TO AT TEXT    a private message kept for TO's owner (in
//!                                                the cluster's waiting stream, never published)
//! ```
//!
//! NAME, ROOM and CLUSTER follow the client protocol's name rule; NODE is 1 to 32 lowercase
//! letters and digits. [`decode`] checks everything a broken or hostile publisher could get
//! wrong and says what, so that the caller can log it and go on.

use crate::command::{sanitize, valid_name};

/// The first word of every message: the format's version.
pub const MAGIC: &str = "chatd1";
/// Longest message accepted, in bytes.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Longest ban a message may carry (ten years), in seconds.
pub const MAX_BAN_SECS: u64 = 10 * 366 * 24 * 3600;

/// One message between nodes; `node` is its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub node: &'a str,
    pub body: Body<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    Hello,
    Beat,
    Bye,
    Roster(Vec<(&'a str, &'a str)>),
    Joined {
        name: &'a str,
        room: &'a str,
    },
    Left {
        name: &'a str,
        reason: Option<&'a str>,
    },
    Parted {
        name: &'a str,
        room: &'a str,
    },
    Renamed {
        old: &'a str,
        new: &'a str,
    },
    Moved {
        name: &'a str,
        from: &'a str,
        to: &'a str,
    },
    /// A chat line: `late` if it was said while the sender was cut off from the broker (then it
    /// is for history only). Its id is the sender node and `seq`.
    Line {
        room: &'a str,
        at: u64,
        seq: u64,
        text: &'a str,
        late: bool,
    },
    Topic {
        room: &'a str,
        by: &'a str,
        text: &'a str,
    },
    Private {
        from: &'a str,
        to: &'a str,
        text: &'a str,
    },
    /// An operator of the sender's node kicks `target`, a client of another node: the
    /// target's node acts.
    Kick {
        target: &'a str,
        by: &'a str,
        reason: Option<&'a str>,
    },
    /// Likewise, mutes (`on`) or unmutes.
    Mute {
        target: &'a str,
        by: &'a str,
        on: bool,
    },
    /// Likewise, bans the target's address (only its node knows it) for `minutes`.
    Ban {
        target: &'a str,
        by: &'a str,
        minutes: u32,
    },
    /// `ip` is banned for `secs` more seconds: every node refuses it (and closes its clients
    /// from there, operators aside).
    Banned {
        ip: std::net::IpAddr,
        secs: u64,
        by: &'a str,
    },
    /// `ip` is no longer banned.
    Unbanned {
        ip: std::net::IpAddr,
    },
    /// `name` is an account, with this password hash, banned until `until` (Unix seconds; 0:
    /// not banned). Also the value the accounts' bucket keeps under the name.
    Account {
        name: &'a str,
        until: u64,
        hash: &'a str,
    },
    /// `name`'s account is gone (unregistered, or dropped by an operator).
    Unregistered {
        name: &'a str,
    },
    /// `name`'s owner logged in on the sender: whoever holds the name elsewhere is closed.
    LoggedIn {
        name: &'a str,
    },
    /// A private message kept for `to`'s owner, sent at `at` (µs of Unix time).
    Waiting {
        from: &'a str,
        to: &'a str,
        at: u64,
        text: &'a str,
    },
}

/// The longest password hash a message may carry (a PHC string is about 100 bytes).
pub const MAX_HASH: usize = 512;

/// Whether `hash` can be a PHC string: `$` first, then printable ASCII with no spaces.
fn valid_hash(hash: &str) -> bool {
    hash.starts_with('$') && hash.len() <= MAX_HASH && hash.bytes().all(|b| b.is_ascii_graphic())
}

/// A node's id: 1 to 32 lowercase ASCII letters and digits.
pub fn valid_node(node: &str) -> bool {
    (1..=32).contains(&node.len())
        && node
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The message in its text form, for the cluster `cluster`.
pub fn encode(cluster: &str, msg: &Message<'_>) -> Vec<u8> {
    let mut out = format!("{MAGIC} {cluster} {} ", msg.node);
    let mut put = |parts: &[&str]| out.push_str(&parts.join(" "));
    match &msg.body {
        Body::Hello => put(&["hello"]),
        Body::Beat => put(&["beat"]),
        Body::Bye => put(&["bye"]),
        Body::Roster(members) => {
            let mut parts = vec!["roster"];
            for (name, room) in members {
                parts.push(name);
                parts.push(room);
            }
            put(&parts);
        }
        Body::Joined { name, room } => put(&["joined", name, room]),
        Body::Left { name, reason: None } => put(&["left", name]),
        Body::Left {
            name,
            reason: Some(r),
        } => put(&["left", name, r]),
        Body::Parted { name, room } => put(&["parted", name, room]),
        Body::Renamed { old, new } => put(&["renamed", old, new]),
        Body::Moved { name, from, to } => put(&["moved", name, from, to]),
        Body::Line {
            room,
            at,
            seq,
            text,
            late,
        } => put(&[
            if *late { "said" } else { "line" },
            room,
            &at.to_string(),
            &seq.to_string(),
            text,
        ]),
        Body::Topic { room, by, text } => put(&["topic", room, by, text]),
        Body::Private { from, to, text } => put(&["private", from, to, text]),
        Body::Kick {
            target,
            by,
            reason: None,
        } => put(&["kick", target, by]),
        Body::Kick {
            target,
            by,
            reason: Some(r),
        } => put(&["kick", target, by, r]),
        Body::Mute { target, by, on } => put(&[if *on { "mute" } else { "unmute" }, target, by]),
        Body::Ban {
            target,
            by,
            minutes,
        } => put(&["ban", target, by, &minutes.to_string()]),
        Body::Banned { ip, secs, by } => put(&["banned", &ip.to_string(), &secs.to_string(), by]),
        Body::Unbanned { ip } => put(&["unbanned", &ip.to_string()]),
        Body::Account { name, until, hash } => put(&["account", name, &until.to_string(), hash]),
        Body::Unregistered { name } => put(&["unregistered", name]),
        Body::LoggedIn { name } => put(&["loggedin", name]),
        Body::Waiting { from, to, at, text } => put(&["waiting", from, to, &at.to_string(), text]),
    }
    out.into_bytes()
}

/// Why a message was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    TooLong(usize),
    NotUtf8,
    NotChatd,
    /// From another cluster sharing the broker.
    OtherCluster(String),
    BadNode,
    /// An unknown kind, or its fields are wrong.
    Malformed(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooLong(n) => write!(f, "message of {n} bytes, over {MAX_MESSAGE}"),
            WireError::NotUtf8 => f.write_str("not UTF-8"),
            WireError::NotChatd => f.write_str("not a chatd cluster message"),
            WireError::OtherCluster(c) => write!(f, "from another cluster: {c:?}"),
            WireError::BadNode => f.write_str("invalid node id"),
            WireError::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

/// Reads a message meant for the cluster `cluster`.
pub fn decode<'a>(cluster: &str, bytes: &'a [u8]) -> Result<Message<'a>, WireError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(WireError::TooLong(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| WireError::NotUtf8)?;
    let mut head = text.splitn(5, ' ');
    if head.next() != Some(MAGIC) {
        return Err(WireError::NotChatd);
    }
    let from_cluster = head.next().unwrap_or("");
    if from_cluster != cluster {
        return Err(WireError::OtherCluster(
            from_cluster.chars().take(64).collect(),
        ));
    }
    let node = head.next().unwrap_or("");
    if !valid_node(node) {
        return Err(WireError::BadNode);
    }
    let kind = head.next().unwrap_or("");
    let rest = head.next().unwrap_or("");
    let body = body(kind, rest)?;
    Ok(Message { node, body })
}

fn body<'a>(kind: &str, rest: &'a str) -> Result<Body<'a>, WireError> {
    use WireError::Malformed;
    let name = |s: &'a str| {
        if valid_name(s) {
            Ok(s)
        } else {
            Err(Malformed("invalid name or room"))
        }
    };
    // Free text: one line, nothing a terminal would act on, not empty.
    let text = |s: &'a str| {
        if s.is_empty() || s.contains('\n') || s.len() != sanitize(s).len() {
            Err(Malformed("text empty or with control characters"))
        } else {
            Ok(s)
        }
    };
    // The first `n` fields, then the rest (possibly with spaces).
    let fields = |n: usize| -> Result<(Vec<&'a str>, &'a str), WireError> {
        let mut parts = rest.splitn(n + 1, ' ');
        let fixed: Vec<&str> = parts.by_ref().take(n).collect();
        if fixed.len() < n {
            return Err(Malformed("missing fields"));
        }
        Ok((fixed, parts.next().unwrap_or("")))
    };
    let none_left = |tail: &str| {
        if tail.is_empty() {
            Ok(())
        } else {
            Err(Malformed("extra fields"))
        }
    };
    Ok(match kind {
        "hello" | "beat" | "bye" => {
            none_left(rest)?;
            match kind {
                "hello" => Body::Hello,
                "beat" => Body::Beat,
                _ => Body::Bye,
            }
        }
        "roster" => {
            let words: Vec<&str> = if rest.is_empty() {
                Vec::new()
            } else {
                rest.split(' ').collect()
            };
            if !words.len().is_multiple_of(2) {
                return Err(Malformed("a roster of names and rooms"));
            }
            let mut members = Vec::with_capacity(words.len() / 2);
            for pair in words.chunks(2) {
                members.push((name(pair[0])?, name(pair[1])?));
            }
            Body::Roster(members)
        }
        "joined" => {
            let (f, tail) = fields(2)?;
            none_left(tail)?;
            Body::Joined {
                name: name(f[0])?,
                room: name(f[1])?,
            }
        }
        "left" => {
            let (f, tail) = fields(1)?;
            Body::Left {
                name: name(f[0])?,
                reason: if tail.is_empty() {
                    None
                } else {
                    Some(text(tail)?)
                },
            }
        }
        "parted" => {
            let (f, tail) = fields(2)?;
            none_left(tail)?;
            Body::Parted {
                name: name(f[0])?,
                room: name(f[1])?,
            }
        }
        "renamed" => {
            let (f, tail) = fields(2)?;
            none_left(tail)?;
            Body::Renamed {
                old: name(f[0])?,
                new: name(f[1])?,
            }
        }
        "moved" => {
            let (f, tail) = fields(3)?;
            none_left(tail)?;
            Body::Moved {
                name: name(f[0])?,
                from: name(f[1])?,
                to: name(f[2])?,
            }
        }
        "line" | "said" => {
            let (f, tail) = fields(3)?;
            let number = |s: &str| s.parse::<u64>().map_err(|_| Malformed("time or number"));
            Body::Line {
                room: name(f[0])?,
                at: number(f[1])?,
                seq: number(f[2])?,
                text: text(tail)?,
                late: kind == "said",
            }
        }
        "topic" => {
            let (f, tail) = fields(2)?;
            Body::Topic {
                room: name(f[0])?,
                by: name(f[1])?,
                text: text(tail)?,
            }
        }
        "private" => {
            let (f, tail) = fields(2)?;
            Body::Private {
                from: name(f[0])?,
                to: name(f[1])?,
                text: text(tail)?,
            }
        }
        "kick" => {
            let (f, tail) = fields(2)?;
            Body::Kick {
                target: name(f[0])?,
                by: name(f[1])?,
                reason: if tail.is_empty() {
                    None
                } else {
                    Some(text(tail)?)
                },
            }
        }
        "mute" | "unmute" => {
            let (f, tail) = fields(2)?;
            none_left(tail)?;
            Body::Mute {
                target: name(f[0])?,
                by: name(f[1])?,
                on: kind == "mute",
            }
        }
        "ban" => {
            let (f, tail) = fields(3)?;
            none_left(tail)?;
            let minutes = f[2]
                .parse()
                .ok()
                .filter(|m| (1..=MAX_BAN_SECS / 60).contains(&u64::from(*m)))
                .ok_or(Malformed("minutes"))?;
            Body::Ban {
                target: name(f[0])?,
                by: name(f[1])?,
                minutes,
            }
        }
        "banned" => {
            let (f, tail) = fields(3)?;
            none_left(tail)?;
            Body::Banned {
                ip: f[0].parse().map_err(|_| Malformed("address"))?,
                secs: f[1]
                    .parse()
                    .ok()
                    .filter(|s| (1..=MAX_BAN_SECS).contains(s))
                    .ok_or(Malformed("seconds"))?,
                by: name(f[2])?,
            }
        }
        "unbanned" => {
            let (f, tail) = fields(1)?;
            none_left(tail)?;
            Body::Unbanned {
                ip: f[0].parse().map_err(|_| Malformed("address"))?,
            }
        }
        "account" => {
            let (f, tail) = fields(3)?;
            none_left(tail)?;
            let until = f[1].parse().map_err(|_| Malformed("ban's end"))?;
            if !valid_hash(f[2]) {
                return Err(Malformed("password hash"));
            }
            Body::Account {
                name: name(f[0])?,
                until,
                hash: f[2],
            }
        }
        "unregistered" | "loggedin" => {
            let (f, tail) = fields(1)?;
            none_left(tail)?;
            let name = name(f[0])?;
            if kind == "loggedin" {
                Body::LoggedIn { name }
            } else {
                Body::Unregistered { name }
            }
        }
        "waiting" => {
            let (f, tail) = fields(3)?;
            Body::Waiting {
                from: name(f[0])?,
                to: name(f[1])?,
                at: f[2].parse().map_err(|_| Malformed("time"))?,
                text: text(tail)?,
            }
        }
        _ => return Err(Malformed("unknown kind")),
    })
}

/// A chat line as the cluster's stream keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept<'a> {
    pub room: &'a str,
    pub node: &'a str,
    pub at: u64,
    pub seq: u64,
    pub text: &'a str,
}

/// The chat lines among `raw` messages of the cluster `cluster`; the rest, and what does not
/// decode, left out.
pub fn lines<'a>(cluster: &str, raw: &'a [Vec<u8>]) -> Vec<Kept<'a>> {
    raw.iter()
        .filter_map(|bytes| match decode(cluster, bytes) {
            Ok(Message {
                node,
                body:
                    Body::Line {
                        room,
                        at,
                        seq,
                        text,
                        ..
                    },
            }) => Some(Kept {
                room,
                node,
                at,
                seq,
                text,
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
