//! The OpenAPI description against the server itself: every route CONTRACT.md lists is
//! described, and every described route answers as described (a documented status, and a
//! body that matches the documented schema).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use serde_json::{json, Value};

/// Resolves `{"$ref": "#/components/schemas/X"}`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Checks `v` against the parts of JSON Schema that the description uses.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            if !options.iter().any(|o| validate(doc, o, v, at).is_ok()) {
                return Err(format!("{at}: {v} matches none of {key}"));
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(doc, s, v, at)?;
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => {
            return Err(format!("{at}: {v} is not of type {t}"))
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)) => {
            return Err(format!("{at}: {v} is not of types {ts:?}"))
        }
        _ => {}
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required {
            let r = r.as_str().unwrap();
            if v.get(r).is_none() {
                return Err(format!("{at}: required field {r} missing in {v}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, sub) in props {
            if let Some(x) = obj.get(k) {
                validate(doc, sub, x, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// A request body for each documented route that takes one.
fn body_for(method: &str, path: &str) -> Option<Value> {
    Some(match (method, path) {
        ("put", "/api/v1/key/{key}") => json!({"value": "v", "ttl_ms": 60000}),
        ("post", "/api/v1/execute") => json!({"command": ["GET", "doc-key"]}),
        ("post", "/api/v1/queues/{name}/enqueue") | ("post", "/api/queue/{name}/enqueue") => {
            json!({"value": "m"})
        }
        ("post", "/api/v1/queues/{name}/dequeue") => json!({"lease_ms": 1000}),
        ("post", "/api/v1/queues/{name}/ack") | ("post", "/api/v1/queues/{name}/nack") => {
            json!({"ids": ["1-00000000"]})
        }
        ("post", "/api/kv/{key}") => json!({"value": "v"}),
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_is_described_and_answers_as_described() {
    let s = TestServer::start();
    let c = reqwest::Client::new();
    let base = s.http();
    let doc: Value = c
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let contract = [
        ("get", "/api/v1/healthz"),
        ("get", "/api/v1/readyz"),
        ("get", "/api/v1/stats"),
        ("get", "/api/v1/slowlog"),
        ("get", "/api/v1/latency"),
        ("get", "/api/v1/keys"),
        ("get", "/api/v1/key/{key}"),
        ("put", "/api/v1/key/{key}"),
        ("delete", "/api/v1/key/{key}"),
        ("post", "/api/v1/execute"),
        ("get", "/api/v1/queues"),
        ("post", "/api/v1/queues/{name}/enqueue"),
        ("post", "/api/v1/queues/{name}/dequeue"),
        ("get", "/api/v1/queues/{name}/peek"),
        ("get", "/api/v1/queues/{name}/size"),
        ("delete", "/api/v1/queues/{name}"),
        ("post", "/api/v1/queues/{name}/ack"),
        ("post", "/api/v1/queues/{name}/nack"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/api/v1/ws"),
        ("get", "/metrics"),
        ("get", "/api/kv"),
        ("get", "/api/kv/{key}"),
        ("post", "/api/kv/{key}"),
        ("delete", "/api/kv/{key}"),
        ("get", "/api/queue"),
        ("post", "/api/queue/{name}/enqueue"),
        ("post", "/api/queue/{name}/dequeue"),
        ("get", "/api/queue/{name}/peek"),
        ("get", "/api/queue/{name}/size"),
        ("delete", "/api/queue/{name}"),
    ];
    for (method, path) in contract {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    let mut conn = s.client();
    let mut checked = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            // Fresh data for each call: a string key and a queue with a message.
            let _: () = redis::cmd("SET")
                .arg("doc-key")
                .arg("v")
                .query(&mut conn)
                .unwrap();
            let _: String = redis::cmd("QADD")
                .arg("doc-queue")
                .arg("m")
                .query(&mut conn)
                .unwrap();
            let url = format!(
                "{base}{}",
                path.replace("{key}", "doc-key")
                    .replace("{name}", "doc-queue")
            );
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = c.request(m, &url);
            if let Some(b) = body_for(method, path) {
                req = req.json(&b);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16().to_string();
            let ctype = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let text = res.text().await.unwrap();
            let documented = &op["responses"][&status];
            assert!(
                documented.is_object(),
                "{method} {path} answered {status}, which is not documented: {text}"
            );
            if let Some(content) = documented.get("content").and_then(Value::as_object) {
                let (media, spec) = content.iter().next().unwrap();
                assert!(
                    ctype.starts_with(media.as_str()),
                    "{method} {path}: content-type {ctype}, documented {media}"
                );
                if media == "application/json" {
                    let body: Value = serde_json::from_str(&text).unwrap();
                    if let Some(schema) = spec.get("schema") {
                        validate(&doc, schema, &body, &format!("{method} {path}"))
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= contract.len());
}

/// The validator catches what it must, so that the test above can fail.
#[test]
fn the_validator_rejects_mismatches() {
    let doc = json!({"components": {"schemas": {"A": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}, "s": {"type": ["string", "null"]}}}}}});
    let a = json!({"$ref": "#/components/schemas/A"});
    assert!(validate(&doc, &a, &json!({"n": 1, "s": null}), "x").is_ok());
    assert!(validate(&doc, &a, &json!({"s": "x"}), "x").is_err());
    assert!(validate(&doc, &a, &json!({"n": "1"}), "x").is_err());
    assert!(validate(&doc, &a, &json!({"n": 1, "s": 3}), "x").is_err());
    assert!(validate(
        &doc,
        &json!({"type": "array", "items": a}),
        &json!([{"n": 1}, {}]),
        "x"
    )
    .is_err());
}
