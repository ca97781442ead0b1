//! A relay between a client and a server that the test can cut: every connection through it
//! ends at once (both sides closed), as a network cut or `ss -K` would end it, while the
//! server and the relay stay up for the client to come back through.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

pub struct Cut {
    pub addr: SocketAddr,
    /// Both ends of every connection relayed so far.
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cut {
    /// Relays connections made to [`Cut::addr`] (127.0.0.1, a free port) to `server`.
    pub fn to(server: SocketAddr) -> Cut {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let kept = Arc::clone(&open);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(upstream) = TcpStream::connect(server) else {
                    continue;
                };
                let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                    continue;
                };
                {
                    let mut open = kept.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(upstream.try_clone().unwrap());
                }
                thread::spawn(move || copy(client, u2));
                thread::spawn(move || copy(upstream, c2));
            }
        });
        Cut { addr, open }
    }

    /// Ends every connection relayed so far.
    pub fn cut(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
