//! The web layer: any bytes, in any chunks, as a connection to the web port might send them
//! (an HTTP request, then WebSocket frames, or garbage at either stage), with the server's
//! lines going out meanwhile. Nothing may panic; what reaches the framer stays within the
//! limit per frame; what waits for the socket stays bounded.
#![no_main]

use std::sync::Arc;

use chatd::connection::web::Web;
use chatd::http::Site;
use libfuzzer_sys::fuzz_target;

const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max_line = data[0] as usize % 200 + 1;
    let chunk = data[1] as usize % 64 + 1;
    let mut web = Web::new(Arc::new(Site::default()), max_line);
    // Half the inputs start upgraded, so that the frames get most of the time.
    if data[0] & 1 == 1 {
        web.take(UPGRADE);
    }
    let mut buf = [0u8; 256];
    let mut given = Vec::new();
    for piece in data[2..].chunks(chunk) {
        web.take(piece);
        loop {
            let n = web.give(&mut buf);
            if n == 0 {
                break;
            }
            given.extend_from_slice(&buf[..n]);
        }
        for line in given.split(|&b| b == b'\n') {
            assert!(line.len() <= max_line, "a line of {} bytes", line.len());
        }
        given.clear();
        web.send(b"{\"type\":\"chat\"}\nsecond line\n");
        let n = web.out().len();
        web.sent(n);
        assert!(web.out().is_empty());
        if web.ended() {
            break;
        }
    }
    web.close();
});
