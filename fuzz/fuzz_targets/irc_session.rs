//! An IRC client's session: any lines from the client, and any events from the hub (JSON of
//! the chat's event types with any field values, or any bytes), in any order, never panic;
//! every message for the client is one line within IRC's limits, ended by CR LF, with no NUL or
//! CR or LF in it; every line for the hub is one line with no CR or NUL; what the session keeps
//! stays bounded.
#![no_main]

use chatd::irc::message::{MAX_LINE, MAX_TAGS};
use chatd::irc::session::Session;
use libfuzzer_sys::fuzz_target;

const TYPES: &[&str] = &[
    "chat", "me", "private", "join", "leave", "move", "rename", "room", "topic", "who",
    "whois", "rooms", "history", "notice", "error", "shutdown", "link",
];
const KEYS: &[&str] = &[
    "room", "from", "to", "text", "id", "time", "name", "reason", "by", "old", "new", "code",
];

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new();
    let (mut to_hub, mut to_client) = (Vec::new(), Vec::new());
    // Registered first, most of the time: most of the session is past registration.
    if data.first().is_some_and(|b| b & 1 == 0) {
        s.from_client(b"CAP REQ :batch echo-message message-tags server-time", &mut to_hub, &mut to_client);
        s.from_client(b"NICK ana", &mut to_hub, &mut to_client);
        s.from_client(b"USER ana 0 * :ana", &mut to_hub, &mut to_client);
        s.from_client(b"CAP END", &mut to_hub, &mut to_client);
        s.from_hub(br#"{"type":"rename","old":"guest1","new":"ana","you":true}"#, &mut to_client);
    }
    for chunk in data.get(1..).unwrap_or_default().split(|&b| b == b'\n') {
        let Some((&op, rest)) = chunk.split_first() else {
            continue;
        };
        match op % 3 {
            0 => s.from_client(rest.strip_suffix(b"\r").unwrap_or(rest), &mut to_hub, &mut to_client),
            1 => s.from_hub(rest, &mut to_client),
            _ => {
                // A chat event of a type the session knows, its fields made of the rest.
                let text = String::from_utf8_lossy(rest);
                let mut fields = text.split('\u{1f}');
                let kind = TYPES[usize::from(op / 3) % TYPES.len()];
                let mut event = serde_json::json!({ "type": kind });
                for key in KEYS {
                    if let Some(v) = fields.next() {
                        event[*key] = v.into();
                    }
                }
                event["names"] = fields.clone().map(str::to_string).collect::<Vec<_>>().into();
                event["rooms"] = event["names"].clone();
                event["lines"] = serde_json::json!([{"type":"chat","from":"x","text": text, "id":"1"}]);
                s.from_hub(event.to_string().as_bytes(), &mut to_client);
            }
        }
        // (Bounded: what the client gets of one input is bounded by the input.)
        assert!(to_client.len() < 64 * 1024 * 1024);
    }
    let client = &to_client[..];
    for line in client.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\r\n").expect("CR LF after each message");
        assert!(!body.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n'), "{line:?}");
        assert!(body.len() + 2 <= MAX_LINE + MAX_TAGS, "{} bytes", body.len());
    }
    for line in to_hub.split_inclusive(|&b| b == b'\n') {
        assert!(line.ends_with(b"\n"));
        assert!(!line.iter().any(|&b| b == 0 || b == b'\r'), "{line:?}");
    }
});
