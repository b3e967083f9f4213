//! The web dashboard: `GET /` and its files under `/ui/`, embedded in the binary at build
//! time (`crates/flashdb-server/dashboard/`), so that it works offline and deploys with
//! the server. The files hold no data and are served without credentials; everything the
//! pages show comes from the API, under the user the page logs in as.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "dashboard/"]
struct Assets;

/// The prefix of the dashboard's files.
pub const PREFIX: &str = "/ui/";

/// Whether `path` is one of the dashboard's pages or files (which need no credentials).
pub fn is_public(path: &str) -> bool {
    path == "/" || path.starts_with(PREFIX)
}

/// What a page may load and run: its own files and API only, no inline script or style
/// (so a string from the server that reached the page as markup could not run), no
/// framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// Serves one embedded file with the dashboard's security headers, and `304` when the
/// browser's copy (by its `ETag`, the file's SHA-256) is current.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no dashboard file {path:?}"),
        )
        .into_response();
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Revalidated on each load (cheap with the ETag), so an upgraded server's pages are
    // never mixed with an older one's cached modules.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

/// `GET /`: the dashboard's page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /ui/{path}`: a file of the dashboard.
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let index = Assets::get("index.html").expect("index.html");
        let text = String::from_utf8_lossy(&index.data).into_owned();
        for part in text.split(PREFIX).skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(Assets::get(name).is_some(), "{name} is named but missing");
        }
    }
}
