//! The client's connection, plain or TLS, split in two halves for two threads: a
//! [`LinkReader`] that blocks reading, and [`LinkWriter`]s that send. Over TLS both share one
//! [`Tls`] layer; the reader never holds it while it waits for the socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::tls::Tls;

/// How long the TLS handshake may take.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

/// Splits `stream` into its two halves; over TLS, once the handshake is done (certificate
/// errors show here).
pub fn split(stream: TcpStream, tls: Option<Tls>) -> io::Result<(LinkReader, LinkWriter)> {
    let tcp = stream.try_clone()?;
    let tls = match tls {
        None => None,
        Some(mut tls) => {
            let set_timeout = |s: &mut &TcpStream, t: Duration| {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            };
            tls.handshake(&mut &stream, set_timeout, HANDSHAKE_TIME, |_| Ok(()))?;
            stream.set_read_timeout(None)?;
            stream.set_write_timeout(None)?;
            Some(Arc::new(Mutex::new(tls)))
        }
    };
    let reader = LinkReader {
        stream,
        tls: tls.clone(),
        plain: Vec::new(),
        at: 0,
    };
    Ok((reader, LinkWriter { stream: tcp, tls }))
}

fn lock(tls: &Mutex<Tls>) -> MutexGuard<'_, Tls> {
    tls.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct LinkReader {
    stream: TcpStream,
    tls: Option<Arc<Mutex<Tls>>>,
    /// Plaintext decrypted and not read yet, from `at`.
    plain: Vec<u8>,
    at: usize,
}

impl Read for LinkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return self.stream.read(buf);
        };
        let mut raw = [0u8; 8192];
        while self.at == self.plain.len() {
            self.plain.clear();
            self.at = 0;
            let n = self.stream.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            let mut tls = lock(tls);
            let open = tls.receive(&raw[..n], &mut self.plain)?;
            tls.write_to(&mut self.stream)?;
            if !open && self.plain.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.plain.len() - self.at);
        buf[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

pub struct LinkWriter {
    stream: TcpStream,
    tls: Option<Arc<Mutex<Tls>>>,
}

impl LinkWriter {
    pub fn try_clone(&self) -> io::Result<LinkWriter> {
        Ok(LinkWriter {
            stream: self.stream.try_clone()?,
            tls: self.tls.clone(),
        })
    }

    /// Bounds how long the reader waits from now on (used when leaving).
    pub fn set_read_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(limit)
    }
}

impl Write for LinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return self.stream.write(buf);
        };
        let mut tls = lock(tls);
        let n = tls.write_plain(buf);
        tls.write_to(&mut self.stream)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &self.tls {
            Some(tls) => lock(tls).write_to(&mut self.stream),
            None => Ok(()),
        }
    }
}
