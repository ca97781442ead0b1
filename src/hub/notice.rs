//! The lines the hub says about people, each built by one function: the hub's own events and
//! what other nodes report go through the same words. The client's parser
//! (`client/server_line.rs`) reads these exact texts, so they change here or nowhere.
//!
//! Each function builds one shared [`Msg`]: the text line (`\n` included), and, while any
//! client here asked for JSON (`/format json`), the same event as a JSON object
//! ([`super::json`]), so that a notice for a whole room is formatted once in each form.

use super::Line;
use super::json::Obj;

/// What the hub says to a client, in both forms: its text line, and its JSON event when any
/// client asked for JSON (else `None`: no one reads it).
#[derive(Debug, Clone)]
pub struct Msg {
    pub text: Line,
    pub json: Option<Line>,
}

impl Msg {
    /// The form a client asked for.
    pub fn form(&self, json: bool) -> &Line {
        match (&self.json, json) {
            (Some(j), true) => j,
            _ => &self.text,
        }
    }
}

/// A chat line's id: its node and its number there (the number alone on a single node).
pub fn line_id(node: &str, seq: u64) -> String {
    if node.is_empty() {
        seq.to_string()
    } else {
        format!("{node}-{seq}")
    }
}

/// A chat line's kind, sender and text, read back from its text form (`<ana> hi`, `* ana
/// waves`): how a line from another node, or from history, gets its JSON form. Anything else
/// (a broken peer's) is a chat line from no one.
pub fn parse_said(text: &str) -> (&'static str, &str, &str) {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if let Some(rest) = text.strip_prefix('<')
        && let Some((from, said)) = rest.split_once("> ")
    {
        return ("chat", from, said);
    }
    if let Some(rest) = text.strip_prefix("* ")
        && let Some((from, said)) = rest.split_once(' ')
    {
        return ("me", from, said);
    }
    ("chat", "", text)
}

/// A chat line as a JSON object (without its newline): for the live event and for history.
pub fn said_json(room: &str, text: &str, at: u64, id: &str) -> String {
    let (kind, from, said) = parse_said(text);
    Obj::new(kind, at)
        .str("room", room)
        .str("from", from)
        .str("text", said)
        .str("id", id)
        .done()
}

/// Builds notices in one reusable work buffer.
#[derive(Default)]
pub struct Notices {
    scratch: Vec<u8>,
    /// Build the JSON forms too (some client here reads JSON).
    pub json: bool,
    /// The time of the events being told, in µs of Unix time (set by the hub).
    pub now: u64,
}

impl Notices {
    fn build(&mut self, parts: &[&[u8]]) -> Line {
        let s = &mut self.scratch;
        s.clear();
        for p in parts {
            s.extend_from_slice(p);
        }
        s.push(b'\n');
        Line::from(&s[..])
    }

    /// A message whose JSON form `json` makes, if any client reads JSON.
    fn msg(&mut self, text: Line, json: impl FnOnce(Obj) -> Obj, kind: &str) -> Msg {
        let json = self
            .json
            .then(|| Line::from(json(Obj::new(kind, self.now)).line().as_bytes()));
        Msg { text, json }
    }

    /// `<NAME> TEXT` (a chat line) or `* NAME TEXT` (a `/me`), said in `room`; `id` makes
    /// its id, when a JSON form is wanted.
    pub fn said(
        &mut self,
        me: bool,
        room: &str,
        name: &str,
        text: &str,
        id: impl FnOnce() -> String,
    ) -> Msg {
        let line = if me {
            self.build(&[b"* ", name.as_bytes(), b" ", text.as_bytes()])
        } else {
            self.build(&[b"<", name.as_bytes(), b"> ", text.as_bytes()])
        };
        if !self.json {
            return Msg {
                text: line,
                json: None,
            };
        }
        self.said_line(room, line, self.now, &id())
    }

    /// A chat line as it is kept (`line`, its text form), said at `at` with this id.
    pub fn said_line(&mut self, room: &str, line: Line, at: u64, id: &str) -> Msg {
        let json = self.json.then(|| {
            let text = std::str::from_utf8(&line).unwrap_or_default();
            let mut j = said_json(room, text, at, id);
            j.push('\n');
            Line::from(j.as_bytes())
        });
        Msg { text: line, json }
    }

    /// `*FROM* TEXT`: a private message to `to`.
    pub fn private(&mut self, from: &str, to: &str, text: &str) -> Msg {
        let line = self.build(&[b"*", from.as_bytes(), b"* ", text.as_bytes()]);
        self.msg(
            line,
            |o| o.str("from", from).str("to", to).str("text", text),
            "private",
        )
    }

    /// A private message as its sender sees it again (`/echo on`): `-> *TO* TEXT`; in JSON
    /// the `private` event its recipient got.
    pub fn private_sent(&mut self, from: &str, to: &str, text: &str) -> Msg {
        let line = self.build(&[b"-> *", to.as_bytes(), b"* ", text.as_bytes()]);
        self.msg(
            line,
            |o| o.str("from", from).str("to", to).str("text", text),
            "private",
        )
    }

    /// A private message that waited for its recipient's login: `[TIME] *FROM* TEXT`, said
    /// at `at` (JSON: a `private` event of that time, `offline: true`).
    pub fn waited(&mut self, from: &str, to: &str, text: &str, at: u64) -> Msg {
        let mut when = String::new();
        super::json::time(&mut when, at);
        // 2026-12-06T05:00:00.000Z, shown as 2026-12-06 05:00 UTC
        let shown = format!("{} {} UTC", &when[..10], &when[11..16]);
        let line = self.build(&[
            b"[",
            shown.as_bytes(),
            b"] *",
            from.as_bytes(),
            b"* ",
            text.as_bytes(),
        ]);
        let json = self.json.then(|| {
            let obj = Obj::new("private", at)
                .str("from", from)
                .str("to", to)
                .str("text", text)
                .bool("offline", true);
            Line::from(obj.line().as_bytes())
        });
        Msg { text: line, json }
    }

    /// `* NAME joined`: one client, of another node or one that adds `room` to its rooms.
    pub fn joined(&mut self, room: &str, name: &str) -> Msg {
        let line = self.build(&[b"* ", name.as_bytes(), b" joined"]);
        self.msg(
            line,
            |o| o.str("room", room).strs("names", [name]).num("more", 0),
            "join",
        )
    }

    /// `* NAME left` or `* NAME left (REASON)`, in `room`.
    pub fn left(&mut self, room: &str, name: &str, reason: Option<&str>) -> Msg {
        let line = match reason {
            Some(r) => self.build(&[b"* ", name.as_bytes(), b" left (", r.as_bytes(), b")"]),
            None => self.build(&[b"* ", name.as_bytes(), b" left"]),
        };
        self.msg(
            line,
            |o| o.str("room", room).str("name", name).opt("reason", reason),
            "leave",
        )
    }

    /// `* NAME WHAT`, for what an operator did to someone who is gone for it (`was kicked by
    /// ana`); `why` is the reason of its leaving (`kicked by ana`), `by` the operator (in
    /// JSON only: what tells it from a `/quit` of the same words).
    pub fn was(&mut self, room: &str, name: &str, what: &str, why: &str, by: &str) -> Msg {
        let line = self.build(&[b"* ", name.as_bytes(), b" ", what.as_bytes()]);
        self.msg(
            line,
            |o| {
                o.str("room", room)
                    .str("name", name)
                    .str("reason", why)
                    .str("by", by)
            },
            "leave",
        )
    }

    /// `* OLD is now NEW`, told in `room` (each room the client is in hears it).
    pub fn renamed(&mut self, room: &str, old: &str, new: &str) -> Msg {
        let line = self.build(&[b"* ", old.as_bytes(), b" is now ", new.as_bytes()]);
        self.msg(
            line,
            |o| o.str("room", room).str("old", old).str("new", new),
            "rename",
        )
    }

    /// `* you are now NEW`, to whoever was renamed.
    pub fn you_are_now(&mut self, old: &str, new: &str) -> Msg {
        let line = self.build(&[b"* you are now ", new.as_bytes()]);
        self.msg(
            line,
            |o| o.str("old", old).str("new", new).bool("you", true),
            "rename",
        )
    }

    /// `* NAME went to #TO`, to the room it left; and `* NAME came from #FROM`, to the one it
    /// entered: in JSON a `move` event for each, `room` the room it is told in (a client in
    /// both hears it in each).
    pub fn moved(&mut self, name: &str, from: &str, to: &str) -> (Msg, Msg) {
        let went = self.build(&[b"* ", name.as_bytes(), b" went to #", to.as_bytes()]);
        let came = self.build(&[b"* ", name.as_bytes(), b" came from #", from.as_bytes()]);
        fn event<'a>(
            room: &'a str,
            name: &'a str,
            from: &'a str,
            to: &'a str,
        ) -> impl FnOnce(Obj) -> Obj + 'a {
            move |o: Obj| {
                o.str("room", room)
                    .str("name", name)
                    .str("from", from)
                    .str("to", to)
            }
        }
        let went = self.msg(went, event(from, name, from, to), "move");
        let came = self.msg(came, event(to, name, from, to), "move");
        (went, came)
    }

    /// `* NAME set the topic of #ROOM: TEXT`.
    pub fn topic_set(&mut self, by: &str, room: &str, text: &str) -> Msg {
        let line = self.build(&[
            b"* ",
            by.as_bytes(),
            b" set the topic of #",
            room.as_bytes(),
            b": ",
            text.as_bytes(),
        ]);
        self.msg(
            line,
            |o| {
                o.str("room", room)
                    .opt("by", Some(by))
                    .opt("text", Some(text))
            },
            "topic",
        )
    }

    /// `! TEXT`: an error, `code` its kind for programs (`name_taken`).
    pub fn error(&mut self, code: &str, text: &str) -> Msg {
        let line = self.build(&[b"! ", text.as_bytes()]);
        self.msg(line, |o| o.str("code", code).str("text", text), "error")
    }

    /// `* TEXT`: a notice with nothing but its words, `code` its kind for programs.
    pub fn notice(&mut self, code: &str, text: &str) -> Msg {
        let line = self.build(&[b"* ", text.as_bytes()]);
        self.msg(line, |o| o.str("code", code).str("text", text), "notice")
    }

    /// Any event: its text line whole (`* you are in #dev (2 here)`), and its JSON fields.
    pub fn event(&mut self, kind: &str, text: &str, json: impl FnOnce(Obj) -> Obj) -> Msg {
        let line = self.build(&[text.as_bytes()]);
        self.msg(line, json, kind)
    }

    /// A line as another node (or the cluster's history) has it already, e.g. `<ana> hi`.
    pub fn as_is(&mut self, text: &str) -> Line {
        self.build(&[text.as_bytes()])
    }

    /// `* a, b and 3 more joined`: the clients who joined `room` in one turn, at most `shown`
    /// names (in JSON too, with `more`: a storm of joins costs every member a bounded line,
    /// and a program that keeps a roster asks `/who` when `more` is not 0).
    pub fn joined_many<'a>(
        &mut self,
        room: &str,
        names: impl ExactSizeIterator<Item = &'a str> + Clone,
        shown: usize,
    ) -> Msg {
        let total = names.len();
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(b"* ");
        for (i, name) in names.clone().take(shown).enumerate() {
            if i > 0 {
                s.extend_from_slice(b", ");
            }
            s.extend_from_slice(name.as_bytes());
        }
        if total > shown {
            s.extend_from_slice(format!(" and {} more", total - shown).as_bytes());
        }
        s.extend_from_slice(b" joined\n");
        let line = Line::from(&s[..]);
        let more = total.saturating_sub(shown) as u64;
        self.msg(
            line,
            |o| {
                o.str("room", room)
                    .strs("names", names.take(shown))
                    .num("more", more)
            },
            "join",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(msg: Msg) -> String {
        String::from_utf8(msg.text.to_vec()).unwrap()
    }

    fn json(msg: Msg) -> String {
        let json = String::from_utf8(msg.json.expect("a JSON form").to_vec()).unwrap();
        // Every event is one line of one object with a type and a time.
        assert!(
            json.ends_with("}\n") && json.matches('\n').count() == 1,
            "{json}"
        );
        assert!(json.starts_with("{\"type\":\""), "{json}");
        json.replace(",\"time\":\"1970-01-01T00:00:00.000Z\"", "")
    }

    #[test]
    fn each_notice_has_its_words() {
        let mut n = Notices::default();
        assert_eq!(
            text(n.said(false, "r", "ana", "hi", || "1".into())),
            "<ana> hi\n"
        );
        assert_eq!(
            text(n.said(true, "r", "ana", "waves", || "2".into())),
            "* ana waves\n"
        );
        assert_eq!(text(n.private("ana", "bob", "psst")), "*ana* psst\n");
        assert_eq!(text(n.joined("r", "bob")), "* bob joined\n");
        assert_eq!(text(n.left("r", "bob", None)), "* bob left\n");
        assert_eq!(
            text(n.left("r", "bob", Some("too slow"))),
            "* bob left (too slow)\n"
        );
        assert_eq!(text(n.renamed("r", "a", "b")), "* a is now b\n");
        assert_eq!(text(n.you_are_now("a", "b")), "* you are now b\n");
        let (went, came) = n.moved("a", "lobby", "dev");
        assert_eq!(text(went), "* a went to #dev\n");
        assert_eq!(text(came), "* a came from #lobby\n");
        assert_eq!(
            text(n.topic_set("a", "dev", "x y")),
            "* a set the topic of #dev: x y\n"
        );
        assert_eq!(text(n.error("flooding", "flooding")), "! flooding\n");
        assert_eq!(text(n.notice("help", "commands")), "* commands\n");
        assert_eq!(&n.as_is("<a> b")[..], b"<a> b\n");
        assert!(
            n.said(false, "r", "a", "b", || "1".into()).json.is_none(),
            "no one reads JSON"
        );
    }

    #[test]
    fn each_notice_has_its_event() {
        let mut n = Notices {
            json: true,
            ..Notices::default()
        };
        assert_eq!(
            json(n.said(false, "lobby", "ana", "hi \"x\"", || "n1-7".into())),
            r#"{"type":"chat","room":"lobby","from":"ana","text":"hi \"x\"","id":"n1-7"}"#
                .to_string()
                + "\n"
        );
        assert!(
            json(n.said(true, "lobby", "ana", "left", || "8".into()))
                .starts_with(r#"{"type":"me","room":"lobby","from":"ana","text":"left""#)
        );
        assert!(json(n.private("ana", "bob", "psst")).contains(r#""from":"ana","to":"bob""#));
        assert!(json(n.joined("dev", "bob")).contains(r#""room":"dev","names":["bob"]"#));
        assert!(json(n.left("dev", "bob", None)).contains(r#""name":"bob","reason":null"#));
        assert!(
            json(n.was("dev", "bob", "was kicked by ana", "kicked by ana", "ana")).starts_with(
                r#"{"type":"leave","room":"dev","name":"bob","reason":"kicked by ana""#
            )
        );
        assert!(json(n.you_are_now("a", "b")).contains(r#""old":"a","new":"b","you":true"#));
        let (went, came) = n.moved("a", "lobby", "dev");
        assert!(json(went).contains(r#""room":"lobby","name":"a","from":"lobby","to":"dev""#));
        assert!(json(came).contains(r#""room":"dev","name":"a""#));
        assert!(json(n.error("name_taken", "name taken: x")).contains(r#""code":"name_taken""#));
        let names = ["a", "b", "c"];
        let many = json(n.joined_many("lobby", names.iter().copied(), 1));
        assert!(many.contains(r#""names":["a"],"more":2"#), "{many}");
        let all = json(n.joined_many("lobby", names.iter().copied(), 20));
        assert!(all.contains(r#""names":["a","b","c"],"more":0"#), "{all}");
    }

    #[test]
    fn a_kept_line_reads_back_as_its_kind() {
        assert_eq!(parse_said("<ana> hi there\n"), ("chat", "ana", "hi there"));
        assert_eq!(parse_said("* ana waves"), ("me", "ana", "waves"));
        assert_eq!(parse_said("garbage"), ("chat", "", "garbage"));
        assert_eq!(line_id("", 4), "4");
        assert_eq!(line_id("n1", 4), "n1-4");
    }

    #[test]
    fn many_joins_name_the_first_few() {
        let mut n = Notices::default();
        let names = ["a", "b", "c", "d"];
        assert_eq!(
            text(n.joined_many("lobby", names.iter().copied(), 20)),
            "* a, b, c, d joined\n"
        );
        assert_eq!(
            text(n.joined_many("lobby", names.iter().copied(), 2)),
            "* a, b and 2 more joined\n"
        );
    }
}
