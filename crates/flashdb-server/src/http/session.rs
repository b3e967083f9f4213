//! Running commands for HTTP requests, exactly as a RESP client runs them: the same
//! table, checks, statistics, log entries, durability wait and replies (in RESP3, which
//! maps to JSON without guessing), with no TCP connection behind them.

use std::sync::Arc;

use flashdb_protocol::{parse_frame, Frame, ProtocolVersion};

use super::error::ApiError;
use crate::connection::{run_detached, ConnState};
use crate::server::Server;

/// Commands that only make sense on a connection that lives across requests; over HTTP
/// they are refused with a pointer to what to use instead.
const CONNECTION_ONLY: &[(&str, &str)] = &[
    ("subscribe", "use the WebSocket at /api/v1/ws"),
    ("psubscribe", "use the WebSocket at /api/v1/ws"),
    ("ssubscribe", "use the WebSocket at /api/v1/ws"),
    ("unsubscribe", "use the WebSocket at /api/v1/ws"),
    ("punsubscribe", "use the WebSocket at /api/v1/ws"),
    ("sunsubscribe", "use the WebSocket at /api/v1/ws"),
    ("monitor", "use a RESP connection"),
    ("multi", "use a RESP connection"),
    ("exec", "use a RESP connection"),
    ("discard", "use a RESP connection"),
    ("watch", "use a RESP connection"),
    ("unwatch", "use a RESP connection"),
    ("select", "give \"db\" in the request"),
    ("auth", "send credentials in the Authorization header"),
    ("hello", "use a RESP connection"),
    ("reset", "use a RESP connection"),
    ("quit", "use a RESP connection"),
];

/// Why a command cannot run over HTTP, if it cannot.
pub fn connection_only(name: &[u8]) -> Option<&'static str> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    CONNECTION_ONLY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, hint)| *hint)
}

/// One HTTP request's client: authenticated by the HTTP layer, in one database.
pub struct Session {
    server: Arc<Server>,
    st: ConnState,
}

impl Session {
    /// A session in database `db` (checked against `--databases`).
    pub fn new(server: &Arc<Server>, db: usize) -> Result<Session, ApiError> {
        if db >= server.config.databases {
            return Err(ApiError::invalid(format!(
                "db must be below {}, got {db}",
                server.config.databases
            )));
        }
        let handle = server.new_client("http".into(), "http".into());
        // The HTTP layer checked the credentials before the request got here, and
        // commands run under the ACL rules of the user they named.
        *handle.user.lock() = super::request_user(server);
        let mut st = ConnState::new(handle, true);
        // Rate limits counted the request as a whole (see `super::authenticate`).
        st.rate_exempt = true;
        st.out.set_version(ProtocolVersion::Resp3);
        st.db = db;
        Ok(Session {
            server: server.clone(),
            st,
        })
    }

    /// Whether the request's ACL user may run `args`, for routes that read the data
    /// directly rather than through a command: `Err` is the `403` (and the denial is
    /// logged and counted as a command's would be).
    pub fn authorize(&mut self, args: &[&[u8]]) -> Result<(), ApiError> {
        let spec = match flashdb_core::resolve(args) {
            flashdb_core::Resolved::Command(spec) => spec,
            flashdb_core::Resolved::Error(e) => return Err(ApiError::internal(e)),
        };
        if self.st.rules.unrestricted() {
            return Ok(());
        }
        match self.st.rules.check(spec, args) {
            Ok(()) => Ok(()),
            Err(denied) => {
                crate::acl::record_denial(
                    &self.server,
                    &self.st,
                    spec,
                    args,
                    denied,
                    crate::acl::Context::Toplevel,
                );
                Err(ApiError::from_reply(&crate::acl::noperm_text(spec, denied)))
            }
        }
    }

    /// Runs one command and returns its reply (an error reply is `Frame::Error`).
    pub async fn call<A: AsRef<[u8]> + Sync>(&mut self, args: &[A]) -> Result<Frame, ApiError> {
        let args: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
        self.st.out.clear();
        run_detached(&self.server, &mut self.st, &args).await;
        match parse_frame(self.st.out.as_bytes()) {
            Ok(Some((frame, _))) => Ok(frame),
            Ok(None) => Err(ApiError::internal("a command left an incomplete reply")),
            Err(e) => Err(ApiError::internal(format!("a command's reply: {e}"))),
        }
    }

    /// Runs one command; an error reply becomes the fitting [`ApiError`].
    pub async fn call_ok<A: AsRef<[u8]> + Sync>(&mut self, args: &[A]) -> Result<Frame, ApiError> {
        match self.call(args).await? {
            Frame::Error(msg) => Err(ApiError::from_reply(&String::from_utf8_lossy(&msg))),
            frame => Ok(frame),
        }
    }

    /// Runs commands as one transaction (`MULTI` ... `EXEC`), so that a route that needs
    /// several steps changes the data set atomically; returns `EXEC`'s replies. A command
    /// refused while queueing aborts the whole transaction with its error.
    pub async fn transaction(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Frame>, ApiError> {
        self.call_ok(&[b"MULTI".as_slice()]).await?;
        for cmd in commands {
            if let Frame::Error(msg) = self.call(cmd).await? {
                let _ = self.call(&[b"DISCARD".as_slice()]).await;
                return Err(ApiError::from_reply(&String::from_utf8_lossy(&msg)));
            }
        }
        match self.call_ok(&[b"EXEC".as_slice()]).await? {
            Frame::Array(replies) => Ok(replies),
            other => Err(ApiError::internal(format!("EXEC answered {other:?}"))),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A transaction left open by an early return releases its watches.
        self.st.tx.discard(&self.server);
    }
}
