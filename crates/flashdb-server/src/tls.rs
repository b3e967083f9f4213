//! TLS for the RESP port, with rustls: the server certificate and key, the CA that
//! client certificates must chain to, whether clients must present one, and the
//! protocol versions, under Redis's parameter names. The configuration is rebuilt from
//! the files on `CONFIG SET tls-*` and on SIGHUP, and swapped in for new connections;
//! open connections keep theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// Whether clients must present a certificate (`tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Required: a client without a valid certificate is refused.
    Yes,
    /// Not asked for.
    No,
    /// Asked for; a client may go without, but a certificate it sends must be valid.
    Optional,
}

impl ClientAuth {
    /// Parses `yes`, `no` or `optional`.
    pub fn parse(s: &str) -> Option<ClientAuth> {
        match s.to_ascii_lowercase().as_str() {
            "yes" => Some(ClientAuth::Yes),
            "no" => Some(ClientAuth::No),
            "optional" => Some(ClientAuth::Optional),
            _ => None,
        }
    }
}

/// What the TLS configuration is built from.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// `tls-cert-file`: the server's certificate chain (PEM).
    pub cert_file: Option<PathBuf>,
    /// `tls-key-file`: its private key (PEM).
    pub key_file: Option<PathBuf>,
    /// `tls-ca-cert-file`: the CA certificates client certificates must chain to (PEM).
    pub ca_cert_file: Option<PathBuf>,
    /// `tls-auth-clients`.
    pub auth_clients: ClientAuth,
    /// `tls-protocols`: `TLSv1.2`, `TLSv1.3`, or both (space-separated).
    pub protocols: String,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A parameter that must be set is not.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A file could not be read or holds no usable PEM item.
    #[error("cannot read {what} from {path}: {cause}")]
    File {
        /// Which parameter's file.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },
    /// `tls-protocols` names something else.
    #[error("tls-protocols: unknown protocol {0:?} (use TLSv1.2 and/or TLSv1.3)")]
    Protocol(String),
    /// rustls refused the combination (a key that does not match the certificate, ...).
    #[error("{0}")]
    Rustls(String),
}

fn file_error(what: &'static str, path: &Path, cause: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        cause: cause.to_string(),
    }
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no certificate in the file"));
    }
    Ok(certs)
}

impl TlsSettings {
    /// The settings from parameter values (`tls-cert-file`, ...), as `CONFIG GET` names
    /// them; an unset or empty one is none.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> TlsSettings {
        let path = |n: &str| get(n).filter(|v| !v.is_empty()).map(PathBuf::from);
        TlsSettings {
            cert_file: path("tls-cert-file"),
            key_file: path("tls-key-file"),
            ca_cert_file: path("tls-ca-cert-file"),
            auth_clients: get("tls-auth-clients")
                .and_then(|v| ClientAuth::parse(&v))
                .unwrap_or(ClientAuth::Yes),
            protocols: get("tls-protocols").unwrap_or_default(),
        }
    }
}

/// Builds a rustls server configuration from the settings.
pub fn build(s: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut versions = Vec::new();
    for p in s.protocols.split_whitespace() {
        match p.to_ascii_lowercase().as_str() {
            "tlsv1.2" => versions.push(&rustls::version::TLS12),
            "tlsv1.3" => versions.push(&rustls::version::TLS13),
            _ => return Err(TlsError::Protocol(p.to_string())),
        }
    }
    if versions.is_empty() {
        versions = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    }
    let cert_file = s
        .cert_file
        .as_deref()
        .ok_or(TlsError::Missing("tls-cert-file"))?;
    let key_file = s
        .key_file
        .as_deref()
        .ok_or(TlsError::Missing("tls-key-file"))?;
    let certs = read_certs("tls-cert-file", cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| file_error("tls-key-file", key_file, e))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match s.auth_clients {
        ClientAuth::No => builder.with_no_client_auth(),
        ClientAuth::Yes | ClientAuth::Optional => {
            let ca = s
                .ca_cert_file
                .as_deref()
                .ok_or(TlsError::Missing("tls-ca-cert-file"))?;
            let mut roots = RootCertStore::empty();
            for c in read_certs("tls-ca-cert-file", ca)? {
                roots
                    .add(c)
                    .map_err(|e| file_error("tls-ca-cert-file", ca, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if s.auth_clients == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?,
            )
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Rustls(format!("tls-cert-file and tls-key-file: {e}")))
}

/// The configuration for HTTPS: the same certificate, no client certificates (browsers
/// do not send them), HTTP/1.1 by ALPN.
fn build_http(s: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let mut c = build(&TlsSettings {
        auth_clients: ClientAuth::No,
        ..s.clone()
    })?;
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(c)
}

/// The live TLS configurations of a server: RESP's and HTTPS's.
#[derive(Debug)]
pub struct Tls {
    resp: RwLock<Arc<ServerConfig>>,
    http: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Builds the configurations from the settings.
    pub fn new(s: &TlsSettings) -> Result<Tls, TlsError> {
        Ok(Tls {
            resp: RwLock::new(Arc::new(build(s)?)),
            http: RwLock::new(Arc::new(build_http(s)?)),
        })
    }

    /// Rebuilds the configurations from the settings (the files as they are now); on an
    /// error the current ones stay.
    pub fn reload(&self, s: &TlsSettings) -> Result<(), TlsError> {
        let resp = build(s)?;
        let http = build_http(s)?;
        *self.resp.write() = Arc::new(resp);
        *self.http.write() = Arc::new(http);
        Ok(())
    }

    /// An acceptor for RESP with the configuration now in force.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.resp.read().clone())
    }

    /// An acceptor for HTTPS with the configuration now in force.
    pub fn http_acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.http.read().clone())
    }
}

/// The common name of a certificate's subject (DER), if it has one that is UTF-8.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}
