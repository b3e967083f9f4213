//! `--pipe`: loads a file of commands from standard input at full speed, as redis-cli's
//! mass insertion does. The input is RESP (what `redis-cli --pipe` takes) or, when it does
//! not start with `*`, one command per line in redis-cli's syntax.
//!
//! The input is streamed, not held whole: one thread reads standard input, turns it
//! into requests and writes them, while this one reads the replies. The writer says how
//! many requests it sent once the input ends, and the reader stops after that many
//! replies. Neither waits on the other, so the server is never idle.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use flashdb_protocol::{encode_command, Frame, Parsed, ParserLimits, RequestParser};
use indicatif::{ProgressBar, ProgressStyle};

use crate::conn::Conn;
use crate::repl::split_line;

/// What a pipe run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Replies read.
    pub replies: u64,
    /// Of which errors.
    pub errors: u64,
}

/// Input read and sent at a time. Only whole requests are sent, so a single RESP request
/// larger than this is held until it is complete (the server would hold it too).
const CHUNK: usize = 256 * 1024;

/// Streams RESP input to `out`, counting the requests; fails on input that is not RESP
/// or ends inside a request.
pub fn send_resp(
    input: &mut dyn Read,
    out: &mut dyn Write,
    sent: &AtomicU64,
) -> anyhow::Result<()> {
    let mut parser = RequestParser::new();
    let limits = ParserLimits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut offset = 0u64;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let n = input.read(&mut chunk)?;
        if n == 0 {
            if !buf.is_empty() {
                anyhow::bail!("the input ends inside a request (byte {offset})");
            }
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        loop {
            match parser.parse(&buf[at..], &limits) {
                Ok(Parsed::Request { consumed }) | Ok(Parsed::Empty { consumed }) => {
                    parser.reset();
                    at += consumed;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => anyhow::bail!("invalid RESP input at byte {}: {e}", offset + at as u64),
            }
        }
        out.write_all(&buf[..at])?;
        buf.drain(..at);
        offset += at as u64;
    }
}

/// Streams text input (one command per line, `#` comments) to `out` as RESP.
pub fn send_text(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    sent: &AtomicU64,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(CHUNK);
    for (i, line) in input.lines().enumerate() {
        let line = line
            .with_context(|| format!("line {}: text input must be UTF-8 (or send RESP)", i + 1))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let args = split_line(line).map_err(|e| anyhow::anyhow!("line {}: {e}", i + 1))?;
        encode_command(&mut batch, &args);
        sent.fetch_add(1, Ordering::Relaxed);
        if batch.len() >= CHUNK {
            out.write_all(&batch)?;
            batch.clear();
        }
    }
    out.write_all(&batch)?;
    Ok(())
}

/// Streams `input` to `out` in whichever form it is in.
pub fn send(input: &mut dyn Read, out: &mut dyn Write, sent: &AtomicU64) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(CHUNK, input);
    let first = reader.fill_buf()?.first().copied();
    if first == Some(b'*') {
        send_resp(&mut reader, out, sent)
    } else {
        send_text(&mut reader, out, sent)
    }
}

/// Sends standard input and reads every reply, with a progress line on standard error.
pub fn run(mut conn: Conn, quiet: bool) -> anyhow::Result<Outcome> {
    let mut writer: TcpStream = conn.try_clone_stream()?;
    let sent = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    let counter = sent.clone();
    std::thread::spawn(move || {
        let r = send(&mut std::io::stdin().lock(), &mut writer, &counter)
            .and_then(|()| Ok(writer.flush()?));
        let _ = done_tx.send(r);
    });
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} replies  {per_sec}  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut outcome = Outcome::default();
    let mut first_errors = Vec::new();
    let mut finished: Option<anyhow::Result<()>> = None;
    loop {
        if finished.is_none() {
            if let Ok(r) = done_rx.try_recv() {
                finished = Some(r);
            }
        }
        match &finished {
            Some(Err(_)) => break,
            // Every request sent has been answered.
            Some(Ok(())) if outcome.replies >= sent.load(Ordering::Relaxed) => break,
            _ => {}
        }
        if outcome.replies >= sent.load(Ordering::Relaxed) {
            // Nothing in flight yet: wait for the writer rather than block on a read.
            if let Ok(r) = done_rx.recv_timeout(std::time::Duration::from_millis(10)) {
                finished = Some(r);
            }
            continue;
        }
        let reply = conn.read()?;
        outcome.replies += 1;
        if let Frame::Error(e) = reply {
            outcome.errors += 1;
            if first_errors.len() < 5 {
                first_errors.push(String::from_utf8_lossy(&e).into_owned());
            }
        }
        if outcome.replies % 1024 == 0 {
            bar.set_position(outcome.replies);
        }
    }
    bar.finish_and_clear();
    for e in first_errors {
        eprintln!("(error) {e}");
    }
    if let Some(Err(e)) = finished {
        return Err(e.context("cannot send the input"));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_of(input: &[u8]) -> anyhow::Result<(Vec<u8>, u64)> {
        let sent = AtomicU64::new(0);
        let mut out = Vec::new();
        send(&mut &input[..], &mut out, &sent)?;
        Ok((out, sent.load(Ordering::Relaxed)))
    }

    #[test]
    fn text_and_resp_inputs() {
        let (resp, n) = sent_of(b"SET a 1\n\n# comment\nSET \"b c\" 2\n").unwrap_or_default();
        assert_eq!(n, 2);
        assert!(resp.starts_with(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n"));
        let (same, n) = sent_of(&resp).unwrap_or_default();
        assert_eq!((same, n), (resp, 2));
        assert!(sent_of(b"*2\r\n$3\r\nGET\r\n").is_err());
        assert!(sent_of(b"SET \"a\n").is_err());
        assert!(sent_of(b"*1\r\n+x\r\n").is_err());
    }

    /// A request larger than a chunk streams through whole.
    #[test]
    fn large_requests_cross_chunks() {
        let big = vec![b'v'; 3 * CHUNK + 17];
        let mut input = Vec::new();
        encode_command(&mut input, &[b"SET".as_slice(), b"k", &big]);
        encode_command(&mut input, &[b"GET".as_slice(), b"k"]);
        let (out, n) = sent_of(&input).unwrap_or_default();
        assert_eq!((out.len(), n), (input.len(), 2));
    }
}
