//! Certificates made for a test run (rcgen): a CA and a server certificate it signed for
//! `localhost` and 127.0.0.1; an expired one; one from a CA nobody trusts. Written as PEM to a
//! directory of their own, removed when dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};

pub struct Certs {
    dir: PathBuf,
}

impl Certs {
    pub fn new() -> Certs {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chatd-certs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let certs = Certs { dir };
        let (ca, ca_key) = certs.ca("chatd test CA");
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        certs.write("ca.pem", &ca_pem);
        let issuer = Issuer::new(ca, ca_key);
        certs.leaf("server", &issuer, None);
        certs.leaf("expired", &issuer, Some((2020, 2021)));
        let (other, other_key) = certs.ca("someone else");
        let other = Issuer::new(other, other_key);
        certs.leaf("untrusted", &other, None);
        certs
    }

    fn ca(&self, name: &str) -> (CertificateParams, KeyPair) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        (params, KeyPair::generate().unwrap())
    }

    /// `NAME-cert.pem` and `NAME-key.pem`, valid from one year to another if given.
    fn leaf(&self, name: &str, issuer: &Issuer<'_, KeyPair>, years: Option<(i32, i32)>) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        if let Some((from, to)) = years {
            params.not_before = date_time_ymd(from, 1, 1);
            params.not_after = date_time_ymd(to, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        self.write(&format!("{name}-cert.pem"), &cert.pem());
        self.write(&format!("{name}-key.pem"), &key.serialize_pem());
    }

    fn write(&self, file: &str, pem: &str) {
        std::fs::write(self.dir.join(file), pem).unwrap();
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// chatd's arguments for a TLS listener on a free port with the certificate `name`.
    pub fn server_args(&self, name: &str) -> Vec<String> {
        vec![
            "--tls-port".into(),
            "0".into(),
            "--tls-cert".into(),
            self.path(&format!("{name}-cert.pem")).display().to_string(),
            "--tls-key".into(),
            self.path(&format!("{name}-key.pem")).display().to_string(),
        ]
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
