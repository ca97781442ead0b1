//! The page in a real browser (Debian's chromium, headless, over the DevTools protocol), in both
//! concurrency models: a person picks a name, talks with `nc` clients both ways, is in two
//! rooms at once (each its own log, an unread count that rises and clears), leaves one, and
//! comes back to her rooms after the server restarts and after the page is loaded again. Without chromium the test
//! says SKIPPED; `.ci/run` installs it and makes it required.

mod common;

use common::browser::Browser;
use common::{Mode, Server};

both_modes!(
    a_person_in_a_browser_chats_with_nc_users,
    a_registered_person_signs_in_and_a_guest_needs_nothing,
);

/// Types `text` into the input `id` and submits its form.
fn submit(id: &str, text: &str) -> String {
    format!(
        "(() => {{ const i = document.getElementById({id:?}); i.value = {text:?}; \
         i.form.requestSubmit(); return true; }})()"
    )
}

/// Reads `c`'s lines up to `want`, letting other notices go by.
fn until_notice(c: &mut common::Client, want: &str) {
    loop {
        let line = c.line();
        if line == want {
            return;
        }
        assert!(
            line.starts_with("* "),
            "{} expected {want:?}, got {line:?}",
            c.name
        );
    }
}

/// Whether the room shown has `text` (the other rooms' logs are hidden).
fn log_has(text: &str) -> String {
    format!("document.getElementById('log').innerText.includes({text:?})")
}

/// The unread count of `room` in the page's list of rooms ("" for none).
fn unread_text(room: &str) -> String {
    format!("document.querySelector('#joined li[data-room={room}] .unread').innerText")
}

fn unread(room: &str, count: &str) -> String {
    format!("({}) === {count:?}", unread_text(room))
}

fn a_person_in_a_browser_chats_with_nc_users(mode: Mode) {
    let Some(mut browser) = Browser::start() else {
        return;
    };
    let server = Server::start_with(mode, &["--web-port", "0"]);
    let url = format!("http://{}/", server.web_addr.unwrap());
    let mut nc = server.client();
    let alice = browser.open(&url);
    browser.until(
        &alice,
        "the page loads",
        "document.readyState === 'complete' && document.getElementById('name') !== null",
    );
    browser.eval(&alice, &submit("name", "alice"));
    browser.until(
        &alice,
        "alice is in",
        "document.getElementById('online').innerText.includes('alice (you)')",
    );
    // The nc client sees her come under her name (her first line is her /nick: she is
    // announced once, as alice), or come and take it.
    loop {
        let line = nc.line();
        if line == "* alice joined" || line.ends_with(" is now alice") {
            break;
        }
        assert!(line.starts_with("* "), "{line}");
    }
    // A line from the page reaches nc as any line does, and one from nc shows on the page.
    browser.eval(&alice, &submit("line", "hello from a browser"));
    nc.expect_after_joins("<alice> hello from a browser");
    nc.send("hello from nc");
    browser.until(&alice, "nc's line shows", &log_has("hello from nc"));
    browser.until(
        &alice,
        "nc is online",
        &format!(
            "document.getElementById('online').innerText.includes({:?})",
            nc.name
        ),
    );
    // Alice adds #dev to her rooms: the lobby does not hear of it (she is still there), and
    // #dev is shown.
    browser.eval(&alice, &submit("room", "#dev"));
    browser.until(
        &alice,
        "alice is in two rooms, #dev shown",
        "document.getElementById('title').innerText === 'chatd: #dev' && \
         document.querySelectorAll('#joined li').length === 2",
    );
    let mut dev = server.client();
    dev.send("/join dev");
    // (Past the lobby's history, which has alice's line.)
    while dev.line() != "* you are in #dev (2 here)" {}
    // A line in the lobby, the room not shown: its unread count rises, the shown log lacks it.
    nc.send("for the lobby");
    browser.until(&alice, "the lobby has one unread", &unread("lobby", "1"));
    nc.send("again for the lobby");
    browser.until(&alice, "the lobby has two unread", &unread("lobby", "2"));
    dev.send("in dev");
    browser.until(&alice, "#dev's line shows", &log_has("in dev"));
    assert_eq!(
        browser.eval(&alice, &log_has("for the lobby")),
        serde_json::json!(false),
        "the lobby's lines showed in #dev"
    );
    assert_eq!(
        browser.eval(&alice, &unread_text("dev")),
        serde_json::json!("")
    );
    // Plain lines go to #dev; back in the lobby, its lines are there and the count is cleared.
    browser.eval(&alice, &submit("line", "hello dev"));
    until_notice(&mut dev, "<alice> hello dev");
    browser.eval(
        &alice,
        "document.querySelector('#joined li[data-room=lobby] .switch').click()",
    );
    browser.until(
        &alice,
        "the lobby is shown, read",
        &format!(
            "document.getElementById('title').innerText === 'chatd: #lobby' && {} && {}",
            log_has("again for the lobby"),
            unread("lobby", "")
        ),
    );
    browser.eval(&alice, &submit("line", "hello lobby"));
    until_notice(&mut nc, "<alice> hello lobby");
    // Leaving #dev: its member hears it, the list loses it.
    browser.eval(
        &alice,
        "document.querySelector('#joined li[data-room=dev] .leave').click()",
    );
    until_notice(&mut dev, "* alice left");
    browser.until(
        &alice,
        "#dev is gone from her rooms",
        "document.querySelectorAll('#joined li').length === 1",
    );
    nc.send("/who");
    let name = nc.name.clone();
    until_notice(&mut nc, &format!("* online in #lobby (2): alice, {name}"));
    // The `/me` a forger types is a `me` line, not a rename: the list keeps the name.
    nc.send("/me is now admin");
    browser.until(&alice, "the /me shows", &log_has("is now admin"));
    let online = browser.eval(&alice, "document.getElementById('online').innerText");
    assert!(
        online.as_str().unwrap().contains(&nc.name) && !online.as_str().unwrap().contains("admin"),
        "{online}"
    );
    if let Some(dir) = std::env::var_os("CHATD_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(
            dir.join("web-desktop.png"),
            browser.screenshot(&alice, 1000, 560),
        )
        .unwrap();
        std::fs::write(
            dir.join("web-phone.png"),
            browser.screenshot(&alice, 390, 700),
        )
        .unwrap();
    }
    // The server goes away and comes back on the same port: the page says so, reconnects by
    // itself, and comes back with the same name, in the same rooms, the same one shown.
    browser.eval(&alice, &submit("room", "ops"));
    browser.eval(&alice, &submit("room", "dev"));
    browser.until(
        &alice,
        "alice is in three rooms, #dev shown",
        "document.getElementById('title').innerText === 'chatd: #dev' && \
         document.querySelectorAll('#joined li').length === 3",
    );
    let web_port = server.web_addr.unwrap().port().to_string();
    drop((nc, dev));
    drop(server);
    browser.until(
        &alice,
        "the page says it is disconnected",
        "document.getElementById('status').innerText.startsWith('disconnected')",
    );
    let server = Server::start_with(mode, &["--web-port", &web_port]);
    let mut nc = server.client();
    let back = "document.getElementById('status').innerText.startsWith('connected') && \
         document.getElementById('title').innerText === 'chatd: #dev' && \
         document.querySelectorAll('#joined li').length === 3 && \
         document.getElementById('online').innerText.includes('alice (you)')";
    browser.until(&alice, "the page is back, as alice, in her rooms", back);
    for room in ["dev", "ops", "lobby"] {
        nc.send(&format!("/who {room}"));
        let who = loop {
            let line = nc.line();
            if line.starts_with("* online in #") {
                break line;
            }
        };
        assert!(
            who.starts_with(&format!("* online in #{room} (")) && who.contains("alice"),
            "{who}"
        );
    }
    // A new visit in the same browser (the page loaded again) goes back to them too.
    browser.eval(&alice, "location.reload()");
    browser.until(
        &alice,
        "the page loads again",
        "document.readyState === 'complete' && !document.getElementById('login').hidden",
    );
    browser.eval(&alice, &submit("name", "alice"));
    browser.until(&alice, "the new visit is in her rooms", back);
}

/// Fills the sign-in box and submits it.
fn sign_in(name: &str, password: &str) -> String {
    format!(
        "(() => {{ document.getElementById('name').value = {name:?}; \
         document.getElementById('password').value = {password:?}; \
         document.getElementById('login').requestSubmit(); return true; }})()"
    )
}

fn a_registered_person_signs_in_and_a_guest_needs_nothing(mode: Mode) {
    let Some(mut browser) = Browser::start() else {
        return;
    };
    let server = Server::start_with(mode, &["--web-port", "0"]);
    let url = format!("http://{}/", server.web_addr.unwrap());
    let mut owner = server.client();
    owner.send("/nick alice");
    owner.expect("* you are now alice");
    owner.send("/register alices-secret");
    owner.expect("* alice is registered: it is yours (/login alice PASSWORD takes it back)");
    let mut nc = server.client();
    // Gone before the message: it waits (and does not reach her old connection).
    drop(owner);
    until_notice(&mut nc, "* alice left");
    nc.send("/msg alice waited for you");
    until_notice(
        &mut nc,
        "* alice is away: your message waits for their next login",
    );
    let loaded = "document.readyState === 'complete' && document.getElementById('name') !== null";
    // A wrong password: told, and not kept for the next try.
    let wrong = browser.open(&url);
    browser.until(&wrong, "the page loads", loaded);
    browser.eval(&wrong, &sign_in("alice", "not-hers-at-all"));
    browser.until(
        &wrong,
        "the wrong password is told",
        &log_has("wrong name or password"),
    );
    assert_eq!(
        browser.eval(&wrong, "sessionStorage.getItem('chatd.password')"),
        serde_json::json!(null)
    );
    // The right one: she is alice, and what waited for her is shown.
    let alice = browser.open(&url);
    browser.until(&alice, "the page loads", loaded);
    browser.eval(&alice, &sign_in("alice", "alices-secret"));
    browser.until(&alice, "alice is signed in", &log_has("logged in as alice"));
    browser.until(
        &alice,
        "alice is online as herself",
        "document.getElementById('online').innerText.includes('alice (you)')",
    );
    browser.until(
        &alice,
        "the message that waited shows",
        &log_has("(while you were away) waited for you"),
    );
    // Kept for this tab's session only, and never shown.
    assert_eq!(
        browser.eval(&alice, "sessionStorage.getItem('chatd.password')"),
        serde_json::json!("alices-secret")
    );
    assert_eq!(
        browser.eval(
            &alice,
            "JSON.stringify(localStorage).includes('alices-secret') || \
             document.body.innerText.includes('alices-secret')"
        ),
        serde_json::json!(false)
    );
    // Logged in with its first line: announced once, as alice (or, had the page been slower
    // than the server's grace, as a guest who took her name).
    loop {
        let line = nc.line();
        if line == "* alice joined" || line.ends_with(" is now alice") {
            break;
        }
        assert!(line.starts_with("* "), "{line}");
    }
    browser.eval(&alice, &submit("line", "signed in and here"));
    nc.expect_after_joins("<alice> signed in and here");
    // A guest needs no name and no password.
    let guest = browser.open(&url);
    browser.until(&guest, "the page loads", loaded);
    browser.eval(&guest, "document.getElementById('guest').click(), true");
    browser.until(
        &guest,
        "the guest is in",
        "/guest[0-9]+ \\(you\\)/.test(document.getElementById('online').innerText)",
    );
}
