//! The web listener's HTTP (`--web-port`): one request per connection, parsed with `httparse`
//! and answered: the page and its two files, the upgrade to a WebSocket at `/ws` (RFC 6455:
//! the key, the version, the `Origin` checked against the allowed ones), the operator's
//! `/metrics` (Prometheus) and `/healthz`, and a short refusal for anything else. The request's
//! bytes in, the answer's bytes out (the metrics read as they are).

/// Longest request taken (its line and headers); a longer one is refused (431).
pub const MAX_REQUEST: usize = 8192;

/// The page, compiled in: no build step, nothing fetched from elsewhere.
const INDEX: &str = include_str!("../web/index.html");
const SCRIPT: &str = include_str!("../web/chat.js");
const STYLE: &str = include_str!("../web/chat.css");

/// What the web listener serves, and to whom.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// Origins allowed besides the page's own (`--web-origin`), as `scheme://host[:port]`.
    pub origins: Vec<String>,
    /// Served over TLS: the page's own origin is `https://HOST`.
    pub tls: bool,
}

/// What to do with what a connection sent so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Not a whole request yet: read on.
    Incomplete,
    /// Send `response` (101), then speak WebSocket; the request took `consumed` bytes (what
    /// follows is the first frames).
    Upgrade { response: Vec<u8>, consumed: usize },
    /// Send `response` and close: a file, or a refusal (`refused` says why, for the log).
    Close {
        response: Vec<u8>,
        refused: Option<String>,
    },
}

/// Answers the request at the start of `buf`.
pub fn answer(buf: &[u8], site: &Site) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST => return Answer::Incomplete,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return refuse(431, "Request Header Fields Too Large", "request too large");
        }
        Err(e) => return refuse(400, "Bad Request", &format!("bad request: {e}")),
    };
    if consumed > MAX_REQUEST {
        return refuse(431, "Request Header Fields Too Large", "request too large");
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let method = req.method.unwrap_or_default();
    let path = req.path.unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    if method != "GET" {
        return refuse(405, "Method Not Allowed", &format!("method {method}"));
    }
    match path {
        "/" | "/index.html" => file("text/html; charset=utf-8", INDEX),
        "/chat.js" => file("text/javascript; charset=utf-8", SCRIPT),
        "/chat.css" => file("text/css; charset=utf-8", STYLE),
        "/ws" => upgrade(&header, site, consumed),
        "/metrics" => file(
            "text/plain; version=0.0.4; charset=utf-8",
            &crate::metrics::METRICS.render(),
        ),
        "/healthz" => {
            let (code, body) = crate::metrics::METRICS.health();
            let reason = if code == 200 {
                "OK"
            } else {
                "Service Unavailable"
            };
            let response = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            Answer::Close {
                response: response.into_bytes(),
                refused: None,
            }
        }
        _ => refuse(404, "Not Found", &format!("no {path}")),
    }
}

/// The WebSocket handshake's answer.
fn upgrade<'a>(header: &impl Fn(&str) -> Option<&'a str>, site: &Site, consumed: usize) -> Answer {
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("Upgrade", "websocket") || !has_token("Connection", "upgrade") {
        return refuse(426, "Upgrade Required", "/ws without a WebSocket upgrade");
    }
    if header("Sec-WebSocket-Version") != Some("13") {
        return refuse(400, "Bad Request", "WebSocket version is not 13");
    }
    let Some(key) = header("Sec-WebSocket-Key").filter(|k| k.len() == 24) else {
        return refuse(400, "Bad Request", "no valid Sec-WebSocket-Key");
    };
    // A browser always says where the page that opens the socket came from; a program need
    // not (and a page elsewhere cannot pretend to be it).
    if let Some(origin) = header("Origin") {
        let host = header("Host").unwrap_or_default();
        if !origin_allowed(origin, host, site) {
            let own = own_origin(host, site);
            return refuse(
                403,
                "Forbidden",
                &format!(
                    "WebSocket from origin {origin} refused (allowed: {own}{})",
                    {
                        site.origins
                            .iter()
                            .map(|o| format!(", {o}"))
                            .collect::<String>()
                    }
                ),
            );
        }
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    Answer::Upgrade {
        response: response.into_bytes(),
        consumed,
    }
}

/// The page's own origin, as a browser names it.
fn own_origin(host: &str, site: &Site) -> String {
    let scheme = if site.tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// Whether a page from `origin` may open a WebSocket here: the page's own origin (the `Host`
/// it asks), or one of `--web-origin`'s.
pub fn origin_allowed(origin: &str, host: &str, site: &Site) -> bool {
    let origin = origin.trim_end_matches('/');
    (!host.is_empty() && origin.eq_ignore_ascii_case(&own_origin(host, site)))
        || site
            .origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

fn file(kind: &str, body: &str) -> Answer {
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'self'; connect-src 'self' ws: wss:\r\n\
         Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Answer::Close {
        response: response.into_bytes(),
        refused: None,
    }
}

/// A refusal: its status line and a short body. `refused` says why, for the log, after the
/// status code (`404: no /favicon.ico`), by which the log keeps a browser's routine 404s
/// (it asks for `/favicon.ico` by itself) at debug level and the rest at info.
fn refuse(code: u16, reason: &str, why: &str) -> Answer {
    let body = format!("{code} {reason}\n");
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Answer::Close {
        response: response.into_bytes(),
        refused: Some(format!("{code}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn ws_request(extra: &str) -> String {
        format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    fn status(a: &Answer) -> String {
        let bytes = match a {
            Answer::Upgrade { response, .. } | Answer::Close { response, .. } => response,
            Answer::Incomplete => return "incomplete".into(),
        };
        String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn the_page_and_its_files_are_served() {
        let site = Site::default();
        let a = answer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &site);
        assert_eq!(status(&a), "HTTP/1.1 200 OK");
        let Answer::Close { response, refused } = a else {
            panic!()
        };
        assert!(refused.is_none());
        let text = String::from_utf8(response).unwrap();
        assert!(text.contains("text/html") && text.contains("<html"));
        for path in ["/chat.js", "/chat.css", "/index.html?x=1"] {
            let req = format!("GET {path} HTTP/1.1\r\n\r\n");
            assert_eq!(status(&answer(req.as_bytes(), &site)), "HTTP/1.1 200 OK");
        }
        assert_eq!(
            status(&answer(b"GET /nope HTTP/1.1\r\n\r\n", &site)),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            status(&answer(b"POST / HTTP/1.1\r\n\r\n", &site)),
            "HTTP/1.1 405 Method Not Allowed"
        );
    }

    #[test]
    fn the_upgrade_follows_rfc_6455() {
        let req = ws_request("Origin: http://127.0.0.1:8080\r\n");
        let a = answer(req.as_bytes(), &Site::default());
        let Answer::Upgrade { response, consumed } = a else {
            panic!("{a:?}")
        };
        assert_eq!(consumed, req.len());
        let text = String::from_utf8(response).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        // The RFC's own example key and answer.
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        // Without an Origin (a program, not a browser): let in.
        assert!(matches!(
            answer(ws_request("").as_bytes(), &Site::default()),
            Answer::Upgrade { .. }
        ));
    }

    #[test]
    fn other_origins_are_refused_unless_allowed() {
        let req = ws_request("Origin: https://evil.example\r\n");
        let a = answer(req.as_bytes(), &Site::default());
        assert_eq!(status(&a), "HTTP/1.1 403 Forbidden");
        let Answer::Close {
            refused: Some(why), ..
        } = a
        else {
            panic!()
        };
        assert!(why.contains("https://evil.example"), "{why}");
        let site = Site {
            origins: vec!["https://evil.example/".into()],
            tls: false,
        };
        assert!(matches!(
            answer(req.as_bytes(), &site),
            Answer::Upgrade { .. }
        ));
        // Over TLS the page's own origin is https.
        let tls = Site {
            tls: true,
            ..Site::default()
        };
        let own = ws_request("Origin: https://127.0.0.1:8080\r\n");
        assert!(matches!(
            answer(own.as_bytes(), &tls),
            Answer::Upgrade { .. }
        ));
        let plain = ws_request("Origin: http://127.0.0.1:8080\r\n");
        assert_eq!(
            status(&answer(plain.as_bytes(), &tls)),
            "HTTP/1.1 403 Forbidden"
        );
    }

    #[test]
    fn broken_requests_are_refused_or_waited_for() {
        let site = Site::default();
        assert_eq!(
            answer(b"GET / HTTP/1.1\r\nHost:", &site),
            Answer::Incomplete
        );
        assert_eq!(
            status(&answer(b"\x00\x01garbage\r\n\r\n", &site)),
            "HTTP/1.1 400 Bad Request"
        );
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST));
        assert_eq!(
            status(&answer(long.as_bytes(), &site)),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        let no_upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            status(&answer(no_upgrade, &site)),
            "HTTP/1.1 426 Upgrade Required"
        );
        let old = ws_request("").replace("Version: 13", "Version: 8");
        assert_eq!(
            status(&answer(old.as_bytes(), &site)),
            "HTTP/1.1 400 Bad Request"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_get_an_answer_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = answer(&bytes, &Site::default());
        }
    }
}
