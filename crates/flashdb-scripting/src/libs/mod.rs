//! The libraries Redis loads into its Lua state, besides Lua's own `string`, `table` and
//! `math`: `cjson`, `cmsgpack`, `bit` and `struct`, and Redis's deterministic
//! `math.random`.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod math;
pub mod structs;

/// A Lua runtime error with `msg`.
pub(crate) fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// A string argument as the Lua C API reads one (`luaL_checklstring`, `lua_isstring`):
/// a string's bytes, or a number as Lua writes it (`%.14g`); `None` for anything else.
pub(crate) fn lua_string_bytes(v: &mlua::Value) -> Option<Vec<u8>> {
    match v {
        mlua::Value::String(s) => Some(s.as_bytes().to_vec()),
        mlua::Value::Number(n) => Some(crate::fmt::g(*n, 14).into_bytes()),
        mlua::Value::Integer(n) => Some(crate::fmt::g(*n as f64, 14).into_bytes()),
        _ => None,
    }
}
