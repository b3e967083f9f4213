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

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The protocol versions `tls-protocols` allows (both when it is empty).
fn versions(s: &TlsSettings) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
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
    Ok(versions)
}

/// This node's certificate chain and key (`tls-cert-file`, `tls-key-file`).
fn own_identity(
    s: &TlsSettings,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
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
    Ok((certs, key))
}

/// The CA certificates of `tls-ca-cert-file`, which the other side's certificate must
/// chain to.
fn ca_roots(s: &TlsSettings) -> Result<Arc<RootCertStore>, TlsError> {
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
    Ok(Arc::new(roots))
}

/// Builds a rustls server configuration from the settings.
pub fn build(s: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let (certs, key) = own_identity(s)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(s)?)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match s.auth_clients {
        ClientAuth::No => builder.with_no_client_auth(),
        ClientAuth::Yes | ClientAuth::Optional => {
            let verifier = WebPkiClientVerifier::builder_with_provider(ca_roots(s)?, provider);
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

/// The group port's configuration (`--tls-replication yes`): every peer must present a
/// certificate that chains to `tls-ca-cert-file`, whatever `tls-auth-clients` says, since
/// only nodes of the group may speak there.
fn build_peer_server(s: &TlsSettings) -> Result<ServerConfig, TlsError> {
    build(&TlsSettings {
        auth_clients: ClientAuth::Yes,
        ..s.clone()
    })
}

/// The client side of peer traffic: peers' certificates must chain to
/// `tls-ca-cert-file` and name the address in the peer list; this node presents its own
/// certificate.
pub fn build_peer_client(s: &TlsSettings) -> Result<rustls::ClientConfig, TlsError> {
    let (certs, key) = own_identity(s)?;
    rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions(s)?)
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(ca_roots(s)?)
        .with_client_auth_cert(certs, key)
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

/// The live TLS configurations of a server: RESP's, HTTPS's, and the group port's with
/// mutual TLS when peer traffic uses it (`--tls-replication yes`).
#[derive(Debug)]
pub struct Tls {
    resp: RwLock<Arc<ServerConfig>>,
    http: RwLock<Arc<ServerConfig>>,
    peer: Option<RwLock<Arc<ServerConfig>>>,
}

impl Tls {
    /// Builds the configurations from the settings; with `replication`, also the group
    /// port's, and makes this process's requests to peers HTTPS with this node's
    /// certificate.
    pub fn new(s: &TlsSettings, replication: bool) -> Result<Tls, TlsError> {
        let tls = Tls {
            resp: RwLock::new(Arc::new(build(s)?)),
            http: RwLock::new(Arc::new(build_http(s)?)),
            peer: match replication {
                true => Some(RwLock::new(Arc::new(build_peer_server(s)?))),
                false => None,
            },
        };
        if replication {
            set_peer_client(s)?;
        }
        Ok(tls)
    }

    /// Rebuilds the configurations from the settings (the files as they are now); on an
    /// error the current ones stay.
    pub fn reload(&self, s: &TlsSettings) -> Result<(), TlsError> {
        let resp = build(s)?;
        let http = build_http(s)?;
        let peer = match self.peer {
            Some(_) => Some((build_peer_server(s)?, build_peer_client(s)?)),
            None => None,
        };
        *self.resp.write() = Arc::new(resp);
        *self.http.write() = Arc::new(http);
        if let (Some(slot), Some((server, client))) = (&self.peer, peer) {
            *slot.write() = Arc::new(server);
            flashdb_replication::network::set_peer_tls(Some(client))
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
        }
        Ok(())
    }

    /// An acceptor for the group port with the configuration now in force, when peer
    /// traffic uses TLS.
    pub fn peer_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        let config = self.peer.as_ref()?.read().clone();
        Some(tokio_rustls::TlsAcceptor::from(config))
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

fn set_peer_client(s: &TlsSettings) -> Result<(), TlsError> {
    flashdb_replication::network::set_peer_tls(Some(build_peer_client(s)?))
        .map_err(|e| TlsError::Rustls(e.to_string()))
}

/// The group port's listener under mutual TLS, for `axum::serve`: handshakes run on
/// tasks of their own (a peer that stalls in one holds up no other), and a connection is
/// handed over once its handshake succeeded.
pub struct PeerListener {
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
    local: std::net::SocketAddr,
}

impl PeerListener {
    /// Accepts on `listener`, each connection with the acceptor `acceptor` gives at the
    /// time (so reloaded certificates serve new connections).
    pub fn new(
        listener: tokio::net::TcpListener,
        acceptor: impl Fn() -> Option<tokio_rustls::TlsAcceptor> + Send + 'static,
    ) -> std::io::Result<PeerListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "group port: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(acceptor) = acceptor() else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
                let handed = tx.clone();
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(tcp),
                    )
                    .await;
                    match hs {
                        Ok(Ok(tls)) => {
                            let _ = handed.send((tls, peer)).await;
                        }
                        // Not a node of this group (no certificate, or one from another
                        // CA): worth an operator's attention.
                        Ok(Err(e)) => {
                            tracing::warn!(%peer, error = %e, "group port: TLS handshake refused")
                        }
                        Err(_) => tracing::warn!(%peer, "group port: TLS handshake timed out"),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(PeerListener { ready, local })
    }
}

impl axum::serve::Listener for PeerListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accepting task ended (the server is stopping): no more connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The common name of a certificate's subject (DER), if it has one that is UTF-8.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}
