//! The node format's tests: every message through encode and decode, and what a broken or
//! hostile peer could publish refused.

use super::*;
use proptest::prelude::*;

fn round_trip(body: Body<'_>) {
    let msg = Message { node: "n1", body };
    let bytes = encode("main", &msg);
    assert_eq!(decode("main", &bytes), Ok(msg));
}

#[test]
fn every_kind_round_trips() {
    round_trip(Body::Hello);
    round_trip(Body::Beat);
    round_trip(Body::Bye);
    round_trip(Body::Roster(vec![]));
    round_trip(Body::Roster(vec![("ana", "lobby"), ("bob", "dev")]));
    round_trip(Body::Joined {
        name: "ana",
        room: "lobby",
    });
    round_trip(Body::Left {
        name: "ana",
        reason: None,
    });
    round_trip(Body::Left {
        name: "ana",
        reason: Some("gone fishing (node lost)"),
    });
    round_trip(Body::Parted {
        name: "ana",
        room: "dev",
    });
    round_trip(Body::Renamed {
        old: "guest1-n1",
        new: "ana",
    });
    round_trip(Body::Moved {
        name: "ana",
        from: "lobby",
        to: "dev",
    });
    for late in [false, true] {
        round_trip(Body::Line {
            room: "dev",
            at: u64::MAX,
            seq: 0,
            text: "<ana> hello  there ",
            late,
        });
    }
    round_trip(Body::Topic {
        room: "dev",
        by: "ana",
        text: "release on friday",
    });
    round_trip(Body::Private {
        from: "ana",
        to: "bob",
        text: "psst",
    });
    round_trip(Body::Kick {
        target: "bob",
        by: "ana",
        reason: None,
    });
    round_trip(Body::Kick {
        target: "bob",
        by: "ana",
        reason: Some("being rude"),
    });
    for on in [true, false] {
        round_trip(Body::Mute {
            target: "bob",
            by: "ana",
            on,
        });
    }
    round_trip(Body::Ban {
        target: "bob",
        by: "ana",
        minutes: 60,
    });
    for ip in ["127.0.0.7", "::1"] {
        let ip = ip.parse().unwrap();
        round_trip(Body::Banned {
            ip,
            secs: 3600,
            by: "ana",
        });
        round_trip(Body::Unbanned { ip });
    }
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    for until in [0, 1_764_450_000] {
        round_trip(Body::Account {
            name: "ana",
            until,
            hash,
        });
    }
    round_trip(Body::Unregistered { name: "ana" });
    round_trip(Body::LoggedIn { name: "ana" });
    round_trip(Body::Waiting {
        from: "bob",
        to: "ana",
        at: 1_764_450_000_123_456,
        text: "see you at 5",
    });
}

#[test]
fn the_text_form_is_as_documented() {
    let msg = Message {
        node: "ab12",
        body: Body::Line {
            room: "dev",
            at: 1_764_450_000_123_456,
            seq: 7,
            text: "<ana> hi",
            late: false,
        },
    };
    assert_eq!(
        encode("main", &msg),
        b"chatd1 main ab12 line dev 1764450000123456 7 <ana> hi"
    );
}

#[test]
fn hostile_messages_are_refused_with_a_reason() {
    fn d(s: &str) -> Result<Message<'_>, WireError> {
        decode("main", s.as_bytes())
    }
    assert_eq!(
        d("chatd1 other n1 beat"),
        Err(WireError::OtherCluster("other".into()))
    );
    assert_eq!(d("hello world"), Err(WireError::NotChatd));
    assert_eq!(d(""), Err(WireError::NotChatd));
    assert_eq!(d("chatd1 main N1 beat"), Err(WireError::BadNode));
    assert_eq!(d("chatd1 main  beat"), Err(WireError::BadNode));
    assert_eq!(
        decode("main", b"chatd1 main n1 line dev \xff"),
        Err(WireError::NotUtf8)
    );
    for bad in [
        "chatd1 main n1 beat now",
        "chatd1 main n1 shout x",
        "chatd1 main n1 joined ana",
        "chatd1 main n1 joined ana lobby extra",
        "chatd1 main n1 joined b@d lobby",
        "chatd1 main n1 roster ana",
        "chatd1 main n1 roster ana lobby bob",
        "chatd1 main n1 roster ana #lobby",
        "chatd1 main n1 line dev",
        "chatd1 main n1 line dev 1 2",
        "chatd1 main n1 line dev now 2 hi",
        "chatd1 main n1 said dev 1 -2 hi",
        "chatd1 main n1 line dev 1 2 \x1b[2Jgotcha",
        "chatd1 main n1 line dev 1 2 two\nlines",
        "chatd1 main n1 private ana",
        "chatd1 main n1 moved ana lobby",
        "chatd1 main n1 left ana \u{202e}evil",
        "chatd1 main n1 ban bob ana 0",
        "chatd1 main n1 ban bob ana forever",
        "chatd1 main n1 ban bob ana 99999999999",
        "chatd1 main n1 banned 300.1.1.1 60 ana",
        "chatd1 main n1 banned 127.0.0.1 0 ana",
        "chatd1 main n1 banned 127.0.0.1 999999999999 ana",
        "chatd1 main n1 banned 127.0.0.1 60",
        "chatd1 main n1 unbanned somewhere",
        "chatd1 main n1 mute bob",
        "chatd1 main n1 kick bob",
        "chatd1 main n1 account ana 0",
        "chatd1 main n1 account ana 0 plaintext",
        "chatd1 main n1 account ana never $argon2id$x",
        "chatd1 main n1 account ana 0 $argon2id$x extra",
        "chatd1 main n1 account b@d 0 $argon2id$x",
        "chatd1 main n1 unregistered",
        "chatd1 main n1 loggedin ana bob",
        "chatd1 main n1 waiting bob ana now hi",
        "chatd1 main n1 waiting bob ana 1",
    ] {
        assert!(
            matches!(d(bad), Err(WireError::Malformed(_))),
            "{bad:?}: {:?}",
            d(bad)
        );
    }
    let huge = vec![b'x'; MAX_MESSAGE + 1];
    assert_eq!(
        decode("main", &huge),
        Err(WireError::TooLong(MAX_MESSAGE + 1))
    );
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode("main", &bytes);
        let mut prefixed = b"chatd1 main n1 ".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = decode("main", &prefixed);
    }
}
