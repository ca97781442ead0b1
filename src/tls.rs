//! TLS, as a layer between a socket and the line framer: bytes read from the socket go in,
//! plaintext lines come out; plaintext goes in, bytes for the socket come out. rustls with the
//! ring provider: no OpenSSL.
//!
//! [`Tls`] never owns the socket, so each concurrency model keeps its own sockets and
//! scheduling: poll mode reads and writes non-blocking sockets through it, threads mode feeds it
//! what a blocking read returned and writes what it produces without blocking. What it buffers
//! is bounded: rustls's received plaintext by its own limits, and the plaintext and records
//! waiting to be written by [`BUFFER_LIMIT`].

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Most plaintext and encrypted bytes waiting to go out, per connection: past it, the rest
/// stays in the connection's own output buffer, which `--max-backlog` bounds.
pub const BUFFER_LIMIT: usize = 64 * 1024;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side's settings, from a PEM certificate chain and a PEM private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// How a client checks the server's certificate.
pub enum Trust<'a> {
    /// The system's root certificates.
    System,
    /// The certificates (PEM) in this file.
    Ca(&'a Path),
    /// Nothing: any certificate is taken. Encrypts, but anyone in between can read it all.
    Insecure,
}

/// The client side's settings.
pub fn client_config(trust: Trust<'_>) -> Result<Arc<rustls::ClientConfig>, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        Trust::Insecure => {
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(insecure::AnyCertificate(provider())))
                .with_no_client_auth();
            return Ok(Arc::new(config));
        }
        Trust::Ca(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
            {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{}: no certificate in it", path.display()));
            }
        }
        Trust::System => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no system root certificates found; use --tls-ca".into());
            }
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// One connection's TLS state, over a socket it does not own.
pub struct Tls {
    conn: rustls::Connection,
}

impl Tls {
    pub fn server(config: &Arc<rustls::ServerConfig>) -> io::Result<Tls> {
        let conn = rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        Ok(Tls::new(conn.into()))
    }

    /// A client connection to `host` (a DNS name or an IP address, as the certificate names it).
    pub fn client(config: &Arc<rustls::ClientConfig>, host: &str) -> io::Result<Tls> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn =
            rustls::ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        Ok(Tls::new(conn.into()))
    }

    fn new(mut conn: rustls::Connection) -> Tls {
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        Tls { conn }
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Encrypted bytes are waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Reads plaintext into `buf`, reading the socket as needed. `Ok(0)` is the end of input
    /// (the peer's `close_notify`, or the socket's end); a socket with nothing to read gives
    /// `WouldBlock` (or blocks, if it is blocking). A TLS error is `InvalidData`, after its
    /// alert is queued (see [`Tls::write_to`]).
    pub fn read_from(&mut self, sock: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.conn.read_tls(sock)? == 0 {
                return Ok(0);
            }
            self.process()?;
        }
    }

    /// Takes `raw`, bytes read from the socket, and appends the plaintext they carried to
    /// `plain`. Returns false once the peer has closed (`close_notify`).
    pub fn receive(&mut self, mut raw: &[u8], plain: &mut Vec<u8>) -> io::Result<bool> {
        while !raw.is_empty() {
            self.conn.read_tls(&mut raw)?;
            self.process()?;
            if !self.drain_plaintext(plain)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Moves the plaintext received so far to `plain`; false if the peer has closed.
    fn drain_plaintext(&mut self, plain: &mut Vec<u8>) -> io::Result<bool> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.conn.reader().read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => plain.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }

    /// Takes as much of `plain` as [`BUFFER_LIMIT`] allows, to be encrypted and sent (during
    /// the handshake it waits for it); returns how much.
    pub fn write_plain(&mut self, plain: &[u8]) -> usize {
        self.conn.writer().write(plain).unwrap_or(0)
    }

    /// Writes encrypted bytes to `sock` until none are left (`Ok`) or the socket takes no more
    /// (`WouldBlock`).
    pub fn write_to(&mut self, sock: &mut impl Write) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes `plain` through TLS to a non-blocking `sock`: returns how much of it was taken
    /// (encrypted bytes the socket did not take stay queued: see [`Tls::wants_write`]).
    pub fn send(&mut self, sock: &mut impl Write, plain: &[u8]) -> io::Result<usize> {
        let mut taken = 0;
        loop {
            match self.write_to(sock) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
                Err(e) => return Err(e),
            }
            if taken == plain.len() {
                return Ok(taken);
            }
            let n = self.write_plain(&plain[taken..]);
            if n == 0 {
                return Ok(taken);
            }
            taken += n;
        }
    }

    /// Queues a `close_notify`: the end of what this side sends.
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Completes the handshake on a blocking socket within `limit`. The costly steps (each
    /// processing of what arrived, where the public-key work is) run while holding what
    /// `permit` returns, asked for anew each time; waiting for the peer holds nothing.
    pub fn handshake<S: Read + Write, P>(
        &mut self,
        sock: &mut S,
        set_timeout: impl Fn(&mut S, Duration) -> io::Result<()>,
        limit: Duration,
        mut permit: impl FnMut(Instant) -> io::Result<P>,
    ) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            set_timeout(sock, left)?;
            if self.conn.wants_write() {
                self.write_to(sock)?;
                continue;
            }
            if !self.conn.is_handshaking() {
                return Ok(());
            }
            if self.conn.read_tls(sock)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the TLS handshake",
                ));
            }
            let step = permit(deadline).and_then(|_permit| self.process());
            if let Err(e) = step {
                let _ = self.write_to(sock);
                return Err(e);
            }
        }
    }
}

mod insecure {
    //! `--tls-insecure`: a verifier that takes any certificate (signatures are still checked,
    //! so the handshake is real; who signed is not).

    use std::sync::Arc;

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    pub struct AnyCertificate(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
