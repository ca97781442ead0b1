//! The clients' command language, parsed.

use super::*;

#[test]
fn passwords_never_reach_a_log() {
    for line in [
        "/oper opsecret",
        "/OPER opsecret",
        "  /pass opsecret",
        "/login alice opsecret",
        "/register opsecret",
        "/password old opsecret",
        "/unregister opsecret",
        "/Identify alice opsecret",
        "/pass\topsecret",
    ] {
        let shown = loggable(line);
        assert!(!shown.contains("opsecret"), "{line:?} logged as {shown:?}");
        assert!(shown.contains("arguments not logged"), "{shown}");
    }
    for line in ["hello", "/nick bob", "//oper not a command", "/passes x"] {
        assert_eq!(loggable(line), line);
    }
}

#[test]
fn plain_text_and_blank_lines() {
    assert_eq!(parse("hello there"), Ok(Input::Say("hello there")));
    assert_eq!(parse(""), Ok(Input::Empty));
    assert_eq!(parse(" \t "), Ok(Input::Empty));
}

#[test]
fn double_slash_escapes_a_leading_slash() {
    assert_eq!(parse("//etc/passwd"), Ok(Input::Say("/etc/passwd")));
    assert_eq!(parse("//"), Ok(Input::Empty));
}

#[test]
fn commands() {
    assert_eq!(parse("/nick bob"), Ok(Input::Command(Command::Nick("bob"))));
    assert_eq!(
        parse("/NICK  bob "),
        Ok(Input::Command(Command::Nick("bob")))
    );
    assert_eq!(parse("/who"), Ok(Input::Command(Command::Who(None))));
    assert_eq!(
        parse("/who #Dev"),
        Ok(Input::Command(Command::Who(Some("Dev"))))
    );
    assert_eq!(parse("/join dev"), Ok(Input::Command(Command::Join("dev"))));
    assert_eq!(
        parse("/JOIN #dev-2"),
        Ok(Input::Command(Command::Join("dev-2")))
    );
    assert_eq!(parse("/part"), Ok(Input::Command(Command::Part(None))));
    assert_eq!(
        parse("/part #Dev"),
        Ok(Input::Command(Command::Part(Some("Dev"))))
    );
    assert_eq!(parse("/part a b"), Err(CommandError::Usage("/part [ROOM]")));
    assert_eq!(parse("/part #no!"), Err(CommandError::BadRoom("#no!")));
    assert_eq!(
        parse("/say #dev hello  there"),
        Ok(Input::Command(Command::Say {
            room: "dev",
            text: "hello  there"
        }))
    );
    assert_eq!(
        parse("/say dev"),
        Err(CommandError::Usage("/say ROOM TEXT"))
    );
    assert_eq!(parse("/say"), Err(CommandError::Usage("/say ROOM TEXT")));
    assert_eq!(parse("/say b@d hi"), Err(CommandError::BadRoom("b@d")));
    assert_eq!(parse("/rooms"), Ok(Input::Command(Command::Rooms)));
    assert_eq!(parse("/LIMITS"), Ok(Input::Command(Command::Limits)));
    assert_eq!(parse("/topic"), Ok(Input::Command(Command::Topic(None))));
    assert_eq!(
        parse("/topic  release on friday "),
        Ok(Input::Command(Command::Topic(Some("release on friday"))))
    );
    assert_eq!(
        parse("/history"),
        Ok(Input::Command(Command::History(None)))
    );
    assert_eq!(
        parse("/history 5"),
        Ok(Input::Command(Command::History(Some(5))))
    );
    assert_eq!(
        parse("/msg bob  hi  there"),
        Ok(Input::Command(Command::Msg {
            to: "bob",
            text: "hi  there"
        }))
    );
    assert_eq!(parse("/me waves"), Ok(Input::Command(Command::Me("waves"))));
    assert_eq!(parse("/quit"), Ok(Input::Command(Command::Quit(None))));
    assert_eq!(
        parse("/quit gone fishing"),
        Ok(Input::Command(Command::Quit(Some("gone fishing"))))
    );
    assert_eq!(parse("/help"), Ok(Input::Command(Command::Help)));
}

#[test]
fn operator_commands() {
    let cmd = |c| Ok(Input::Command(c));
    assert_eq!(
        parse("/pass  open sesame "),
        cmd(Command::Pass("open sesame"))
    );
    assert_eq!(parse("/OPER s3cret"), cmd(Command::Oper("s3cret")));
    assert_eq!(
        parse("/kick bob"),
        cmd(Command::Kick {
            name: "bob",
            reason: None
        })
    );
    assert_eq!(
        parse("/kick bob  stop  that"),
        cmd(Command::Kick {
            name: "bob",
            reason: Some("stop  that")
        })
    );
    assert_eq!(
        parse("/ban bob"),
        cmd(Command::Ban {
            name: "bob",
            minutes: None
        })
    );
    assert_eq!(
        parse("/ban bob 5"),
        cmd(Command::Ban {
            name: "bob",
            minutes: Some(5)
        })
    );
    assert_eq!(
        parse("/unban 10.0.0.1"),
        cmd(Command::Unban("10.0.0.1".parse().unwrap()))
    );
    assert_eq!(
        parse("/unban ::1"),
        cmd(Command::Unban("::1".parse().unwrap()))
    );
    assert_eq!(parse("/bans"), cmd(Command::Bans));
    assert_eq!(parse("/mute bob"), cmd(Command::Mute("bob")));
    assert_eq!(parse("/unmute bob"), cmd(Command::Unmute("bob")));
    assert_eq!(parse("/format JSON"), cmd(Command::Format(true)));
    assert_eq!(parse("/echo on"), cmd(Command::Echo(true)));
    assert_eq!(parse("/whois Bob"), cmd(Command::Whois("Bob")));
    assert_eq!(parse("/whois"), Err(CommandError::Usage("/whois NAME")));
    assert_eq!(
        parse("/away  gone  fishing "),
        cmd(Command::Away(Some("gone  fishing")))
    );
    assert_eq!(parse("/away"), cmd(Command::Away(None)));
    assert_eq!(parse("/ECHO Off"), cmd(Command::Echo(false)));
    assert_eq!(parse("/echo"), Err(CommandError::Usage("/echo on|off")));
    assert_eq!(parse("/format text"), cmd(Command::Format(false)));
    assert_eq!(
        parse("/format xml"),
        Err(CommandError::Usage("/format json|text"))
    );
}

#[test]
fn operator_command_errors() {
    assert_eq!(parse("/pass"), Err(CommandError::Usage("/pass PASSWORD")));
    assert_eq!(parse("/oper "), Err(CommandError::Usage("/oper PASSWORD")));
    assert_eq!(
        parse("/kick"),
        Err(CommandError::Usage("/kick NAME [REASON]"))
    );
    assert_eq!(parse("/kick b@d why"), Err(CommandError::BadName("b@d")));
    assert_eq!(
        parse("/ban"),
        Err(CommandError::Usage("/ban NAME [MINUTES]"))
    );
    assert_eq!(
        parse("/ban a 1 2"),
        Err(CommandError::Usage("/ban NAME [MINUTES]"))
    );
    for bad in ["0", "-1", "x", "525601", "99999999999"] {
        assert_eq!(
            parse(&format!("/ban bob {bad}")),
            Err(CommandError::Usage("/ban NAME [MINUTES] (1 to 525600)"))
        );
    }
    assert_eq!(parse("/unban"), Err(CommandError::Usage("/unban ADDRESS")));
    assert_eq!(parse("/unban bob"), Err(CommandError::BadAddress("bob")));
    assert_eq!(parse("/mute"), Err(CommandError::Usage("/mute NAME")));
    assert_eq!(
        parse("/unmute a b"),
        Err(CommandError::Usage("/unmute NAME"))
    );
}

#[test]
fn command_errors() {
    assert_eq!(parse("/frob x"), Err(CommandError::Unknown("/frob")));
    assert_eq!(parse("/"), Err(CommandError::Unknown("/")));
    assert_eq!(parse("/nick"), Err(CommandError::Usage("/nick NAME")));
    assert_eq!(parse("/nick a b"), Err(CommandError::Usage("/nick NAME")));
    assert_eq!(parse("/nick b@d"), Err(CommandError::BadName("b@d")));
    assert_eq!(
        parse("/msg bob"),
        Err(CommandError::Usage("/msg NAME TEXT"))
    );
    assert_eq!(parse("/msg"), Err(CommandError::Usage("/msg NAME TEXT")));
    assert_eq!(parse("/me"), Err(CommandError::Usage("/me TEXT")));
    assert_eq!(parse("/join"), Err(CommandError::Usage("/join ROOM")));
    assert_eq!(parse("/join a b"), Err(CommandError::Usage("/join ROOM")));
    assert_eq!(parse("/join #"), Err(CommandError::BadRoom("#")));
    assert_eq!(parse("/join ##x"), Err(CommandError::BadRoom("##x")));
    assert_eq!(
        parse(&format!("/join {}", "r".repeat(33))),
        Err(CommandError::BadRoom(&"r".repeat(33)))
    );
    assert_eq!(parse("/who a b"), Err(CommandError::Usage("/who [ROOM]")));
    assert_eq!(parse("/who b@d"), Err(CommandError::BadRoom("b@d")));
    assert_eq!(
        parse("/history 0"),
        Ok(Input::Command(Command::History(Some(0))))
    );
    assert_eq!(
        parse("/history -1"),
        Err(CommandError::Usage(
            "/history [N] or /history before ID [N]"
        ))
    );
    assert_eq!(
        parse("/history before 12 3"),
        Ok(Input::Command(Command::HistoryBefore { id: "12", n: 3 }))
    );
    assert_eq!(
        parse("/history before n1-7"),
        Ok(Input::Command(Command::HistoryBefore {
            id: "n1-7",
            n: PAGE
        }))
    );
    for bad in [
        "/history before",
        "/history before x",
        "/history before 1 0",
        "/history before 1 201",
        "/history before -3",
    ] {
        assert!(matches!(parse(bad), Err(CommandError::Usage(_))), "{bad}");
    }
    assert_eq!(
        parse("/search #Dev ship  it"),
        Ok(Input::Command(Command::Search {
            room: Some("Dev"),
            words: "ship  it"
        }))
    );
    assert_eq!(
        parse("/search ship"),
        Ok(Input::Command(Command::Search {
            room: None,
            words: "ship"
        }))
    );
    assert_eq!(parse("/search #b@d x"), Err(CommandError::BadRoom("#b@d")));
    for bad in ["/search", "/search #dev", "/search #dev   "] {
        assert!(matches!(parse(bad), Err(CommandError::Usage(_))), "{bad}");
    }
    let long = format!("/search {}", "w".repeat(MAX_SEARCH + 1));
    assert!(matches!(parse(&long), Err(CommandError::Usage(_))));
    // Blanks before a command do not make it chat text; blanks before text stay.
    assert_eq!(parse("   /who"), Ok(Input::Command(Command::Who(None))));
    assert_eq!(parse("\t//x"), Ok(Input::Say("/x")));
    assert_eq!(parse("  hi"), Ok(Input::Say("  hi")));
    assert_eq!(
        parse("/history x"),
        Err(CommandError::Usage(
            "/history [N] or /history before ID [N]"
        ))
    );
    assert_eq!(
        CommandError::Unknown("/frob").to_string(),
        "unknown command: /frob (try /help)"
    );
}

#[test]
fn names() {
    assert!(valid_name("a"));
    assert!(valid_name("Bob_the-2nd"));
    assert!(valid_name(&"x".repeat(32)));
    assert!(!valid_name(&"x".repeat(33)));
    assert!(!valid_name(""));
    assert!(!valid_name("bób"));
    assert!(!valid_name("a b"));
    assert!(!valid_name("*bob*"));
}

#[test]
fn sanitize_strips_terminal_controls() {
    assert!(matches!(
        sanitize("plain\ttext"),
        Cow::Borrowed("plain\ttext")
    ));
    assert_eq!(sanitize("\x1b[2Jred\x07\x7f"), "[2Jred");
    assert_eq!(sanitize("a\u{9b}31mb"), "a31mb");
    assert_eq!(sanitize("x\u{202E}y"), "xy");
    assert_eq!(sanitize("olá 👋"), "olá 👋");
}
