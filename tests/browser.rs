//! The page in a real browser (Debian's chromium, headless, over the DevTools protocol), in both
//! concurrency models: a person picks a name, talks with an `nc` client both ways, and a
//! second page in another room does not see the first room's lines. Without chromium the test
//! says SKIPPED; `.ci/run` installs it and makes it required.

mod common;

use common::browser::Browser;
use common::{Mode, Server};

both_modes!(a_person_in_a_browser_chats_with_nc_users);

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

fn log_has(text: &str) -> String {
    format!("document.getElementById('log').innerText.includes({text:?})")
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
    // The nc client sees her come and take her name.
    loop {
        let line = nc.line();
        if line.ends_with(" is now alice") {
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
    // A second page, in another room, does not see the lobby's lines.
    let bob = browser.open(&url);
    browser.until(
        &bob,
        "the page loads",
        "document.readyState === 'complete' && document.getElementById('name') !== null",
    );
    browser.eval(&bob, &submit("name", "bob"));
    browser.until(
        &bob,
        "bob is in",
        "document.getElementById('online').innerText.includes('bob (you)')",
    );
    browser.eval(&bob, &submit("room", "#elsewhere"));
    browser.until(
        &bob,
        "bob moved",
        "document.getElementById('title').innerText === 'chatd: #elsewhere'",
    );
    until_notice(&mut nc, "* bob went to #elsewhere");
    nc.send("only for the lobby");
    browser.until(&alice, "alice gets it", &log_has("only for the lobby"));
    // Bob's page has heard from the server since (its own /who), and still lacks the line.
    browser.eval(&bob, &submit("line", "/who"));
    browser.until(
        &bob,
        "bob's /who answered",
        "document.getElementById('online').innerText.trim() === 'bob (you)'",
    );
    assert_eq!(
        browser.eval(&bob, &log_has("only for the lobby")),
        serde_json::json!(false),
        "a page in another room got the lobby's line"
    );
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
    // itself, and comes back with the same name, in the same room.
    browser.eval(&alice, &submit("room", "dev"));
    browser.until(
        &alice,
        "alice moved",
        "document.getElementById('title').innerText === 'chatd: #dev'",
    );
    let web_port = server.web_addr.unwrap().port().to_string();
    drop(server);
    browser.until(
        &alice,
        "the page says it is disconnected",
        "document.getElementById('status').innerText.startsWith('disconnected')",
    );
    let server = Server::start_with(mode, &["--web-port", &web_port]);
    let mut nc = server.client();
    browser.until(
        &alice,
        "the page is back, as alice, in #dev",
        "document.getElementById('status').innerText.startsWith('connected') && \
         document.getElementById('title').innerText === 'chatd: #dev' && \
         document.getElementById('online').innerText.includes('alice (you)')",
    );
    nc.send("/who dev");
    let who = loop {
        let line = nc.line();
        if line.starts_with("* online in #dev") {
            break line;
        }
    };
    assert_eq!(who, "* online in #dev (1): alice");
}
