//! JSON in and out: request bodies, replies mapped to JSON, and the base64 rule for bytes
//! that are not UTF-8.
//!
//! The rule: a response carries its strings as text when every one of them is valid
//! UTF-8; otherwise all of them travel base64-encoded and the response says
//! `"encoding": "base64"`. A request may send its strings base64-encoded the same way.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use base64::Engine as _;
use flashdb_protocol::Frame;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

/// How the strings of a request or response are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 text.
    #[default]
    Utf8,
    /// Standard base64 (with padding) of the raw bytes.
    Base64,
}

impl Encoding {
    /// The encoding a response needs for these strings.
    pub fn for_all<'a>(strings: impl IntoIterator<Item = &'a [u8]>) -> Encoding {
        if strings.into_iter().all(|s| std::str::from_utf8(s).is_ok()) {
            Encoding::Utf8
        } else {
            Encoding::Base64
        }
    }

    /// `bytes` as a JSON string in this encoding.
    pub fn text(self, bytes: &[u8]) -> Value {
        match self {
            Encoding::Utf8 => Value::String(String::from_utf8_lossy(bytes).into_owned()),
            Encoding::Base64 => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }

    /// The bytes a request string stands for in this encoding.
    pub fn decode(self, field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
        match self {
            Encoding::Utf8 => Ok(s.as_bytes().to_vec()),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| ApiError::invalid(format!("{field}: invalid base64 ({e})"))),
        }
    }

    /// Adds `"encoding": "base64"` to a response object when that is the encoding.
    pub fn mark(self, obj: &mut Map<String, Value>) {
        if self == Encoding::Base64 {
            obj.insert("encoding".into(), Value::String("base64".into()));
        }
    }
}

/// A JSON request body, parsed with this API's errors: malformed JSON is `INVALID_JSON`,
/// a field of the wrong type or an unknown field is `INVALID_REQUEST`, a body over
/// `--http-max-body` is `PAYLOAD_TOO_LARGE`. An empty body reads as `{}`, so routes whose
/// fields are all optional accept a bare `POST` (as the original store's clients send).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            ApiError::new(status, super::error::code_for_status(status), e.body_text())
        })?;
        parse_body(&bytes).map(JsonBody)
    }
}

/// Parses a request body (see [`JsonBody`]).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::invalid(format!("invalid request body: {e}")),
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                format!("malformed JSON: {e}"),
            ),
        }
    })
}

/// Whether a reply holds a string that is not UTF-8 (then all of its strings travel as
/// base64).
pub fn frame_is_binary(f: &Frame) -> bool {
    match f {
        Frame::Simple(b) | Frame::Bulk(b) | Frame::Error(b) => std::str::from_utf8(b).is_err(),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => v.iter().any(frame_is_binary),
        Frame::Map(pairs) => pairs
            .iter()
            .any(|(k, v)| frame_is_binary(k) || frame_is_binary(v)),
        _ => false,
    }
}

/// A reply as JSON: strings → strings (in `enc`), integers and doubles → numbers
/// (infinities and NaN → `"inf"`, `"-inf"`, `"nan"`), nulls → null, maps → objects,
/// arrays and sets → arrays, an error inside an array (as `EXEC` returns) →
/// `{"error": "..."}`.
pub fn frame_to_json(f: &Frame, enc: Encoding) -> Value {
    match f {
        Frame::Simple(b) | Frame::Bulk(b) => enc.text(b),
        Frame::Error(b) => {
            let mut m = Map::new();
            m.insert(
                "error".into(),
                Value::String(String::from_utf8_lossy(b).into_owned()),
            );
            Value::Object(m)
        }
        Frame::Integer(n) => Value::from(*n),
        Frame::Null => Value::Null,
        Frame::Double(d) => double(*d),
        Frame::Boolean(b) => Value::Bool(*b),
        Frame::BigNumber(digits) => Value::String(String::from_utf8_lossy(digits).into_owned()),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            Value::Array(v.iter().map(|x| frame_to_json(x, enc)).collect())
        }
        Frame::Map(pairs) => {
            let mut m = Map::with_capacity(pairs.len());
            for (k, v) in pairs {
                let key = match k {
                    Frame::Simple(b) | Frame::Bulk(b) => match enc.text(b) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                    Frame::Integer(n) => n.to_string(),
                    other => frame_to_json(other, enc).to_string(),
                };
                m.insert(key, frame_to_json(v, enc));
            }
            Value::Object(m)
        }
    }
}

/// A double as JSON: a number when finite, else its Redis spelling.
pub fn double(d: f64) -> Value {
    match serde_json::Number::from_f64(d) {
        Some(n) => Value::Number(n),
        None if d.is_nan() => Value::String("nan".into()),
        None if d > 0.0 => Value::String("inf".into()),
        None => Value::String("-inf".into()),
    }
}

/// A command argument from JSON: a string (in `enc`), or a number or boolean as its text.
pub fn arg(field: &str, v: &Value, enc: Encoding) -> Result<Vec<u8>, ApiError> {
    match v {
        Value::String(s) => enc.decode(field, s),
        Value::Number(n) => Ok(n.to_string().into_bytes()),
        Value::Bool(b) => Ok(if *b { b"1".to_vec() } else { b"0".to_vec() }),
        _ => Err(ApiError::invalid(format!(
            "{field}: expected a string or a number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_every_kind_of_reply() {
        let f = Frame::Map(vec![
            (
                Frame::Bulk(b"a".to_vec()),
                Frame::Array(vec![
                    Frame::Integer(3),
                    Frame::Null,
                    Frame::Double(f64::INFINITY),
                    Frame::Error(b"ERR x".to_vec()),
                ]),
            ),
            (Frame::Integer(7), Frame::Set(vec![Frame::Boolean(false)])),
        ]);
        assert_eq!(
            frame_to_json(&f, Encoding::Utf8),
            json!({"a": [3, null, "inf", {"error": "ERR x"}], "7": [false]})
        );
        assert!(!frame_is_binary(&f));
        let bin = Frame::Array(vec![
            Frame::Bulk(vec![0xff, 0]),
            Frame::Bulk(b"ok".to_vec()),
        ]);
        assert!(frame_is_binary(&bin));
        assert_eq!(
            frame_to_json(&bin, Encoding::Base64),
            json!(["/wA=", "b2s="])
        );
    }

    #[test]
    fn bodies_and_args() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct B {
            #[allow(dead_code)]
            a: Option<u32>,
        }
        assert!(parse_body::<B>(b"  ").is_ok());
        assert_eq!(parse_body::<B>(b"{").unwrap_err().code, "INVALID_JSON");
        assert_eq!(
            parse_body::<B>(b"{\"a\":\"x\"}").unwrap_err().code,
            "INVALID_REQUEST"
        );
        assert_eq!(
            parse_body::<B>(b"{\"b\":1}").unwrap_err().code,
            "INVALID_REQUEST"
        );
        assert_eq!(arg("x", &json!(12), Encoding::Utf8).unwrap(), b"12");
        assert_eq!(
            arg("x", &json!("/wA="), Encoding::Base64).unwrap(),
            vec![0xff, 0]
        );
        assert!(arg("x", &json!("***"), Encoding::Base64).is_err());
        assert!(arg("x", &json!([1]), Encoding::Utf8).is_err());
    }
}
