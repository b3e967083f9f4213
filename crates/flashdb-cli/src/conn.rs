//! A blocking RESP connection: send a command, read its reply.

use std::io::{Read, Write};
use std::net::TcpStream;

use anyhow::{bail, Context};
use flashdb_protocol::{encode_command, parse_frame, Frame};

/// A connection to the server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects; the error says where, as redis-cli's does.
    pub fn open(host: &str, port: u16) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect((host, port))
            .with_context(|| format!("Could not connect to {host}:{port}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// A second handle on the same socket (for `--pipe`, which writes on one thread and
    /// reads on another).
    pub fn try_clone_stream(&self) -> anyhow::Result<TcpStream> {
        Ok(self.stream.try_clone()?)
    }

    /// Sends one command.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> anyhow::Result<()> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.stream.write_all(&out)?;
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
