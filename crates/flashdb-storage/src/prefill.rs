//! Zero-filling the active log segment ahead of its records.
//!
//! An fsync of data written over blocks the file already has flushes that data and the
//! disk's cache. One that extends the file must also write the inode (its size and block
//! map): on the reference machine 207 µs against 137 µs, with a third more CPU time (see
//! `docs/performance.md`). So under `appendfsync always` a helper thread keeps zeros
//! written and fsynced some way ahead of the log's end, and the writer overwrites them.
//! Recovery reads zeros after the last record as the end of the log.
//!
//! Neither thread depends on the other for correctness. A record written past the filled
//! space extends the file, as an append would, and the writer's own fsync makes it durable.
//! The two never write the same bytes: the helper fills only from the file's end, which is
//! never below the writer's, and a writer whose write would reach a range being filled
//! waits for the fill to finish.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

/// Smallest lead of zeros kept ahead of the records: a server that writes little fills
/// little.
const MIN_LEAD: u64 = 64 * 1024;
/// Largest lead: about a second of log at full speed.
const MAX_LEAD: u64 = 4 * 1024 * 1024;
/// Most zeros written (and fsynced) at once, so that a writer that does catch up waits
/// for one short write only.
const MAX_FILL: usize = 1024 * 1024;

struct State {
    /// The active segment, once the writer has handed it over.
    file: Option<Arc<File>>,
    /// Changes whenever the writer moves to another segment.
    generation: u64,
    /// Bytes of the file that exist, records or zeros.
    filled: u64,
    /// End of the range being filled now; equal to `filled` while the helper is idle.
    filling_to: u64,
    /// Where the writer's next record goes.
    end: u64,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    /// No zeros beyond this offset: the segment size, after which the writer rolls over.
    limit: u64,
}

impl Shared {
    /// The file and the range to fill next, if the lead has run short.
    fn wanted(&self, s: &State) -> Option<(Arc<File>, u64, u64)> {
        let file = s.file.clone()?;
        let lead = s.end.clamp(MIN_LEAD, MAX_LEAD);
        if s.filled >= self.limit || s.filled >= s.end + lead {
            return None;
        }
        let to = (s.end + 2 * lead)
            .min(self.limit)
            .min(s.filled + MAX_FILL as u64);
        Some((file, s.filled, to))
    }
}

/// The helper thread that zero-fills ahead of the writer.
pub(crate) struct Prefill {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Prefill {
    /// Starts the helper; `limit` is the segment size.
    pub(crate) fn start(limit: u64) -> std::io::Result<Prefill> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                file: None,
                generation: 0,
                filled: 0,
                filling_to: 0,
                end: 0,
                stop: false,
            }),
            cond: Condvar::new(),
            limit,
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("flashdb-wal-fill".into())
            .spawn(move || fill_loop(&s))?;
        Ok(Prefill {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands over the segment the writer now writes: its next record goes at `end`, and
    /// the file is `len` bytes long.
    pub(crate) fn set_file(&self, file: Arc<File>, end: u64, len: u64) {
        let mut s = self.shared.state.lock();
        s.file = Some(file);
        s.generation += 1;
        s.end = end;
        s.filled = len.max(end);
        s.filling_to = s.filled;
        drop(s);
        self.shared.cond.notify_all();
    }

    /// Called before the writer writes `len` bytes at `end`: waits while that would touch
    /// a range being filled, then records the new end.
    pub(crate) fn before_write(&self, end: u64, len: u64) {
        let new_end = end + len;
        let mut s = self.shared.state.lock();
        while s.filling_to > s.filled && new_end > s.filled && !s.stop {
            self.shared.cond.wait(&mut s);
        }
        s.end = new_end;
        if new_end > s.filled {
            // Past the zeros: this write extends the file.
            s.filled = new_end;
            s.filling_to = new_end;
        }
        let wake = s.filling_to == s.filled && self.shared.wanted(&s).is_some();
        drop(s);
        if wake {
            self.shared.cond.notify_all();
        }
    }

    /// Stops the helper thread.
    pub(crate) fn stop(&self) {
        self.shared.state.lock().stop = true;
        self.shared.cond.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl Drop for Prefill {
    fn drop(&mut self) {
        self.stop();
    }
}

fn fill_loop(shared: &Shared) {
    let zeros = vec![0u8; MAX_FILL];
    let mut s = shared.state.lock();
    loop {
        if s.stop {
            return;
        }
        let Some((file, from, to)) = shared.wanted(&s) else {
            shared.cond.wait(&mut s);
            continue;
        };
        let generation = s.generation;
        s.filling_to = to;
        drop(s);
        let len = (to - from) as usize;
        let result = file
            .write_all_at(&zeros[..len], from)
            .and_then(|()| file.sync_data());
        s = shared.state.lock();
        if s.generation == generation {
            match result {
                Ok(()) => s.filled = to,
                Err(e) => {
                    // Not a failure of the log: the writer's records simply extend the
                    // file from here on, and its own writes report any real trouble.
                    tracing::warn!(error = %e, "cannot zero-fill the log segment ahead; appending instead");
                    s.file = None;
                }
            }
            s.filling_to = s.filled;
        }
        shared.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(p: &Prefill, cond: impl Fn(&State) -> bool) {
        for _ in 0..2000 {
            {
                let s = p.shared.state.lock();
                if cond(&s) && s.filling_to == s.filled {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("the helper did not get there");
    }

    #[test]
    fn fills_ahead_of_the_writer_and_never_over_its_records() {
        let dir = std::env::temp_dir().join(format!("flashdb-prefill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("seg");
        let file = Arc::new(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&path)
                .unwrap(),
        );
        file.write_all_at(b"HEADER", 0).unwrap();
        let p = Prefill::start(1 << 20).unwrap();
        p.set_file(file.clone(), 6, 6);
        wait_for(&p, |s| s.filled >= MIN_LEAD);
        let len = file.metadata().unwrap().len();
        assert!(len >= MIN_LEAD, "zeros ahead: {len}");
        // The writer writes records up to near the end of the segment; whatever the
        // helper does meanwhile, every record byte stays as written.
        let mut end = 6u64;
        let record = [0xabu8; 1000];
        while end + 1000 <= 1 << 20 {
            p.before_write(end, 1000);
            file.write_all_at(&record, end).unwrap();
            end += 1000;
        }
        wait_for(&p, |s| s.filled >= 1 << 20);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes.len(),
            1 << 20,
            "filled up to the segment size, not beyond"
        );
        assert_eq!(&bytes[..6], b"HEADER");
        assert!(bytes[6..end as usize].iter().all(|&b| b == 0xab));
        assert!(bytes[end as usize..].iter().all(|&b| b == 0));
        p.stop();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
