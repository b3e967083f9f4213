//! `--pipe`: loads a file of commands from standard input at full speed, as redis-cli's
//! mass insertion does. The input is RESP (what `redis-cli --pipe` takes) or, when it does
//! not start with `*`, one command per line in redis-cli's syntax. One thread writes while
//! this one reads the replies, so the server is never waiting on the tool.

use std::io::{Read, Write};

use anyhow::Context;
use flashdb_protocol::{encode_command, Frame};
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

/// The input as RESP requests, and how many there are.
pub fn to_resp(input: Vec<u8>) -> anyhow::Result<(Vec<u8>, u64)> {
    if input.first() == Some(&b'*') {
        // Count the requests (the server parses them; this only needs their number).
        let mut parser = flashdb_protocol::RequestParser::new();
        let limits = flashdb_protocol::ParserLimits::default();
        let mut at = 0;
        let mut n = 0;
        while at < input.len() {
            match parser.parse(&input[at..], &limits) {
                Ok(flashdb_protocol::Parsed::Request { consumed })
                | Ok(flashdb_protocol::Parsed::Empty { consumed }) => {
                    parser.reset();
                    at += consumed;
                    n += 1;
                }
                Ok(flashdb_protocol::Parsed::Incomplete { .. }) => {
                    anyhow::bail!("the input ends inside a request (byte {at})")
                }
                Err(e) => anyhow::bail!("invalid RESP input at byte {at}: {e}"),
            }
        }
        return Ok((input, n));
    }
    let text = String::from_utf8(input).context("text input must be UTF-8 (or send RESP)")?;
    let mut out = Vec::with_capacity(text.len() * 2);
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let args = split_line(line).map_err(|e| anyhow::anyhow!("line {}: {e}", i + 1))?;
        encode_command(&mut out, &args);
        n += 1;
    }
    Ok((out, n))
}

/// Sends standard input and reads every reply, with a progress bar on standard error.
pub fn run(mut conn: Conn, quiet: bool) -> anyhow::Result<Outcome> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read standard input")?;
    let (resp, count) = to_resp(input)?;
    let mut writer = conn.try_clone_stream()?;
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        for chunk in resp.chunks(256 * 1024) {
            writer.write_all(chunk)?;
        }
        writer.flush()
    });
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(count)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} replies  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut outcome = Outcome::default();
    let mut first_errors = Vec::new();
    for _ in 0..count {
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
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
        .context("cannot send the input")?;
    for e in first_errors {
        eprintln!("(error) {e}");
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_resp_inputs() {
        let (resp, n) =
            to_resp(b"SET a 1\n\n# comment\nSET \"b c\" 2\n".to_vec()).unwrap_or_default();
        assert_eq!(n, 2);
        assert!(resp.starts_with(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n"));
        let (same, n) = to_resp(resp.clone()).unwrap_or_default();
        assert_eq!((same, n), (resp, 2));
        assert!(to_resp(b"*2\r\n$3\r\nGET\r\n".to_vec()).is_err());
        assert!(to_resp(b"SET \"a\n".to_vec()).is_err());
    }
}
