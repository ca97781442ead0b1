//! One IRC message, parsed from a client's line and written for one: IRCv3 tags
//! (`@key=value;key2 `), an optional source (`:nick!user@host `), a command and up to 15
//! parameters, the last of which may hold spaces (`:trailing words`). Pure; it borrows from
//! the line it parses, and a tag value is unescaped only when it has escapes.
//!
//! Limits: the part after the tags is at most [`MAX_LINE`] bytes with its CR LF (RFC 1459's
//! 512), and a client's tag data at most [`MAX_CLIENT_TAGS`] bytes (IRCv3: 4094; the tags
//! section a server sends may reach [`MAX_TAGS`], 8191, with its `@` and space). A line that
//! breaks them, holds a NUL or a CR anywhere but at its end, is not UTF-8, or has no command,
//! is refused with its reason, so that the listener can answer it as IRC servers do.

use std::borrow::Cow;

/// The longest message after its tags, CR LF included.
pub const MAX_LINE: usize = 512;
/// The longest tag data a client may send (the section without its `@` and space).
pub const MAX_CLIENT_TAGS: usize = 4094;
/// The longest tags section a server may send, its `@` and space included.
pub const MAX_TAGS: usize = 8191;
/// Most parameters a message has.
pub const MAX_PARAMS: usize = 15;

/// A parsed message, borrowing from its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Each tag's key and value (`""` for a tag without one), unescaped, in order.
    pub tags: Vec<(&'a str, Cow<'a, str>)>,
    /// The source, without its `:`.
    pub source: Option<&'a str>,
    /// As sent; commands are matched ignoring ASCII case.
    pub command: &'a str,
    pub params: Vec<&'a str>,
}

impl Message<'_> {
    /// The value of tag `key`, if the message has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Whether the command is `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.command.eq_ignore_ascii_case(name)
    }
}

/// Why a line is not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Nothing but blanks (ignored, as IRC servers do).
    Empty,
    /// Longer than [`MAX_LINE`] after its tags.
    TooLong,
    /// Tag data longer than [`MAX_CLIENT_TAGS`].
    TagsTooLong,
    /// A NUL, or a CR before its end.
    Control,
    InvalidUtf8,
    /// Tags or a source, and no command after them.
    NoCommand,
    /// A command that is neither letters nor a three-digit number.
    BadCommand,
}

/// Parses a client's line, without its LF (a CR before it is dropped here).
pub fn parse(line: &[u8]) -> Result<Message<'_>, Refused> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(Refused::Control);
    }
    let line = std::str::from_utf8(line).map_err(|_| Refused::InvalidUtf8)?;
    let mut rest = line.trim_start_matches(' ');
    if rest.is_empty() {
        return Err(Refused::Empty);
    }
    let mut tags = Vec::new();
    if let Some(after) = rest.strip_prefix('@') {
        let (data, more) = after.split_once(' ').unwrap_or((after, ""));
        if data.len() > MAX_CLIENT_TAGS {
            return Err(Refused::TagsTooLong);
        }
        tags = data
            .split(';')
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (key, value) = t.split_once('=').unwrap_or((t, ""));
                (key, unescape(value))
            })
            .collect();
        rest = more.trim_start_matches(' ');
    }
    // The rest, with the CR LF it came with, within the classic limit.
    if rest.len() + 2 > MAX_LINE {
        return Err(Refused::TooLong);
    }
    let mut source = None;
    if let Some(after) = rest.strip_prefix(':') {
        let (s, more) = after.split_once(' ').unwrap_or((after, ""));
        source = Some(s);
        rest = more.trim_start_matches(' ');
    }
    let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return Err(Refused::NoCommand);
    }
    let letters = command.bytes().all(|b| b.is_ascii_alphabetic());
    let numeric = command.len() == 3 && command.bytes().all(|b| b.is_ascii_digit());
    if !letters && !numeric {
        return Err(Refused::BadCommand);
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing);
            break;
        }
        if params.len() == MAX_PARAMS - 1 {
            // The fifteenth takes the rest, spaces and all (RFC 2812).
            params.push(rest);
            break;
        }
        let (p, more) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(p);
        rest = more;
    }
    Ok(Message {
        tags,
        source,
        command,
        params,
    })
}

/// A tag value as sent: `\:` is `;`, `\s` a space, `\\` a backslash, `\r` and `\n` CR and LF,
/// a backslash before anything else is dropped, as is one at the end.
pub fn unescape(value: &str) -> Cow<'_, str> {
    if !value.contains('\\') {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Appends `value` escaped for a tag.
pub fn escape_into(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b';' => out.extend_from_slice(b"\\:"),
            b' ' => out.extend_from_slice(b"\\s"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0 => {} // no NUL may be in a message, and tags have no escape for it
            _ => out.push(b),
        }
    }
}

/// Appends one message, CR LF included, for a client: its tags (escaped; none, no `@`), its
/// source, its command and parameters. The last parameter is written trailing (`:`) when it
/// must be (empty, with a space, starting with `:`) or when `trailing` asks for it. Parameters
/// other than the last never hold a space or start with `:` (the callers' names and channels
/// cannot).
///
/// Whatever the callers give, what is written is one message within IRC's limits: a NUL, CR
/// or LF becomes a space; a message past [`MAX_LINE`] is cut (at a character's edge), and
/// tags past [`MAX_TAGS`] are left out.
pub fn write(
    out: &mut Vec<u8>,
    tags: &[(&str, &str)],
    source: Option<&str>,
    command: &str,
    params: &[&str],
    trailing: bool,
) {
    let start = out.len();
    if !tags.is_empty() {
        out.push(b'@');
        for (i, (key, value)) in tags.iter().enumerate() {
            if i > 0 {
                out.push(b';');
            }
            out.extend_from_slice(key.as_bytes());
            if !value.is_empty() {
                out.push(b'=');
                escape_into(out, value);
            }
        }
        out.push(b' ');
        if out.len() - start > MAX_TAGS {
            out.truncate(start);
        }
    }
    let body = out.len();
    if let Some(source) = source {
        out.push(b':');
        put_clean(out, source);
        out.push(b' ');
    }
    put_clean(out, command);
    for (i, p) in params.iter().enumerate() {
        out.push(b' ');
        let last = i + 1 == params.len();
        if last && (trailing || p.is_empty() || p.contains(' ') || p.starts_with(':')) {
            out.push(b':');
        }
        put_clean(out, p);
    }
    if out.len() - body > MAX_LINE - 2 {
        let mut cut = body + MAX_LINE - 2;
        while cut > body && (out[cut] & 0b1100_0000) == 0b1000_0000 {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `text`, a NUL, CR or LF in it as a space (none may be in a message).
fn put_clean(out: &mut Vec<u8>, text: &str) {
    let from = out.len();
    out.extend_from_slice(text.as_bytes());
    for b in &mut out[from..] {
        if matches!(*b, 0 | b'\r' | b'\n') {
            *b = b' ';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(line: &str) -> Message<'_> {
        parse(line.as_bytes()).unwrap()
    }

    #[test]
    fn the_parts_of_a_message() {
        let m = p(
            "@time=2026-12-06T05:00:00.000Z;+draft/reply=7 :ana!ana@chatd PRIVMSG #lobby :hi there\r",
        );
        assert_eq!(m.tag("time"), Some("2026-12-06T05:00:00.000Z"));
        assert_eq!(m.tag("+draft/reply"), Some("7"));
        assert_eq!(m.source, Some("ana!ana@chatd"));
        assert!(m.is("privmsg"));
        assert_eq!(m.params, ["#lobby", "hi there"]);
        let m = p("NICK ana");
        assert_eq!(
            (m.command, m.params.as_slice(), m.source),
            ("NICK", &["ana"][..], None)
        );
        let m = p("USER ana 0 * :Ana Lima");
        assert_eq!(m.params, ["ana", "0", "*", "Ana Lima"]);
        let m = p("PING");
        assert!(m.params.is_empty() && m.tags.is_empty());
        // Extra spaces between parts, a trailing that is empty, a lone tag without value.
        let m = p("@flag  PRIVMSG   #a   :");
        assert_eq!(
            (m.tag("flag"), m.params.as_slice()),
            (Some(""), &["#a", ""][..])
        );
        assert!(p("001 ana :welcome").is("001"));
    }

    #[test]
    fn a_fifteenth_parameter_takes_the_rest() {
        let line = format!(
            "CMD {} last words here",
            (1..15).map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
        );
        let m = p(&line);
        assert_eq!(m.params.len(), MAX_PARAMS);
        assert_eq!(m.params[14], "last words here");
    }

    #[test]
    fn bad_lines_are_refused_with_their_reason() {
        assert_eq!(parse(b""), Err(Refused::Empty));
        assert_eq!(parse(b"   \r"), Err(Refused::Empty));
        assert_eq!(parse(b"PRIVMSG #a :a\0b"), Err(Refused::Control));
        assert_eq!(parse(b"PRIVMSG #a :a\rb"), Err(Refused::Control));
        assert_eq!(parse(b"PRIVMSG #a :\xff"), Err(Refused::InvalidUtf8));
        assert_eq!(parse(b"@a=b"), Err(Refused::NoCommand));
        assert_eq!(parse(b":ana!a@b"), Err(Refused::NoCommand));
        assert_eq!(parse(b"PRIV-MSG x"), Err(Refused::BadCommand));
        assert_eq!(parse(b"12 x"), Err(Refused::BadCommand));
        // 510 bytes and the CR LF: the most; one more is too long. Tags do not count.
        let most = format!("PRIVMSG #a :{}", "x".repeat(510 - 12));
        assert!(parse(most.as_bytes()).is_ok());
        assert_eq!(parse(format!("{most}x").as_bytes()), Err(Refused::TooLong));
        let tagged = format!("@k={} {most}", "v".repeat(MAX_CLIENT_TAGS - 2));
        assert!(parse(tagged.as_bytes()).is_ok());
        let over = format!("@k={} {most}", "v".repeat(MAX_CLIENT_TAGS - 1));
        assert_eq!(parse(over.as_bytes()), Err(Refused::TagsTooLong));
    }

    #[test]
    fn tag_values_are_escaped_and_unescaped() {
        assert_eq!(unescape(r"a\:b\sc\\d\re\nf"), "a;b c\\d\re\nf");
        assert_eq!(
            unescape(r"\x\"),
            "x",
            "an unknown escape keeps its character, an end one goes"
        );
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        let mut out = Vec::new();
        write(
            &mut out,
            &[("msgid", "12"), ("+draft/x", "a; b\\")],
            Some("ana!ana@chatd"),
            "PRIVMSG",
            &["#lobby", "hi there"],
            false,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "@msgid=12;+draft/x=a\\:\\sb\\\\ :ana!ana@chatd PRIVMSG #lobby :hi there\r\n"
        );
        let mut out = Vec::new();
        write(&mut out, &[], None, "PONG", &["chatd"], false);
        assert_eq!(out, b"PONG chatd\r\n");
        let mut out = Vec::new();
        write(
            &mut out,
            &[],
            Some("chatd"),
            "001",
            &["ana", "Welcome"],
            true,
        );
        assert_eq!(out, b":chatd 001 ana :Welcome\r\n");
    }

    proptest! {
        /// Whatever a client sends, parsing answers without panicking, and within the limits.
        #[test]
        fn any_line_is_parsed_or_refused(line in proptest::collection::vec(any::<u8>(), 0..700)) {
            if let Ok(m) = parse(&line) {
                prop_assert!(m.params.len() <= MAX_PARAMS);
                prop_assert!(!m.command.is_empty());
            }
        }

        /// What `write` makes, `parse` reads back the same.
        #[test]
        fn written_messages_read_back(
            value in "[ -~]{0,40}",
            text in "[ -~]{0,200}",
            target in "#[a-z]{1,10}",
        ) {
            let mut out = Vec::new();
            write(&mut out, &[("k", &value)], Some("a!a@chatd"), "PRIVMSG", &[&target, &text], false);
            let line = out.strip_suffix(b"\r\n").unwrap();
            let m = parse(line).unwrap();
            prop_assert_eq!(m.tag("k"), Some(value.as_str()));
            prop_assert_eq!(m.params, vec![target.as_str(), text.as_str()]);
        }
    }

    #[test]
    fn what_is_written_is_one_message_within_the_limits_whatever_it_is_given() {
        let mut out = Vec::new();
        let long = "é".repeat(400);
        write(
            &mut out,
            &[],
            Some("a\0b"),
            "TOPIC",
            &["#x\ry", &long],
            true,
        );
        assert!(out.len() <= MAX_LINE, "{}", out.len());
        let line = std::str::from_utf8(&out).expect("cut at a character's edge");
        assert!(line.starts_with(":a b TOPIC #x y :éé"), "{line}");
        assert_eq!(line.matches("\r\n").count(), 1);
        assert!(line.ends_with("\r\n"));
        out.clear();
        let id = "i".repeat(MAX_TAGS);
        write(&mut out, &[("msgid", &id)], None, "PING", &["x"], false);
        assert_eq!(out, b"PING x\r\n", "tags past their limit are left out");
    }
}
