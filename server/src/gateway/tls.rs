//! The server's TLS configuration: the operator's certificate and key, or
//! a self-signed certificate generated on first start and kept beside
//! the data so clients can pin it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// Where the certificate comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// PEM files given by the operator.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate in this directory, made if missing.
    SelfSigned { dir: PathBuf, hostname: String },
}

fn bad(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::BadInput(format!("{what} {}: {e}", path.display()))
}

/// The TLS acceptor for all gateways.
pub fn acceptor(source: &Source) -> Result<TlsAcceptor> {
    let (cert, key) = match source {
        Source::Files { cert, key } => (cert.clone(), key.clone()),
        Source::SelfSigned { dir, hostname } => self_signed(dir, hostname)?,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| bad("cannot read the certificate", &cert, e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad("cannot read the certificate", &cert, e))?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| bad("cannot read the key", &key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::BadInput(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::BadInput(format!("TLS certificate and key do not work together: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// `dir/cert.pem` and `dir/key.pem`, generated for `hostname` and
/// `localhost` when absent.
fn self_signed(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).map_err(|e| bad("cannot create", dir, e))?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !names.contains(&hostname.to_owned()) {
        names.push(hostname.to_owned());
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::BadInput(format!("cannot make a certificate: {e}")))?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert, generated.cert.pem()).map_err(|e| bad("cannot write", &cert, e))?;
    tracing::info!("generated a self-signed TLS certificate: {}", cert.display());
    Ok((cert, key))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| bad("cannot write", path, e))?;
    file.write_all(data).map_err(|e| bad("cannot write", path, e))
}
