//! Replies as people and scripts read them: as redis-cli prints them on a terminal, raw
//! when the output is piped, or as JSON.

use flashdb_protocol::Frame;
use serde_json::Value;

/// How replies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// redis-cli's terminal form: `"value"`, `(integer) 1`, `(nil)`, numbered lists.
    Human,
    /// redis-cli's raw form (its default when not on a terminal): values as they are,
    /// one per line.
    Raw,
    /// One JSON document per reply.
    Json,
}

fn double_text(d: f64) -> String {
    if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if d.is_nan() {
        "nan".to_string()
    } else {
        d.to_string()
    }
}

/// A reply in `style`, with a final newline.
pub fn render(f: &Frame, style: Style) -> Vec<u8> {
    match style {
        Style::Human => {
            let mut out = String::new();
            human(f, 0, &mut out);
            out.into_bytes()
        }
        Style::Raw => {
            let mut out = Vec::new();
            raw(f, &mut out);
            out
        }
        Style::Json => {
            let mut s = to_json(f).to_string();
            s.push('\n');
            s.into_bytes()
        }
    }
}

fn human(f: &Frame, indent: usize, out: &mut String) {
    match f {
        Frame::Simple(s) => out.push_str(&String::from_utf8_lossy(s)),
        Frame::Error(e) => {
            out.push_str("(error) ");
            out.push_str(&String::from_utf8_lossy(e));
        }
        Frame::Integer(n) => out.push_str(&format!("(integer) {n}")),
        Frame::Bulk(b) => out.push_str(&flashdb_protocol::repr(b)),
        Frame::Null => out.push_str("(nil)"),
        Frame::Double(d) => out.push_str(&format!("(double) {}", double_text(*d))),
        Frame::Boolean(b) => out.push_str(if *b { "(true)" } else { "(false)" }),
        Frame::BigNumber(n) => {
            out.push_str(&format!("(big number) {}", String::from_utf8_lossy(n)))
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            if items.is_empty() {
                out.push_str("(empty array)");
            }
            let width = items.len().to_string().len();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                let label = format!("{:>width$}) ", i + 1);
                out.push_str(&label);
                human(item, indent + label.len(), out);
                if i + 1 < items.len() {
                    out.push('\n');
                }
            }
        }
        Frame::Map(pairs) => {
            if pairs.is_empty() {
                out.push_str("(empty hash)");
            }
            let width = pairs.len().to_string().len();
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                let label = format!("{:>width$}# ", i + 1);
                out.push_str(&label);
                human(k, indent + label.len(), out);
                out.push_str(" => ");
                human(v, indent + label.len() + 4, out);
                if i + 1 < pairs.len() {
                    out.push('\n');
                }
            }
        }
    }
    if indent == 0 {
        out.push('\n');
    }
}

fn raw(f: &Frame, out: &mut Vec<u8>) {
    match f {
        Frame::Simple(b) | Frame::Bulk(b) | Frame::Error(b) | Frame::BigNumber(b) => {
            out.extend_from_slice(b);
            out.push(b'\n');
        }
        Frame::Integer(n) => out.extend_from_slice(format!("{n}\n").as_bytes()),
        Frame::Double(d) => out.extend_from_slice(format!("{}\n", double_text(*d)).as_bytes()),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"1\n" } else { b"0\n" }),
        Frame::Null => out.push(b'\n'),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            for item in items {
                raw(item, out);
            }
        }
        Frame::Map(pairs) => {
            for (k, v) in pairs {
                raw(k, out);
                raw(v, out);
            }
        }
    }
}

/// A reply as JSON: strings (text, lossily decoded if not UTF-8), numbers, null, arrays,
/// objects for maps, `{"error": "..."}` for errors.
pub fn to_json(f: &Frame) -> Value {
    match f {
        Frame::Simple(b) | Frame::Bulk(b) | Frame::BigNumber(b) => {
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        Frame::Error(e) => serde_json::json!({"error": String::from_utf8_lossy(e)}),
        Frame::Integer(n) => Value::from(*n),
        Frame::Double(d) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(double_text(*d))),
        Frame::Boolean(b) => Value::Bool(*b),
        Frame::Null => Value::Null,
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        Frame::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Frame::Simple(b) | Frame::Bulk(b) => {
                            String::from_utf8_lossy(b).into_owned()
                        }
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(f: &Frame) -> String {
        String::from_utf8(render(f, Style::Human)).unwrap_or_default()
    }

    /// The terminal form matches redis-cli's, nesting included.
    #[test]
    fn human_form_is_redis_clis() {
        assert_eq!(h(&Frame::Bulk(b"a\"b\n".to_vec())), "\"a\\\"b\\n\"\n");
        assert_eq!(h(&Frame::Integer(3)), "(integer) 3\n");
        assert_eq!(h(&Frame::Null), "(nil)\n");
        assert_eq!(h(&Frame::Error(b"ERR x".to_vec())), "(error) ERR x\n");
        assert_eq!(h(&Frame::Array(vec![])), "(empty array)\n");
        let nested = Frame::Array(vec![
            Frame::Bulk(b"a".to_vec()),
            Frame::Array(vec![Frame::Integer(1), Frame::Bulk(b"b".to_vec())]),
        ]);
        assert_eq!(h(&nested), "1) \"a\"\n2) 1) (integer) 1\n   2) \"b\"\n");
        let ten = Frame::Array((0..10).map(Frame::Integer).collect());
        assert!(h(&ten).starts_with(" 1) (integer) 0\n 2)"));
        assert!(h(&ten).ends_with("10) (integer) 9\n"));
    }

    #[test]
    fn raw_and_json_forms() {
        let f = Frame::Array(vec![
            Frame::Bulk(b"a".to_vec()),
            Frame::Null,
            Frame::Integer(2),
        ]);
        assert_eq!(render(&f, Style::Raw), b"a\n\n2\n");
        assert_eq!(
            String::from_utf8(render(&f, Style::Json)).unwrap_or_default(),
            "[\"a\",null,2]\n"
        );
        let m = Frame::Map(vec![(Frame::Bulk(b"k".to_vec()), Frame::Double(1.5))]);
        assert_eq!(to_json(&m), serde_json::json!({"k": 1.5}));
    }
}
