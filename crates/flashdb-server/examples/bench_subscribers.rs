//! Subscribers for `scripts/bench-pubsub.sh`: opens `count` connections, subscribes each
//! to `channel`, and reads and discards everything they receive until killed. One thread
//! and large reads, so that the consumers cost little next to the servers under test
//! (100 `redis-cli` processes, each parsing and printing every message, saturate a core
//! long before the servers do).
//!
//!   cargo run --release --example bench_subscribers -- <port> <count> <channel>

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().context("port")?.parse()?;
    let count: usize = args.next().context("count")?.parse()?;
    let channel = args.next().context("channel")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for _ in 0..count {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            let cmd = format!(
                "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
                channel.len()
            );
            s.write_all(cmd.as_bytes()).await?;
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok::<_, anyhow::Error>(())
    })
}
