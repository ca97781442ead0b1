//! The lines the hub says about people, each built by one function: the hub's own events and
//! what other nodes report go through the same words. The client's parser
//! (`client/server_line.rs`) reads these exact texts, so they change here or nowhere.
//!
//! Each function builds one shared [`Line`] (`\n` included) in a work buffer the hub keeps, so a
//! notice for a whole room is formatted once.

use super::Line;

/// Builds notices in one reusable work buffer.
#[derive(Default)]
pub struct Notices {
    scratch: Vec<u8>,
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

    /// `<NAME> TEXT`: a chat line.
    pub fn said(&mut self, name: &str, text: &str) -> Line {
        self.build(&[b"<", name.as_bytes(), b"> ", text.as_bytes()])
    }

    /// `* NAME TEXT`: a `/me`.
    pub fn me(&mut self, name: &str, text: &str) -> Line {
        self.build(&[b"* ", name.as_bytes(), b" ", text.as_bytes()])
    }

    /// `*FROM* TEXT`: a private message.
    pub fn private(&mut self, from: &str, text: &str) -> Line {
        self.build(&[b"*", from.as_bytes(), b"* ", text.as_bytes()])
    }

    /// `* NAME joined`: one client of another node.
    pub fn joined(&mut self, name: &str) -> Line {
        self.build(&[b"* ", name.as_bytes(), b" joined"])
    }

    /// `* NAME left` or `* NAME left (REASON)`.
    pub fn left(&mut self, name: &str, reason: Option<&str>) -> Line {
        match reason {
            Some(r) => self.build(&[b"* ", name.as_bytes(), b" left (", r.as_bytes(), b")"]),
            None => self.build(&[b"* ", name.as_bytes(), b" left"]),
        }
    }

    /// `* NAME WHAT`, for what an operator did to someone (`was kicked by ana`).
    pub fn was(&mut self, name: &str, what: &str) -> Line {
        self.me(name, what)
    }

    /// `* OLD is now NEW`.
    pub fn renamed(&mut self, old: &str, new: &str) -> Line {
        self.build(&[b"* ", old.as_bytes(), b" is now ", new.as_bytes()])
    }

    /// `* you are now NEW`, to whoever was renamed.
    pub fn you_are_now(&mut self, new: &str) -> Line {
        self.build(&[b"* you are now ", new.as_bytes()])
    }

    /// `* NAME went to #ROOM`, to the room it left.
    pub fn went_to(&mut self, name: &str, room: &str) -> Line {
        self.build(&[b"* ", name.as_bytes(), b" went to #", room.as_bytes()])
    }

    /// `* NAME came from #ROOM`, to the room it entered.
    pub fn came_from(&mut self, name: &str, room: &str) -> Line {
        self.build(&[b"* ", name.as_bytes(), b" came from #", room.as_bytes()])
    }

    /// `* NAME set the topic of #ROOM: TEXT`.
    pub fn topic_set(&mut self, by: &str, room: &str, text: &str) -> Line {
        self.build(&[
            b"* ",
            by.as_bytes(),
            b" set the topic of #",
            room.as_bytes(),
            b": ",
            text.as_bytes(),
        ])
    }

    /// `! REASON`, to a client being dropped (`! flooding`).
    pub fn dropped(&mut self, reason: &str) -> Line {
        self.build(&[b"! ", reason.as_bytes()])
    }

    /// `* TEXT`: the help text, or any notice given whole.
    pub fn star(&mut self, text: &str) -> Line {
        self.build(&[b"* ", text.as_bytes()])
    }

    /// A line as another node (or the cluster's history) has it already, e.g. `<ana> hi`.
    pub fn as_is(&mut self, text: &str) -> Line {
        self.build(&[text.as_bytes()])
    }

    /// `* a, b and 3 more joined`: the clients who joined in one turn, at most `shown` names.
    pub fn joined_many<'a>(
        &mut self,
        names: impl ExactSizeIterator<Item = &'a str>,
        shown: usize,
    ) -> Line {
        let total = names.len();
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(b"* ");
        for (i, name) in names.take(shown).enumerate() {
            if i > 0 {
                s.extend_from_slice(b", ");
            }
            s.extend_from_slice(name.as_bytes());
        }
        if total > shown {
            s.extend_from_slice(format!(" and {} more", total - shown).as_bytes());
        }
        s.extend_from_slice(b" joined\n");
        Line::from(&s[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: Line) -> String {
        String::from_utf8(line.to_vec()).unwrap()
    }

    #[test]
    fn each_notice_has_its_words() {
        let mut n = Notices::default();
        assert_eq!(text(n.said("ana", "hi")), "<ana> hi\n");
        assert_eq!(text(n.me("ana", "waves")), "* ana waves\n");
        assert_eq!(text(n.private("ana", "psst")), "*ana* psst\n");
        assert_eq!(text(n.joined("bob")), "* bob joined\n");
        assert_eq!(text(n.left("bob", None)), "* bob left\n");
        assert_eq!(
            text(n.left("bob", Some("too slow"))),
            "* bob left (too slow)\n"
        );
        assert_eq!(text(n.renamed("a", "b")), "* a is now b\n");
        assert_eq!(text(n.you_are_now("b")), "* you are now b\n");
        assert_eq!(text(n.went_to("a", "dev")), "* a went to #dev\n");
        assert_eq!(text(n.came_from("a", "lobby")), "* a came from #lobby\n");
        assert_eq!(
            text(n.topic_set("a", "dev", "x y")),
            "* a set the topic of #dev: x y\n"
        );
        assert_eq!(text(n.dropped("flooding")), "! flooding\n");
        assert_eq!(text(n.as_is("<a> b")), "<a> b\n");
    }

    #[test]
    fn many_joins_name_the_first_few() {
        let mut n = Notices::default();
        let names = ["a", "b", "c", "d"];
        assert_eq!(
            text(n.joined_many(names.iter().copied(), 20)),
            "* a, b, c, d joined\n"
        );
        assert_eq!(
            text(n.joined_many(names.iter().copied(), 2)),
            "* a, b and 2 more joined\n"
        );
    }
}
