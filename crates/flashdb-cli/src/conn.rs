//! A blocking RESP connection, plain or TLS: send a command, read its reply.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use flashdb_protocol::{encode_command, parse_frame, Frame};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// How to reach the server over TLS (`--tls`).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// CA certificates (PEM) to trust for the server's certificate.
    pub cacert: Option<PathBuf>,
    /// A client certificate (PEM) and its key, for servers that ask for one.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// The name the server's certificate must carry (default: the host).
    pub sni: Option<String>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn tls_config(opts: &TlsOptions) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Some(ca) = &opts.cacert else {
        bail!(
            "--tls needs --cacert FILE: the CA certificates that signed the server's certificate"
        );
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("cannot read --cacert {}", ca.display()))?
    {
        let c = c.with_context(|| format!("cannot read --cacert {}", ca.display()))?;
        roots.add(c).context("--cacert")?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match &opts.cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("cannot read --cert {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("cannot read --cert {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("cannot read --key {}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .context("--cert and --key")?
        }
    })
}

/// A connection to the server.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects; the error says where, as redis-cli's does. With `tls`, the handshake
    /// completes before this returns, so that a refused certificate is reported here.
    pub fn open(host: &str, port: u16, tls: Option<&TlsOptions>) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect((host, port))
            .with_context(|| format!("Could not connect to {host}:{port}"))?;
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            None => Stream::Plain(tcp),
            Some(opts) => {
                let name = opts.sni.clone().unwrap_or_else(|| host.to_string());
                let server_name = ServerName::try_from(name.clone())
                    .with_context(|| format!("{name:?} is not a valid TLS server name"))?;
                let conn = rustls::ClientConnection::new(Arc::new(tls_config(opts)?), server_name)?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                while s.conn.is_handshaking() {
                    s.conn
                        .complete_io(&mut s.sock)
                        .with_context(|| format!("TLS handshake with {host}:{port} failed"))?;
                }
                Stream::Tls(Box::new(s))
            }
        };
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// A second handle on the same socket (for `--pipe`, which writes on one thread and
    /// reads on another); not for TLS, whose state one thread owns.
    pub fn try_clone_stream(&self) -> anyhow::Result<TcpStream> {
        match &self.stream {
            Stream::Plain(s) => Ok(s.try_clone()?),
            Stream::Tls(_) => bail!("--pipe does not work over --tls yet"),
        }
    }

    /// Sends one command.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> anyhow::Result<()> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.stream.write_all(&out)?;
        self.stream.flush()?;
        Ok(())
    }

    /// Reads one reply.
    pub fn read(&mut self) -> anyhow::Result<Frame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf)? {
                self.buf.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one command and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> anyhow::Result<Frame> {
        self.send(args)?;
        self.read()
    }
}
