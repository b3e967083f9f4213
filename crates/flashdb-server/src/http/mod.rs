//! The HTTP API on `--http-port`: JSON routes for keys, commands, queues and statistics,
//! the original store's `/api/kv` and `/api/queue` routes, a WebSocket event stream, the
//! OpenAPI description and Prometheus metrics (CONTRACT.md lists them).
//!
//! Every route runs its commands through [`session::Session`], the same path a RESP
//! client's commands take, so that HTTP writes are logged, durable before the answer,
//! announced, counted and refused (`LOADING`, `MISCONF`) exactly as RESP writes are.

mod backup;
mod cluster;
mod dashboard;
mod diagnostics;
pub mod error;
pub mod json;
mod keys;
mod ledger;
mod metrics;
pub mod openapi;
mod pipeline;
mod queues;
pub mod session;
mod stats;
mod ws;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;

use crate::server::Server;
use error::{code_for_status, ApiError, REQUEST_ID};

/// What the handlers share: the server, and the statistics feed of WebSocket clients.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The server.
    pub server: Arc<Server>,
    /// Statistics once a second.
    pub stats: ws::StatsFeed,
}

impl axum::extract::FromRef<AppState> for Arc<Server> {
    fn from_ref(state: &AppState) -> Arc<Server> {
        state.server.clone()
    }
}

/// The application: every route, behind the request-id and authentication layers.
/// Must be called inside the runtime (it starts the statistics feed's task).
pub fn router(server: Arc<Server>) -> Router {
    let max_body = usize::try_from(server.config.http_max_body).unwrap_or(usize::MAX);
    Router::new()
        .route("/", get(dashboard::index))
        .route("/ui/{*path}", get(dashboard::file))
        .route("/api/v1/healthz", get(stats::healthz))
        .route("/api/v1/readyz", get(stats::readyz))
        .route("/api/v1/stats", get(stats::stats))
        .route("/api/v1/slowlog", get(diagnostics::slowlog))
        .route("/api/v1/latency", get(diagnostics::latency))
        .route("/api/v1/keys", get(keys::list_keys))
        .route(
            "/api/v1/key/{key}",
            get(keys::get_key)
                .put(keys::put_key)
                .delete(keys::delete_key),
        )
        .route("/api/v1/execute", post(keys::execute))
        .route("/api/v1/pipeline", post(pipeline::pipeline))
        .route("/api/v1/ledger/root", get(ledger::root))
        .route("/api/v1/ledger/proof", get(ledger::proof))
        .route("/api/v1/ledger/consistency", get(ledger::consistency))
        .route("/api/v1/ledger/leaf", get(ledger::leaf))
        .route("/api/v1/ledger/verify", post(ledger::verify))
        .route("/api/v1/ledger/history/{key}", get(ledger::history))
        .route("/api/v1/ledger/key/{key}", get(ledger::key))
        .route("/api/v1/auth", get(pipeline::auth_status))
        .route("/api/v1/backup", post(backup::backup))
        .route("/api/v1/queues", get(queues::list_v1))
        .route(
            "/api/v1/queues/{name}",
            get(queues::info).delete(queues::delete_v1),
        )
        .route("/api/v1/queues/{name}/enqueue", post(queues::enqueue))
        .route("/api/v1/queues/{name}/dequeue", post(queues::dequeue))
        .route("/api/v1/queues/{name}/peek", get(queues::peek))
        .route("/api/v1/queues/{name}/size", get(queues::size))
        .route("/api/v1/queues/{name}/ack", post(queues::ack))
        .route("/api/v1/queues/{name}/nack", post(queues::nack))
        .route("/api/v1/cluster", get(cluster::view))
        .route("/api/v1/cluster/nodes", post(cluster::add))
        .route(
            "/api/v1/cluster/nodes/{id}",
            axum::routing::delete(cluster::remove),
        )
        .route("/api/v1/cluster/nodes/{id}/replace", post(cluster::replace))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/ws", get(ws::upgrade))
        .route("/metrics", get(metrics::serve))
        .route("/api/kv", get(keys::legacy_all))
        .route(
            "/api/kv/{key}",
            get(keys::legacy_get)
                .post(keys::legacy_set)
                .delete(keys::legacy_delete),
        )
        .route("/api/queue", get(queues::list_legacy))
        .route(
            "/api/queue/{name}",
            axum::routing::delete(queues::delete_legacy),
        )
        .route("/api/queue/{name}/enqueue", post(queues::legacy_enqueue))
        .route("/api/queue/{name}/dequeue", post(queues::legacy_dequeue))
        .route("/api/queue/{name}/peek", get(queues::legacy_peek))
        .route("/api/queue/{name}/size", get(queues::legacy_size))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            check_host_and_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            refuse_oversized,
        ))
        .layer(axum::middleware::from_fn(request_context))
        .with_state(AppState {
            stats: ws::StatsFeed::start(server.clone()),
            server,
        })
}

/// Longest a client may take to send a request's headers: a client that opens
/// connections and never finishes a request would otherwise hold them forever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until the server shuts down: HTTP/1.1 with upgrades
/// (the WebSocket), a header timeout and a connection cap, then a graceful end for the
/// requests in flight.
pub async fn serve(server: Arc<Server>, listener: tokio::net::TcpListener) {
    use hyper_util::rt::TokioIo;
    let app = router(server.clone());
    // Idle or slow HTTP clients past the cap are closed, so that they cannot take the
    // descriptors the RESP port and health checks need.
    let limit = server.config.http_max_connections;
    let permits = Arc::new(tokio::sync::Semaphore::new(limit));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = server.shutdown_signal() => break,
        };
        if server.refuses_as_protected(peer) {
            // As the RESP port: no password and a client from another machine.
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = stream;
                let _ = stream.write_all(protected_mode_response().as_bytes()).await;
            });
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit, "too many HTTP connections (--http-max-connections); closing a new one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Each request carries its client's address (`ConnectInfo`), for the limit on
        // wrong passwords.
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                use tower::ServiceExt;
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                app.clone().oneshot(req)
            });
        let stop = stop_rx.clone();
        let https = server
            .config
            .tls_http
            .then(|| server.tls.get().map(|t| t.http_acceptor()))
            .flatten();
        conns.spawn(async move {
            let _permit = permit;
            match https {
                None => serve_conn(TokioIo::new(stream), service, stop, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_conn(TokioIo::new(tls), service, stop, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTPS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "HTTPS handshake timed out"),
                    }
                }
            }
        });
        // Finished connections leave the set as they go.
        while conns.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
}

/// Serves one HTTP connection (plain or TLS) until it ends, or until the server stops,
/// when it finishes the request in flight.
async fn serve_conn<I, S>(
    io: I,
    service: S,
    mut stop: tokio::sync::watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let stopped = async move {
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        }
        _ = stopped => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A request id: the client's `X-Request-Id` when it is a sane one (so that ids can be
/// followed across services), else a new one.
fn request_id_of(req: &Request) -> String {
    if let Some(given) = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        if !given.is_empty()
            && given.len() <= 64
            && given
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return given.to_string();
        }
    }
    format!("{:016x}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed))
}

/// Gives each request its id (in errors, the `X-Request-Id` header and the debug log),
/// logs it, and turns any error answered without a JSON body (by axum's extractors or
/// layers) into the API's error format.
async fn request_context(req: Request, next: Next) -> Response {
    let id = request_id_of(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    REQUEST_ID
        .scope(id.clone(), async move {
            let mut res = next.run(req).await;
            let status = res.status();
            let is_json = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if (status.is_client_error() || status.is_server_error()) && !is_json {
                let body = std::mem::take(res.body_mut());
                let text = axum::body::to_bytes(body, 64 * 1024)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let message = if text.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_string()
                } else {
                    text
                };
                let headers = res.headers().clone();
                res = ApiError::new(status, code_for_status(status), message).into_response();
                for (name, value) in headers.iter() {
                    if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                        res.headers_mut().insert(name, value.clone());
                    }
                }
            }
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert("x-request-id", v);
            }
            tracing::debug!(
                request_id = %id,
                %method,
                path,
                status = res.status().as_u16(),
                micros = started.elapsed().as_micros() as u64,
                "http request"
            );
            res
        })
        .await
}

/// Refuses a request whose `Host` names a host the API does not answer to (a web page
/// whose name an attacker points at 127.0.0.1 — DNS rebinding — reaches the API with its
/// own name there), and one sent by a web page of another origin (`Origin`, which
/// browsers set on cross-site requests, WebSocket upgrades included): without this any
/// page its user visits could write to a FlashDB on their machine. IP addresses,
/// `localhost` and `--http-allowed-hosts` are answered; the health checks always.
async fn check_host_and_origin(
    State(server): State<Arc<Server>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if path == "/api/v1/healthz" || path == "/api/v1/readyz" || dashboard::is_public(path) {
        return next.run(req).await;
    }
    let allowed = &server.config.http_allowed_hosts;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    if let Some(host) = &host {
        if !host_allowed(host, allowed) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!(
                    "this server does not answer to host {host:?}; add it to --http-allowed-hosts"
                ),
            )
            .into_response();
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        let same = host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(origin_host));
        if !same && !host_allowed(origin_host, allowed) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!("requests from web pages of {origin:?} are refused; add its host to --http-allowed-hosts"),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// The whole HTTP answer protected mode gives a client from another machine: `403` with
/// the API's error format and Redis's explanation.
fn protected_mode_response() -> String {
    let message = crate::server::PROTECTED_MODE_DENIED
        .trim_start_matches("-DENIED ")
        .trim_end();
    let body = serde_json::json!({
        "success": false,
        "error": {"code": "DENIED", "message": message, "details": {}},
        "request_id": error::request_id(),
    })
    .to_string();
    format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A request that declares a body over `--http-max-body` is answered `413` at once,
/// before any of the body is read (a client announcing 10 GB is not waited for).
async fn refuse_oversized(State(server): State<Arc<Server>>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > server.config.http_max_body) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the request body is larger than --http-max-body ({} bytes)",
                server.config.http_max_body
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether `authority` (`host[:port]`) is an IP address, `localhost`, or in `allowed`.
fn host_allowed(authority: &str, allowed: &[String]) -> bool {
    let host = match authority.strip_prefix('[') {
        // [v6]:port
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let host = host.to_ascii_lowercase();
    host.parse::<std::net::IpAddr>().is_ok()
        || host == "localhost"
        || allowed.iter().any(|a| a == "*" || *a == host)
}

tokio::task_local! {
    /// The ACL user an HTTP request runs as, set by [`authenticate`] around the handler.
    static HTTP_USER: Arc<crate::acl::User>;
}

/// The ACL user of the HTTP request being handled (the default user outside one).
pub(crate) fn request_user(server: &Server) -> Arc<crate::acl::User> {
    HTTP_USER
        .try_with(Arc::clone)
        .unwrap_or_else(|_| server.acl.default_user())
}

/// Runs `fut` as `user`'s request (for work a handler moves to another task, such as a
/// WebSocket).
pub(crate) async fn as_user<F: std::future::Future>(
    user: Arc<crate::acl::User>,
    fut: F,
) -> F::Output {
    HTTP_USER.scope(user, fut).await
}

/// Every route but the health checks runs as an ACL user: the one the credentials name
/// (`Authorization: Basic` with user and password; `Bearer PASS` for the default user,
/// or `Bearer USER:PASS`; the WebSocket may also give the token as `?token=`, since
/// browsers cannot set headers on one), or the default user when it needs no password.
/// Commands then pass the user's ACL rules exactly as over RESP.
async fn authenticate(State(server): State<Arc<Server>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/api/v1/healthz" || path == "/api/v1/readyz" || dashboard::is_public(&path) {
        return next.run(req).await;
    }
    let given = credentials(&req);
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    // `GET /api/v1/auth` reports the outcome instead of failing with it.
    let status_only = path == "/api/v1/auth";
    let required = !server.acl.default_needs_no_password();
    let report = |req: &mut Request, user: Option<&crate::acl::User>| {
        req.extensions_mut().insert(pipeline::LoginOutcome {
            user: user.map(|u| u.name_lossy()),
            required,
        });
    };
    if given.is_none() && !required {
        let user = server.acl.default_user();
        if let Some(refused) = rate_limited(&server, &user, ip) {
            return refused;
        }
        report(&mut req, Some(&user));
        return as_user(user, next.run(req)).await;
    }
    if given.is_some() {
        if let Err(secs) = server.auth_failures.check(ip) {
            let mut res = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                format!("too many wrong passwords from this address; try again in {secs} s"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    }
    if let Some(creds) = &given {
        if let Some(user) = login(&server, creds) {
            server.auth_failures.succeeded(ip);
            if let Some(refused) = rate_limited(&server, &user, ip) {
                return refused;
            }
            report(&mut req, Some(&user));
            return as_user(user, next.run(req)).await;
        }
        server.auth_failures.failed(ip);
        let who = match creds {
            Credentials::Basic(u, _) => u.as_bytes(),
            Credentials::Token(_) => b"default".as_slice(),
        };
        let addr = ip.map(|i| i.to_string()).unwrap_or_default();
        server.acl.record(crate::acl::LogEntry::new(
            crate::acl::Reason::Auth,
            crate::acl::Context::Toplevel,
            b"HTTP",
            who,
            format!("http addr={addr} path={path}"),
        ));
    }
    if status_only {
        report(&mut req, None);
        return next.run(req).await;
    }
    let message = if given.is_some() {
        "invalid username-password pair or user is disabled"
    } else {
        "authentication required: send Authorization: Bearer <password>"
    };
    let mut res = ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"flashdb\""),
    );
    res
}

/// A request counts as one command against its user's rate limit and its address's;
/// over either, `429 RATE_LIMITED` with `Retry-After`.
fn rate_limited(
    server: &Server,
    user: &crate::acl::User,
    ip: Option<std::net::IpAddr>,
) -> Option<Response> {
    let refuse = |whose: String, limit: flashdb_core::acl::RateLimit, wait: f64| {
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!(
                "rate limit of {whose} reached ({} requests per second, bursts of {})",
                limit.rate, limit.burst
            ),
        )
        .into_response();
        let secs = wait.ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    };
    if let Some(limit) = user.rules().rate_limit() {
        if let Err(wait) = user.bucket.take(limit) {
            server
                .ratelimits
                .rejected_user
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Some(refuse(format!("user '{}'", user.name_lossy()), limit, wait));
        }
    }
    if let (Some(limit), Some(ip)) = (server.ratelimits.per_address(), ip) {
        if let Err(wait) = server.ratelimits.bucket_for(ip).take(limit) {
            server
                .ratelimits
                .rejected_address
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Some(refuse("this client address".into(), limit, wait));
        }
    }
    None
}

/// Credentials an HTTP request carries.
enum Credentials {
    /// `Basic`: user and password.
    Basic(String, String),
    /// `Bearer` or `?token=`: the default user's password, or `user:password`.
    Token(String),
}

/// The user that `creds` log in, if any.
fn login(server: &Server, creds: &Credentials) -> Option<Arc<crate::acl::User>> {
    match creds {
        Credentials::Basic(user, pass) => server
            .acl
            .check_login(user.as_bytes(), pass.as_bytes())
            .ok(),
        Credentials::Token(token) => server
            .acl
            .check_login(b"default", token.as_bytes())
            .ok()
            .or_else(|| {
                let (user, pass) = token.split_once(':')?;
                server
                    .acl
                    .check_login(user.as_bytes(), pass.as_bytes())
                    .ok()
            }),
    }
}

fn credentials(req: &Request) -> Option<Credentials> {
    if let Some(auth) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = auth.strip_prefix("Bearer ") {
            return Some(Credentials::Token(token.trim().to_string()));
        }
        if let Some(basic) = auth.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, pass) = text.split_once(':')?;
            let user = if user.is_empty() { "default" } else { user };
            return Some(Credentials::Basic(user.to_string(), pass.to_string()));
        }
    }
    if req.uri().path() == "/api/v1/ws" {
        let query = req.uri().query()?;
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("token=") {
                return percent_encoding::percent_decode_str(v)
                    .decode_utf8()
                    .ok()
                    .map(|s| Credentials::Token(s.into_owned()));
            }
        }
    }
    None
}

/// The key or queue name of a route (`/api/v1/key/{key}`, `/api/v1/queues/{name}/...`,
/// `/api/kv/{key}`, `/api/queue/{name}/...`), as raw bytes: the path is percent-decoded
/// here rather than by axum so that names that are not UTF-8 work.
pub fn path_name(uri: &axum::http::Uri) -> Result<Vec<u8>, ApiError> {
    let index = if uri.path().starts_with("/api/v1/") {
        4
    } else {
        3
    };
    let segment = uri
        .path()
        .split('/')
        .nth(index)
        .ok_or_else(|| ApiError::invalid("missing name in the path"))?;
    let name: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
    if name.is_empty() {
        return Err(ApiError::invalid("empty name in the path"));
    }
    Ok(name)
}
