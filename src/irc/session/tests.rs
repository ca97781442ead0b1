use super::sasl::base64;
use super::*;

/// A session, and what it gave the hub and the client so far.
#[derive(Default)]
struct Run {
    s: Session,
    hub: Vec<u8>,
    client: Vec<u8>,
}

impl Run {
    /// The client sends `line`; returns the hub's lines and the client's, and forgets them.
    fn send(&mut self, line: &str) -> (Vec<String>, Vec<String>) {
        self.s
            .from_client(line.as_bytes(), &mut self.hub, &mut self.client);
        self.take()
    }

    /// The hub says `event`.
    fn hear(&mut self, event: &str) -> (Vec<String>, Vec<String>) {
        self.s.from_hub(event.as_bytes(), &mut self.client);
        self.take()
    }

    fn take(&mut self) -> (Vec<String>, Vec<String>) {
        let hub = String::from_utf8(std::mem::take(&mut self.hub)).unwrap();
        let client = String::from_utf8(std::mem::take(&mut self.client)).unwrap();
        assert!(client.is_empty() || client.ends_with("\r\n"), "{client:?}");
        (
            hub.lines().map(str::to_string).collect(),
            client
                .split_terminator("\r\n")
                .map(str::to_string)
                .collect(),
        )
    }

    /// Registered as `nick`, the welcome read.
    fn registered(nick: &str) -> Run {
        let mut r = Run::default();
        r.send(&format!("NICK {nick}"));
        let (hub, _) = r.send(&format!("USER {nick} 0 * :{nick}"));
        let nick_line = format!("/nick {nick}");
        assert_eq!(hub, ["/format json", &nick_line, "/who lobby"]);
        let (_, client) = r.hear(&format!(
            r#"{{"type":"rename","old":"guest1","new":"{nick}","you":true}}"#
        ));
        assert!(client[0].starts_with(&format!(":chatd 001 {nick} :")));
        assert!(r.s.registered());
        r
    }
}

#[test]
fn registration_waits_for_cap_end_then_asks_the_hub_for_the_nick() {
    let mut r = Run::default();
    assert_eq!(
        r.send("CAP LS 302"),
        (
            vec![],
            vec![
                ":chatd CAP * LS :batch cap-notify draft/chathistory echo-message message-tags \
                 multi-prefix sasl=PLAIN server-time"
                    .into()
            ]
        )
    );
    assert!(r.send("NICK ana").0.is_empty());
    assert!(
        r.send("USER ana 0 * :Ana Lima").0.is_empty(),
        "CAP END first"
    );
    assert_eq!(
        r.send("CAP REQ :server-time chghost"),
        (
            vec![],
            vec![":chatd CAP ana NAK :server-time chghost".into()]
        ),
        "all or none"
    );
    assert_eq!(
        r.send("CAP REQ :server-time"),
        (vec![], vec![":chatd CAP ana ACK :server-time".into()])
    );
    let (hub, client) = r.send("CAP END");
    assert_eq!(hub, ["/format json", "/nick ana", "/who lobby"]);
    assert!(client.is_empty());
    // The hub's lines before the nick is granted (text, or events of the lobby) are not shown.
    assert_eq!(r.hear("* guest2 joined"), (vec![], vec![]));
    let chat = r#"{"type":"chat","room":"lobby","from":"bob","text":"hi","id":"1"}"#;
    assert_eq!(r.hear(chat), (vec![], vec![]));
    let (hub, client) = r.hear(r#"{"type":"rename","old":"guest1","new":"ana","you":true}"#);
    assert!(
        hub.is_empty(),
        "the hub is never asked from its events: {hub:?}"
    );
    let codes: Vec<&str> = client
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(
        codes,
        ["001", "002", "003", "004", "005", "422", "JOIN", "PRIVMSG"]
    );
    assert_eq!(client[6], ":ana!ana@chatd JOIN #lobby");
    assert_eq!(
        client[7], ":bob!bob@chatd PRIVMSG #lobby :hi",
        "what the lobby said meanwhile, after the welcome (no time of its own: it had none)"
    );
    assert!(
        client[4].contains(" CASEMAPPING=ascii CHANTYPES=# NICKLEN=32 "),
        "{}",
        client[4]
    );
    // The lobby's names, asked at registration, come once the nick is granted.
    let (_, client) = r.hear(r#"{"type":"who","room":"lobby","names":["ana","bob"]}"#);
    assert_eq!(
        client,
        [
            ":chatd 353 ana = #lobby :ana bob",
            ":chatd 366 ana #lobby :End of /NAMES list"
        ]
    );
}

#[test]
fn a_password_goes_first_and_commands_before_registration_are_refused() {
    let mut r = Run::default();
    assert_eq!(
        r.send("JOIN #dev").1,
        [":chatd 451 * :You have not registered"]
    );
    r.send("PASS hunter22");
    r.send("NICK ana");
    let (hub, _) = r.send("USER ana 0 * :Ana");
    assert_eq!(
        hub,
        ["/pass hunter22", "/format json", "/nick ana", "/who lobby"]
    );
    assert_eq!(
        r.send("USER ana 0 * :Ana").1,
        [":chatd 462 ana :You may not reregister"]
    );
    assert_eq!(r.send("PING :x1").1, [":chatd PONG chatd :x1"]);
}

#[test]
fn a_nick_taken_is_433_and_the_next_one_is_asked_for() {
    let mut r = Run::default();
    r.send("NICK bob");
    r.send("USER bob 0 * :Bob");
    let (_, client) = r.hear(r#"{"type":"error","code":"name_taken","text":"name taken: bob"}"#);
    assert_eq!(client, [":chatd 433 * bob :name taken: bob"]);
    assert_eq!(r.send("NICK bob_").0, ["/nick bob_", "/who lobby"]);
    assert_eq!(
        r.send("NICK b@d").1,
        [":chatd 432 bob_ b@d :Erroneous nickname"]
    );
    let (_, client) = r.hear(r#"{"type":"rename","old":"guest1","new":"bob_","you":true}"#);
    assert!(client[0].starts_with(":chatd 001 bob_ :"));
}

#[test]
fn channel_commands_become_the_chats() {
    let mut r = Run::registered("ana");
    assert_eq!(
        r.send("JOIN #dev,#ops,nochan"),
        (
            vec![
                "/join dev".into(),
                "/who dev".into(),
                "/join ops".into(),
                "/who ops".into()
            ],
            vec![":chatd 403 ana nochan :No such channel".into()]
        )
    );
    let (hub, client) =
        r.hear(r#"{"type":"room","room":"dev","here":1,"rooms":["lobby","dev"],"left":null}"#);
    assert!(hub.is_empty());
    assert_eq!(client, [":ana!ana@chatd JOIN #dev"]);
    assert_eq!(r.send("JOIN #DEV").0, Vec::<String>::new(), "in it already");
    assert_eq!(
        r.send("PRIVMSG #dev :hello there").0,
        ["/say dev hello there"]
    );
    assert_eq!(
        r.send("PRIVMSG #dev :\u{1}ACTION waves\u{1}").0,
        ["/join dev", "/me waves"]
    );
    assert_eq!(r.send("PRIVMSG bob :psst").0, ["/msg bob psst"]);
    assert_eq!(
        r.send("PRIVMSG #ops :hi").0,
        ["/say ops hi"],
        "the hub knows whether it is in it"
    );
    assert_eq!(
        r.hear(r#"{"type":"error","code":"not_in_room","text":"you are not in #ops"}"#)
            .1,
        [":chatd 442 ana #ops :You're not on that channel"]
    );
    assert_eq!(
        r.send("PRIVMSG #ops :\u{1}ACTION waves\u{1}").1,
        [":chatd 404 ana #ops :Cannot send to channel"],
        "a /me is said where one speaks: not in it, it is refused here"
    );
    assert_eq!(
        r.send("PRIVMSG #dev").1,
        [":chatd 412 ana :No text to send"]
    );
    assert_eq!(
        r.send("TOPIC #dev :ship it").0,
        ["/join dev", "/topic ship it"]
    );
    assert_eq!(r.send("PART #dev").0, ["/part dev"]);
    assert_eq!(r.send("PART #ops").0, ["/part ops"], "the hub answers");
    assert_eq!(r.send("LIST").0, ["/rooms"]);
    assert_eq!(r.send("NAMES #dev").0, ["/who dev"]);
    assert_eq!(
        r.send("WHATEVER").1,
        [":chatd 421 ana WHATEVER :Unknown command"]
    );
    assert_eq!(r.send("QUIT :gone fishing").0, ["/quit gone fishing"]);
    let (_, client) =
        r.hear(r#"{"type":"room","room":"lobby","here":1,"rooms":["lobby"],"left":"dev"}"#);
    assert_eq!(client, [":ana!ana@chatd PART #dev"]);
    r.hear(r#"{"type":"room","room":"dev","here":1,"rooms":["lobby","dev"],"left":null}"#);
    assert_eq!(r.send("JOIN 0").0, ["/part lobby", "/part dev"]);
}

#[test]
fn the_chats_events_become_irc_messages() {
    let mut r = Run::registered("ana");
    let hear = |r: &mut Run, e: &str| r.hear(e).1;
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"chat","room":"lobby","from":"bob","text":"hi all","id":"3"}"#
        ),
        [":bob!bob@chatd PRIVMSG #lobby :hi all"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"me","room":"lobby","from":"bob","text":"waves","id":"4"}"#
        ),
        [":bob!bob@chatd PRIVMSG #lobby :\u{1}ACTION waves\u{1}"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"private","from":"bob","to":"ana","text":"psst"}"#
        ),
        [":bob!bob@chatd PRIVMSG ana :psst"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"join","room":"lobby","names":["cy","di"],"more":0}"#
        ),
        [":cy!cy@chatd JOIN #lobby", ":di!di@chatd JOIN #lobby"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"leave","room":"lobby","name":"cy","reason":null}"#
        ),
        [":cy!cy@chatd PART #lobby"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"leave","room":"lobby","name":"di","reason":"too slow"}"#
        ),
        [":di!di@chatd PART #lobby :too slow"]
    );
    let rename = r#"{"type":"rename","room":"lobby","old":"bob","new":"rob"}"#;
    assert_eq!(hear(&mut r, rename), [":bob!bob@chatd NICK :rob"]);
    assert!(
        hear(&mut r, rename).is_empty(),
        "told once, in each room: passed on once"
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"topic","room":"lobby","by":"rob","text":"friday"}"#
        ),
        [":rob!rob@chatd TOPIC #lobby :friday"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"topic","room":"lobby","by":null,"text":"friday"}"#
        ),
        [":chatd 332 ana #lobby :friday"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"error","code":"no_such_user","text":"no such user: zed"}"#
        ),
        [":chatd 401 ana zed :No such nick/channel"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"notice","code":"waiting","text":"zed is away"}"#
        ),
        [":chatd NOTICE ana :zed is away"]
    );
    assert_eq!(
        hear(
            &mut r,
            r#"{"type":"rooms","rooms":[{"name":"lobby","here":3}]}"#
        ),
        [
            ":chatd 321 ana Channel :Users  Name",
            ":chatd 322 ana #lobby 3 :",
            ":chatd 323 ana :End of /LIST"
        ]
    );
    // Ours: the nick the client has now.
    let (_, client) = r.hear(r#"{"type":"rename","old":"ana","new":"anna","you":true}"#);
    assert_eq!(client, [":ana!ana@chatd NICK :anna"]);
    assert!(hear(&mut r, "not json").is_empty());
    assert!(hear(&mut r, "{broken").is_empty());
}

#[test]
fn a_long_line_is_split_within_ircs_limit() {
    let mut r = Run::registered("ana");
    let text = "é".repeat(1500);
    let event =
        format!(r#"{{"type":"chat","room":"lobby","from":"bob","text":"{text}","id":"9"}}"#);
    let (_, client) = r.hear(&event);
    assert!(client.len() >= 6, "{}", client.len());
    let mut joined = String::new();
    for line in &client {
        assert!(line.len() + 2 <= MAX_LINE, "{}", line.len());
        let (head, said) = line.split_once(" :").unwrap();
        assert_eq!(head, ":bob!bob@chatd PRIVMSG #lobby");
        joined.push_str(said);
    }
    assert_eq!(joined, text);
}

#[test]
fn bad_lines_are_refused_with_their_reason() {
    let mut r = Run::registered("ana");
    assert_eq!(
        r.send(&"x".repeat(600)).1,
        [":chatd 417 ana :Input line was too long"]
    );
    let mut hub = Vec::new();
    let mut client = Vec::new();
    r.s.from_client(b"PRIVMSG #lobby :\xff\xfe", &mut hub, &mut client);
    assert!(hub.is_empty());
    assert_eq!(
        String::from_utf8(client).unwrap(),
        ":chatd FAIL PRIVMSG INVALID_UTF8 :Message rejected: invalid UTF-8\r\n"
    );
    assert_eq!(r.send("   ").1, Vec::<String>::new());
}

#[test]
fn server_time_and_message_tags_tag_what_the_chat_says() {
    let mut r = Run::default();
    r.send("CAP LS 302");
    r.send("CAP REQ :server-time message-tags");
    assert_eq!(
        r.send("CAP LIST").1,
        [":chatd CAP * LIST :message-tags server-time"]
    );
    r.send("NICK ana");
    r.send("USER ana 0 * :Ana");
    r.send("CAP END");
    r.hear(r#"{"type":"rename","old":"guest1","new":"ana","you":true}"#);
    let chat = r#"{"type":"chat","time":"2026-12-07T13:00:00.123Z","room":"lobby","from":"bob","text":"hi","id":"a-7"}"#;
    assert_eq!(
        r.hear(chat).1,
        ["@time=2026-12-07T13:00:00.123Z;msgid=a-7 :bob!bob@chatd PRIVMSG #lobby :hi"]
    );
    // Its own commands' answers carry none.
    assert_eq!(r.send("PING x").1, [":chatd PONG chatd :x"]);
}

#[test]
fn who_mode_version_and_time_are_answered() {
    let mut r = Run::registered("ana");
    assert_eq!(r.send("WHO #lobby").0, ["/who lobby"]);
    let (_, client) = r.hear(r#"{"type":"who","room":"lobby","names":["ana","bob"]}"#);
    assert_eq!(
        client,
        [
            ":chatd 352 ana #lobby ana chatd chatd ana H :0 ana",
            ":chatd 352 ana #lobby bob chatd chatd bob H :0 bob",
            ":chatd 315 ana #lobby :End of /WHO list"
        ]
    );
    // The next answer is a NAMES' again.
    r.send("NAMES #lobby");
    let (_, client) = r.hear(r#"{"type":"who","room":"lobby","names":["ana"]}"#);
    assert_eq!(client[0], ":chatd 353 ana = #lobby :ana");
    assert_eq!(r.send("MODE #lobby").1, [":chatd 324 ana #lobby :+"]);
    assert_eq!(
        r.send("MODE #lobby b").1,
        [":chatd 368 ana #lobby :End of channel ban list"]
    );
    assert_eq!(r.send("MODE ana").1, [":chatd 221 ana :+"]);
    assert!(r.send("VERSION").1[0].starts_with(":chatd 351 ana chatd-"));
    assert!(r.send("TIME").1[0].starts_with(":chatd 391 ana chatd :"));
}

proptest::proptest! {
    /// Whatever a client sends, before or after registration, and whatever the hub says: no
    /// panic; every message to the client is one line within IRC's limit (tags aside) ended
    /// by CR LF, and every line to the hub one line, with no CR or NUL in it.
    #[test]
    fn any_input_gives_well_formed_output(
        lines in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700), 0..12),
        events in proptest::collection::vec("[ -~é]{0,600}", 0..12),
        register in proptest::prelude::any::<bool>(),
    ) {
        let mut r = if register { Run::registered("ana") } else { Run::default() };
        let (mut hub, mut client) = (Vec::new(), Vec::new());
        for (i, line) in lines.iter().enumerate() {
            let line: Vec<u8> = line.iter().copied().filter(|&b| b != b'\n').collect();
            r.s.from_client(&line, &mut hub, &mut client);
            if let Some(e) = events.get(i) {
                let event = format!(
                    r#"{{"type":"chat","room":"lobby","from":"bob","text":{},"id":"1"}}"#,
                    serde_json::Value::String(e.clone())
                );
                r.s.from_hub(event.as_bytes(), &mut client);
                r.s.from_hub(e.as_bytes(), &mut client);
            }
        }
        let client = String::from_utf8_lossy(&client).into_owned();
        for line in client.split_terminator("\r\n") {
            let body = match line.strip_prefix('@') {
                Some(tagged) => tagged.split_once(' ').map_or("", |(_, b)| b),
                None => line,
            };
            proptest::prop_assert!(body.len() + 2 <= MAX_LINE, "{} bytes", body.len());
            proptest::prop_assert!(!line.contains(['\r', '\n', '\0']), "{line:?}");
        }
        for line in hub.split(|&b| b == b'\n') {
            proptest::prop_assert!(!line.contains(&b'\r') && !line.contains(&0), "{line:?}");
        }
    }
}

/// `authzid\0authcid\0password`, base64.
fn plain(name: &str, password: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{name}\0{name}\0{password}").into_bytes();
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

#[test]
fn base64_reads_what_clients_send() {
    assert_eq!(base64(&plain("ana", "pw")).unwrap(), b"ana\0ana\0pw");
    assert_eq!(base64("YQ").unwrap(), b"a");
    assert_eq!(base64("not base64!"), None);
}

#[test]
fn sasl_plain_logs_in_before_the_welcome() {
    let mut r = Run::default();
    r.send("CAP LS 302");
    assert_eq!(r.send("CAP REQ :sasl").1, [":chatd CAP * ACK :sasl"]);
    r.send("NICK ana");
    r.send("USER ana 0 * :Ana");
    assert_eq!(r.send("AUTHENTICATE PLAIN").1, ["AUTHENTICATE +"]);
    let (hub, _) = r.send(&format!("AUTHENTICATE {}", plain("ana", "correct-horse")));
    assert_eq!(hub, ["/login ana correct-horse", "/who lobby"]);
    // The chat renames it and says so: no NICK before the welcome, 900 and 903.
    assert!(
        r.hear(r#"{"type":"rename","old":"guest1","new":"ana","you":true}"#)
            .1
            .is_empty()
    );
    let (_, client) = r.hear(r#"{"type":"notice","code":"logged_in","text":"logged in as ana"}"#);
    assert_eq!(
        client,
        [
            ":chatd 900 ana ana!ana@chatd ana :You are now logged in as ana",
            ":chatd 903 ana :SASL authentication successful"
        ]
    );
    r.hear(r#"{"type":"who","room":"lobby","names":["ana"]}"#);
    let (hub, client) = r.send("CAP END");
    assert!(hub.is_empty(), "named already: {hub:?}");
    assert!(client[0].starts_with(":chatd 001 ana :"), "{client:?}");
    assert!(
        client.contains(&":chatd 353 ana = #lobby :ana".to_string()),
        "{client:?}"
    );
    assert_eq!(
        r.send("AUTHENTICATE PLAIN").1,
        [":chatd 907 ana :You have already authenticated"]
    );
}

#[test]
fn sasl_refused_or_malformed_is_904_and_registration_goes_on() {
    let mut r = Run::default();
    r.send("CAP LS 302");
    r.send("CAP REQ :sasl");
    r.send("NICK ana");
    r.send("USER ana 0 * :Ana");
    assert_eq!(
        r.send("AUTHENTICATE EXTERNAL").1,
        [
            ":chatd 908 ana PLAIN :are available SASL mechanisms",
            ":chatd 904 ana :SASL authentication failed"
        ]
    );
    r.send("AUTHENTICATE PLAIN");
    assert_eq!(
        r.send("AUTHENTICATE !!!!").1,
        [":chatd 904 ana :SASL authentication failed"]
    );
    r.send("AUTHENTICATE PLAIN");
    r.send(&format!("AUTHENTICATE {}", plain("ana", "wrong-horse")));
    let (_, client) =
        r.hear(r#"{"type":"error","code":"wrong_login","text":"wrong name or password"}"#);
    assert_eq!(client, [":chatd 904 ana :SASL authentication failed"]);
    r.send("AUTHENTICATE PLAIN");
    assert_eq!(
        r.send("AUTHENTICATE *").1,
        [":chatd 906 ana :SASL authentication aborted"]
    );
    let (hub, _) = r.send("CAP END");
    assert_eq!(hub, ["/format json", "/nick ana", "/who lobby"]);
}

#[test]
fn nickserv_speaks_for_the_accounts() {
    let mut r = Run::registered("ana");
    assert_eq!(
        r.send("PRIVMSG NickServ :REGISTER correct-horse").0,
        ["/register correct-horse"]
    );
    assert_eq!(
        r.send("PRIVMSG nickserv :IDENTIFY correct-horse").0,
        ["/login ana correct-horse"]
    );
    assert_eq!(
        r.send("PRIVMSG NickServ :IDENTIFY bob battery-staple").0,
        ["/login bob battery-staple"]
    );
    assert_eq!(
        r.send("PRIVMSG NickServ :HELP").1,
        [
            ":NickServ!NickServ@chatd NOTICE ana :IDENTIFY [NAME] PASSWORD, REGISTER PASSWORD, or LOGOUT"
        ]
    );
    let registered =
        r#"{"type":"notice","code":"registered","text":"ana is registered: it is yours"}"#;
    assert_eq!(
        r.hear(registered).1,
        [":NickServ!NickServ@chatd NOTICE ana :ana is registered: it is yours"]
    );
    let wrong = r#"{"type":"error","code":"wrong_login","text":"wrong name or password"}"#;
    assert_eq!(
        r.hear(wrong).1,
        [":NickServ!NickServ@chatd NOTICE ana :wrong name or password"]
    );
}

/// A session registered as `nick` with `caps`, the welcome read.
fn registered_with(nick: &str, caps: &str) -> Run {
    let mut r = Run::default();
    r.send("CAP LS 302");
    assert!(r.send(&format!("CAP REQ :{caps}")).1[0].contains(" ACK "));
    r.send(&format!("NICK {nick}"));
    r.send(&format!("USER {nick} 0 * :{nick}"));
    r.send("CAP END");
    r.hear(&format!(
        r#"{{"type":"rename","old":"guest1","new":"{nick}","you":true}}"#
    ));
    assert!(r.s.registered());
    r
}

#[test]
fn echo_message_asks_the_chat_for_ones_own_lines_back() {
    let mut r = Run::default();
    r.send("CAP LS 302");
    r.send("CAP REQ echo-message");
    r.send("NICK ana");
    r.send("USER ana 0 * :ana");
    let (hub, _) = r.send("CAP END");
    assert_eq!(hub, ["/format json", "/echo on", "/nick ana", "/who lobby"]);
    r.hear(r#"{"type":"rename","old":"guest1","new":"ana","you":true}"#);
    // Its own line, back from the chat; its own private message, to whom it went.
    let own = r#"{"type":"chat","room":"lobby","from":"ana","text":"hi","id":"3"}"#;
    assert_eq!(r.hear(own).1, [":ana!ana@chatd PRIVMSG #lobby :hi"]);
    let private = r#"{"type":"private","from":"ana","to":"bob","text":"psst"}"#;
    assert_eq!(r.hear(private).1, [":ana!ana@chatd PRIVMSG bob :psst"]);
    let me = r#"{"type":"private","from":"bob","to":"ana","text":"* waves"}"#;
    assert_eq!(
        r.hear(me).1,
        [":bob!bob@chatd PRIVMSG ana :\u{1}ACTION waves\u{1}"]
    );
    assert_eq!(
        r.hear(r#"{"type":"notice","code":"echo","text":"echo: on"}"#)
            .1
            .len(),
        0
    );
    // Turned off (and on) once registered: told at once.
    assert_eq!(r.send("CAP REQ -echo-message").0, ["/echo off"]);
    assert!(r.send("CAP REQ :server-time").0.is_empty());
}

#[test]
fn operators_kick_kill_and_list_bans_through_the_chat() {
    let mut r = Run::registered("ana");
    assert_eq!(
        r.send("MODE #lobby b").1,
        [":chatd 368 ana #lobby :End of channel ban list"],
        "not an operator: an empty list, and no error"
    );
    assert_eq!(
        r.send("MODE #lobby +b bob").1,
        [":chatd 482 ana #lobby :You're not channel operator"]
    );
    assert_eq!(r.send("OPER ana s3cret").0, ["/oper s3cret"]);
    assert_eq!(
        r.hear(r#"{"type":"error","code":"wrong_password","text":"wrong password"}"#)
            .1,
        [":chatd 464 ana :Password incorrect"]
    );
    assert_eq!(
        r.hear(r#"{"type":"notice","code":"operator","text":"you are now an operator"}"#)
            .1,
        [":chatd 381 ana :You are now an IRC operator"]
    );
    assert_eq!(
        r.send("KICK #lobby bob,eve :stop that").0,
        ["/kick bob stop that", "/kick eve stop that"]
    );
    assert_eq!(
        r.send("KICK #dev bob").1[0],
        ":chatd 442 ana #dev :You're not on that channel"
    );
    assert_eq!(r.send("KILL bob").0, ["/kick bob"]);
    assert_eq!(
        r.send("KILL b@d :x").1,
        [":chatd 401 ana b@d :No such nick/channel"]
    );
    // The kick, told to the room: a KICK from the operator, with the reason alone.
    let kicked = r#"{"type":"leave","room":"lobby","name":"bob","reason":"kicked by ana (stop that)","by":"ana"}"#;
    assert_eq!(
        r.hear(kicked).1,
        [":ana!ana@chatd KICK #lobby bob :stop that"]
    );
    let quit = r#"{"type":"leave","room":"lobby","name":"eve","reason":"kicked by ana"}"#;
    assert_eq!(
        r.hear(quit).1,
        [":eve!eve@chatd PART #lobby :kicked by ana"],
        "a /quit of the same words is a PART"
    );
    // Bans: the chat's, of addresses.
    assert_eq!(r.send("MODE #lobby b").0, ["/bans"]);
    let bans = r#"{"type":"notice","code":"bans","text":"bans (2): 10.0.0.1 (60 min, by ana), ::1 (5 min, by root)"}"#;
    assert_eq!(
        r.hear(bans).1,
        [
            ":chatd 367 ana #lobby *!*@10.0.0.1 :ana",
            ":chatd 367 ana #lobby *!*@::1 :root",
            ":chatd 368 ana #lobby :End of channel ban list"
        ]
    );
    assert_eq!(r.send("MODE #lobby +b bob!*@*").0, ["/ban bob"]);
    assert_eq!(r.send("MODE #lobby -b *!*@10.0.0.1").0, ["/unban 10.0.0.1"]);
    assert_eq!(
        r.send("MODE #lobby -b bob").1[0],
        ":chatd 472 ana bob :Not a ban of this server (they are *!*@ADDRESS)"
    );
    assert_eq!(
        r.send("MODE #lobby +m").1[0],
        ":chatd 472 ana m :is unknown mode char to me"
    );
    assert_eq!(
        r.hear(r#"{"type":"error","code":"no_operators","text":"no operators on this server"}"#)
            .1,
        [":chatd 491 ana :No O-lines for your host"]
    );
}

const HISTORY: &str = r#"{"type":"history","room":"lobby","lines":[{"type":"chat","time":"2026-12-07T10:00:00.000Z","room":"lobby","from":"bob","text":"first","id":"1"},{"type":"me","time":"2026-12-07T10:00:01.000Z","room":"lobby","from":"eve","text":"waves","id":"2"}]}"#;

#[test]
fn a_room_s_last_lines_on_joining_are_a_batch_for_a_client_with_server_time_only() {
    let mut r = Run::registered("ana");
    assert!(
        r.hear(HISTORY).1.is_empty(),
        "without server-time, they would look new"
    );
    let mut r = registered_with("ana", "batch server-time message-tags");
    assert_eq!(
        r.hear(HISTORY).1,
        [
            ":chatd BATCH +h1 chathistory #lobby",
            "@batch=h1;time=2026-12-07T10:00:00.000Z;msgid=1 :bob!bob@chatd PRIVMSG #lobby :first",
            "@batch=h1;time=2026-12-07T10:00:01.000Z;msgid=2 :eve!eve@chatd PRIVMSG #lobby :\u{1}ACTION waves\u{1}",
            ":chatd BATCH -h1",
        ]
    );
    let mut r = registered_with("ana", "server-time");
    assert_eq!(
        r.hear(HISTORY).1[0],
        "@time=2026-12-07T10:00:00.000Z :bob!bob@chatd PRIVMSG #lobby :first",
        "no batch without batch"
    );
}

#[test]
fn chathistory_latest_and_before_are_the_chat_s_history() {
    let mut r = registered_with("ana", "batch draft/chathistory");
    assert_eq!(
        r.send("CHATHISTORY LATEST #lobby * 500").0,
        ["/join lobby", "/history 200"],
        "at most the chat's largest page"
    );
    // Asked for: shown, with or without server-time.
    let shown = r.hear(HISTORY).1;
    assert_eq!(shown.len(), 4);
    assert_eq!(shown[1], "@batch=h1 :bob!bob@chatd PRIVMSG #lobby :first");
    assert_eq!(
        r.send("CHATHISTORY BEFORE #lobby msgid=n1-40 10").0,
        ["/history before n1-40 10"]
    );
    assert_eq!(
        r.hear(r#"{"type":"error","code":"store_timeout","text":"the store did not answer"}"#)
            .1,
        [
            ":chatd FAIL CHATHISTORY MESSAGE_ERROR BEFORE #lobby :The history could not be read now; try again"
        ]
    );
    assert_eq!(
        r.send("CHATHISTORY LATEST bob * 10").1,
        [":chatd BATCH +h2 chathistory bob", ":chatd BATCH -h2"],
        "private messages are not kept"
    );
    for (line, code) in [
        ("CHATHISTORY LATEST #lobby", "NEED_MORE_PARAMS"),
        ("CHATHISTORY AFTER #lobby msgid=1 10", "INVALID_PARAMS"),
        (
            "CHATHISTORY LATEST #lobby timestamp=2026-12-07T10:00:00.000Z 10",
            "INVALID_PARAMS",
        ),
        ("CHATHISTORY LATEST #lobby * 0", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #dev * 10", "INVALID_TARGET"),
        ("CHATHISTORY BEFORE #lobby * 10", "INVALID_PARAMS"),
    ] {
        let (hub, client) = r.send(line);
        assert!(hub.is_empty(), "{line}: {hub:?}");
        assert!(
            client[0].starts_with(&format!(":chatd FAIL CHATHISTORY {code} ")),
            "{line}: {client:?}"
        );
    }
}

#[test]
fn whois_ison_userhost_and_away_are_the_chats_whois_and_away() {
    let mut r = Run::registered("ana");
    assert_eq!(r.send("WHOIS bob").0, ["/whois bob"]);
    let bob = r#"{"type":"whois","name":"Bob","online":true,"rooms":["dev","lobby"],"logged_in":true,"operator":true,"away":"lunch","node":null}"#;
    assert_eq!(
        r.hear(bob).1,
        [
            ":chatd 311 ana Bob Bob chatd * :Bob",
            ":chatd 319 ana Bob :#dev #lobby",
            ":chatd 312 ana Bob chatd :an nc-first group chat",
            ":chatd 313 ana Bob :is an IRC operator",
            ":chatd 301 ana Bob :lunch",
            ":chatd 330 ana Bob Bob :is logged in as",
            ":chatd 318 ana Bob :End of /WHOIS list",
        ]
    );
    r.send("WHOIS chatd nobody");
    let nobody = r#"{"type":"whois","name":"nobody","online":false,"rooms":[]}"#;
    assert_eq!(
        r.hear(nobody).1,
        [
            ":chatd 401 ana nobody :No such nick/channel",
            ":chatd 318 ana nobody :End of /WHOIS list"
        ]
    );
    assert_eq!(
        r.send("WHOIS b@d").1,
        [
            ":chatd 401 ana b@d :No such nick/channel",
            ":chatd 318 ana b@d :End of /WHOIS list"
        ]
    );
    // ISON and USERHOST: one /whois a name, one reply for them all.
    assert_eq!(
        r.send("ISON bob nobody b@d").0,
        ["/whois bob", "/whois nobody"]
    );
    assert!(r.hear(bob).1.is_empty());
    assert_eq!(r.hear(nobody).1, [":chatd 303 ana :Bob"]);
    r.send("USERHOST bob ana");
    r.hear(bob);
    let ana = r#"{"type":"whois","name":"ana","online":true,"rooms":["lobby"],"away":null}"#;
    assert_eq!(
        r.hear(ana).1,
        [":chatd 302 ana :Bob*=-Bob@chatd ana=+ana@chatd"]
    );
    assert_eq!(r.send("ISON b@d").1, [":chatd 303 ana :"]);
    assert_eq!(
        r.send("ISON").1,
        [":chatd 461 ana ISON :Not enough parameters"]
    );
    // AWAY.
    assert_eq!(r.send("AWAY :gone fishing").0, ["/away gone fishing"]);
    assert_eq!(
        r.hear(r#"{"type":"notice","code":"away","text":"you are away"}"#)
            .1,
        [":chatd 306 ana :You have been marked as being away"]
    );
    assert_eq!(r.send("AWAY").0, ["/away"]);
    assert_eq!(
        r.hear(r#"{"type":"notice","code":"back","text":"you are back"}"#)
            .1,
        [":chatd 305 ana :You are no longer marked as being away"]
    );
    let is_away = r#"{"type":"notice","code":"is_away","text":"bob is away: lunch","name":"bob","away":"lunch"}"#;
    assert_eq!(r.hear(is_away).1, [":chatd 301 ana bob :lunch"]);
}

#[test]
fn whatever_the_hub_names_each_message_fits_and_the_text_ends() {
    // (Found by the fuzzer: a name long enough left no room for text, and the text was cut
    // into empty pieces forever.) The hub's names are short; the session holds anyway.
    let mut r = Run::registered("ana");
    let from = "x".repeat(600);
    let text = "é".repeat(300);
    let event = format!(r#"{{"type":"chat","room":"lobby","from":"{from}","text":"{text}"}}"#);
    let (_, client) = r.hear(&event);
    assert!(
        !client.is_empty() && client.len() < 100,
        "{} messages",
        client.len()
    );
    assert!(client.iter().all(|l| l.len() + 2 <= MAX_LINE));
}

#[test]
fn the_quick_path_for_chat_lines_says_what_the_full_one_says() {
    // A field the quick path does not know sends a line down the full path: the same event
    // must come out the same either way.
    let long = "x".repeat(700);
    for caps in [
        "",
        "server-time",
        "message-tags",
        "server-time message-tags",
    ] {
        for (kind, from, text) in [
            ("chat", "bob", "hi there"),
            ("chat", "ana", "echoed, its own"),
            ("chat", "bob", "é and ü"),
            ("chat", "bob", long.as_str()),
            ("me", "bob", "waves"),
        ] {
            let event = format!(
                r#"{{"type":"{kind}","time":"2026-12-07T13:00:00.123Z","room":"dev","from":"{from}","text":"{text}","id":"n1-7""#
            );
            let mut quick = if caps.is_empty() {
                Run::registered("ana")
            } else {
                registered_with("ana", caps)
            };
            let mut full = if caps.is_empty() {
                Run::registered("ana")
            } else {
                registered_with("ana", caps)
            };
            let (_, a) = quick.hear(&format!("{event}}}"));
            let (_, b) = full.hear(&format!(r#"{event},"extra":"x"}}"#));
            assert_eq!(a, b, "{caps} {kind} {text}");
            assert!(!a.is_empty());
        }
    }
}
