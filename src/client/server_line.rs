//! What a line from chatd means, for clients: the server-to-client grammar of the README, parsed.
//! Pure; used by the TUI to keep its room, topic and online list current.

use crate::command::valid_name;

#[derive(Debug, PartialEq)]
pub enum ServerLine<'a> {
    Chat {
        from: &'a str,
        text: &'a str,
    },
    Private {
        from: &'a str,
        text: &'a str,
    },
    Welcome {
        name: &'a str,
        online: usize,
    },
    /// Names announced in one notice; `more` were left unnamed (`and N more`).
    Joined {
        names: Vec<&'a str>,
        more: usize,
    },
    Left {
        name: &'a str,
        reason: Option<&'a str>,
    },
    Renamed {
        old: &'a str,
        new: &'a str,
    },
    YouAre(&'a str),
    /// `/who`: the members of a room.
    Online {
        room: &'a str,
        names: Vec<&'a str>,
    },
    /// This client is now in `room`, with `here` members.
    InRoom {
        room: &'a str,
        here: usize,
    },
    /// Someone left this client's room for another.
    Went {
        name: &'a str,
        room: &'a str,
    },
    /// Someone came into this client's room from another.
    Came {
        name: &'a str,
        room: &'a str,
    },
    /// The topic of a room (shown on entry, or asked for).
    Topic {
        room: &'a str,
        topic: &'a str,
    },
    TopicSet {
        by: &'a str,
        room: &'a str,
        topic: &'a str,
    },
    NoTopic(&'a str),
    /// The room's last lines follow, up to [`ServerLine::HistoryEnd`].
    HistoryStart {
        room: &'a str,
        lines: usize,
    },
    HistoryEnd,
    /// An operator removed someone: `* NAME was kicked by OP (REASON)` or
    /// `* NAME was banned by OP (N minutes)`; `how` is the rest after `was `.
    Removed {
        name: &'a str,
        how: &'a str,
    },
    /// The server wants its password first (`/pass`).
    PasswordRequired,
    /// This client is now an operator.
    Oper,
    /// This client is logged in to the account `NAME` (and named so).
    LoggedIn(&'a str),
    /// `/limits`: lines a second a client may send, and at once (`rate` 0: no limit).
    Limits {
        rate: f64,
        burst: f64,
    },
    /// Any other `* ` line (a `/me` action, help, bye, shutdown).
    Notice(&'a str),
    Error(&'a str),
    /// Not in chatd's grammar.
    Other(&'a str),
}

pub fn parse(line: &str) -> ServerLine<'_> {
    if let Some(rest) = line.strip_prefix('<')
        && let Some((from, text)) = rest.split_once("> ")
        && valid_name(from)
    {
        return ServerLine::Chat { from, text };
    }
    if let Some(rest) = line.strip_prefix('*')
        && !rest.starts_with(' ')
        && let Some((from, text)) = rest.split_once("* ")
        && valid_name(from)
    {
        return ServerLine::Private { from, text };
    }
    if let Some(err) = line.strip_prefix("! ") {
        return ServerLine::Error(err);
    }
    let Some(notice) = line.strip_prefix("* ") else {
        return ServerLine::Other(line);
    };
    notice_kind(notice).unwrap_or(ServerLine::Notice(notice))
}

/// `#room` to `room`, if it is a valid room name.
fn room(text: &str) -> Option<&str> {
    text.strip_prefix('#').filter(|r| valid_name(r))
}

fn notice_kind(n: &str) -> Option<ServerLine<'_>> {
    if n.starts_with("password required") {
        return Some(ServerLine::PasswordRequired);
    }
    if n == "you are now an operator" {
        return Some(ServerLine::Oper);
    }
    if let Some(name) = n.strip_prefix("logged in as ").filter(|n| valid_name(n)) {
        return Some(ServerLine::LoggedIn(name));
    }
    if let Some(rest) = n.strip_prefix("limits: ") {
        if rest.starts_with("no line rate") {
            return Some(ServerLine::Limits {
                rate: 0.0,
                burst: 0.0,
            });
        }
        let (rate, rest) = rest.split_once(" lines a second after ")?;
        let (burst, _) = rest.split_once(" at once")?;
        let (rate, burst): (f64, f64) = (rate.parse().ok()?, burst.parse().ok()?);
        return (rate.is_finite() && burst.is_finite() && rate >= 0.0)
            .then_some(ServerLine::Limits { rate, burst });
    }
    if let Some((name, how)) = n.split_once(" was ")
        && valid_name(name)
        && (how.starts_with("kicked by ") || how.starts_with("banned by "))
    {
        return Some(ServerLine::Removed { name, how });
    }
    // Room notices first: their free text (a topic) may contain words the others look for.
    if let Some(rest) = n.strip_prefix("you are in ") {
        let (r, here) = rest.split_once(" (")?;
        let here = here.strip_suffix(" here)")?.parse().ok()?;
        return Some(ServerLine::InRoom {
            room: room(r)?,
            here,
        });
    }
    if let Some(rest) = n.strip_prefix("history of ") {
        let (r, count) = rest.split_once(": ")?;
        let lines = count.split(' ').next()?.parse().ok()?;
        return Some(ServerLine::HistoryStart {
            room: room(r)?,
            lines,
        });
    }
    if n == "end of history" {
        return Some(ServerLine::HistoryEnd);
    }
    if let Some(rest) = n.strip_prefix("topic of ") {
        let (r, topic) = rest.split_once(": ")?;
        return Some(ServerLine::Topic {
            room: room(r)?,
            topic,
        });
    }
    if let Some((by, rest)) = n.split_once(" set the topic of ")
        && valid_name(by)
    {
        let (r, topic) = rest.split_once(": ")?;
        return Some(ServerLine::TopicSet {
            by,
            room: room(r)?,
            topic,
        });
    }
    if let Some(r) = n.strip_suffix(" has no topic") {
        return Some(ServerLine::NoTopic(room(r)?));
    }
    if let Some(rest) = n.strip_prefix("online in ") {
        let (r, rest) = rest.split_once(" (")?;
        let (_, list) = rest.split_once("): ")?;
        let names: Vec<&str> = list.split(", ").filter(|s| !s.is_empty()).collect();
        return names
            .iter()
            .all(|n| valid_name(n))
            .then_some(ServerLine::Online {
                room: room(r)?,
                names,
            });
    }
    for (word, went) in [(" went to ", true), (" came from ", false)] {
        if let Some((name, r)) = n.split_once(word)
            && valid_name(name)
            && let Some(room) = room(r)
        {
            return Some(if went {
                ServerLine::Went { name, room }
            } else {
                ServerLine::Came { name, room }
            });
        }
    }
    if let Some(rest) = n.strip_prefix("welcome ") {
        let (name, rest) = rest.split_once(", ")?;
        let online = rest.split(' ').next()?.parse().ok()?;
        return valid_name(name).then_some(ServerLine::Welcome { name, online });
    }
    if let Some(name) = n.strip_prefix("you are now ") {
        return valid_name(name).then_some(ServerLine::YouAre(name));
    }
    if let Some(list) = n.strip_suffix(" joined") {
        let (list, more) = match list.rsplit_once(" and ") {
            Some((l, m)) => (l, m.strip_suffix(" more")?.parse().ok()?),
            None => (list, 0),
        };
        let names: Vec<&str> = list.split(", ").collect();
        return names
            .iter()
            .all(|n| valid_name(n))
            .then_some(ServerLine::Joined { names, more });
    }
    if let Some((name, rest)) = n.split_once(" left") {
        let reason = match rest {
            "" => None,
            r => Some(r.strip_prefix(" (")?.strip_suffix(')')?),
        };
        return valid_name(name).then_some(ServerLine::Left { name, reason });
    }
    if let Some((old, new)) = n.split_once(" is now ") {
        return (valid_name(old) && valid_name(new)).then_some(ServerLine::Renamed { old, new });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_line() {
        use ServerLine::*;
        assert_eq!(
            parse("* password required: send /pass PASSWORD"),
            PasswordRequired
        );
        assert_eq!(parse("* you are now an operator"), Oper);
        assert_eq!(
            parse("* limits: 2.5 lines a second after 100 at once; lines up to 4096 bytes"),
            Limits {
                rate: 2.5,
                burst: 100.0
            }
        );
        assert_eq!(
            parse("* limits: no line rate; lines up to 4096 bytes"),
            Limits {
                rate: 0.0,
                burst: 0.0
            }
        );
        assert_eq!(
            parse("* limits: NaN lines a second after 1 at once"),
            Notice("limits: NaN lines a second after 1 at once")
        );
        assert_eq!(
            parse("* bob was kicked by ann (spam)"),
            Removed {
                name: "bob",
                how: "kicked by ann (spam)"
            }
        );
        assert_eq!(
            parse("* bob was banned by ann (60 minutes)"),
            Removed {
                name: "bob",
                how: "banned by ann (60 minutes)"
            }
        );
        assert_eq!(parse("* bob was here"), Notice("bob was here"));
        assert_eq!(
            parse("<bob> hi> there"),
            Chat {
                from: "bob",
                text: "hi> there"
            }
        );
        assert_eq!(
            parse("*ann* psst"),
            Private {
                from: "ann",
                text: "psst"
            }
        );
        assert_eq!(
            parse("* welcome guest3, 3 online; type /help for commands"),
            Welcome {
                name: "guest3",
                online: 3
            }
        );
        assert_eq!(
            parse("* a, b joined"),
            Joined {
                names: vec!["a", "b"],
                more: 0
            }
        );
        assert_eq!(
            parse("* a and 7 more joined"),
            Joined {
                names: vec!["a"],
                more: 7
            }
        );
        assert_eq!(
            parse("* bob left"),
            Left {
                name: "bob",
                reason: None
            }
        );
        assert_eq!(
            parse("* bob left (gone (far))"),
            Left {
                name: "bob",
                reason: Some("gone (far)")
            }
        );
        assert_eq!(
            parse("* bob is now Rob"),
            Renamed {
                old: "bob",
                new: "Rob"
            }
        );
        assert_eq!(parse("* you are now Rob"), YouAre("Rob"));
        assert_eq!(
            parse("* online in #lobby (2): a, b"),
            Online {
                room: "lobby",
                names: vec!["a", "b"]
            }
        );
        assert_eq!(
            parse("* online in #dev (0): "),
            Online {
                room: "dev",
                names: vec![]
            }
        );
        assert_eq!(
            parse("* you are in #dev (3 here)"),
            InRoom {
                room: "dev",
                here: 3
            }
        );
        assert_eq!(
            parse("* bob went to #dev"),
            Went {
                name: "bob",
                room: "dev"
            }
        );
        assert_eq!(
            parse("* bob came from #lobby"),
            Came {
                name: "bob",
                room: "lobby"
            }
        );
        assert_eq!(
            parse("* topic of #dev: ship it: friday, and I left"),
            Topic {
                room: "dev",
                topic: "ship it: friday, and I left"
            }
        );
        assert_eq!(
            parse("* ann set the topic of #dev: bob left (early) is now late"),
            TopicSet {
                by: "ann",
                room: "dev",
                topic: "bob left (early) is now late"
            }
        );
        assert_eq!(parse("* #dev has no topic"), NoTopic("dev"));
        assert_eq!(
            parse("* history of #lobby: 2 lines"),
            HistoryStart {
                room: "lobby",
                lines: 2
            }
        );
        assert_eq!(
            parse("* history of #lobby: 1 line"),
            HistoryStart {
                room: "lobby",
                lines: 1
            }
        );
        assert_eq!(parse("* end of history"), HistoryEnd);
        assert_eq!(
            parse("* bob waves at everyone"),
            Notice("bob waves at everyone")
        );
        assert_eq!(
            parse("* server shutting down"),
            Notice("server shutting down")
        );
        assert_eq!(parse("! name taken: x"), Error("name taken: x"));
        assert_eq!(parse("hello"), Other("hello"));
        assert_eq!(parse("<not a name> x"), Other("<not a name> x"));
    }
}
