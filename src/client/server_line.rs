//! What a line from chatd means, for clients: the server-to-client grammar of the README, parsed.
//! Pure; used by the TUI to keep its online list current.

use crate::command::valid_name;

#[derive(Debug, PartialEq, Eq)]
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
    Online(Vec<&'a str>),
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

fn notice_kind(n: &str) -> Option<ServerLine<'_>> {
    if let Some(rest) = n.strip_prefix("welcome ") {
        let (name, rest) = rest.split_once(", ")?;
        let online = rest.split(' ').next()?.parse().ok()?;
        return valid_name(name).then_some(ServerLine::Welcome { name, online });
    }
    if let Some(name) = n.strip_prefix("you are now ") {
        return valid_name(name).then_some(ServerLine::YouAre(name));
    }
    if let Some(rest) = n.strip_prefix("online (") {
        let (_, list) = rest.split_once("): ")?;
        let names: Vec<&str> = list.split(", ").filter(|s| !s.is_empty()).collect();
        return names
            .iter()
            .all(|n| valid_name(n))
            .then_some(ServerLine::Online(names));
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
        assert_eq!(parse("* online (2): a, b"), Online(vec!["a", "b"]));
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
