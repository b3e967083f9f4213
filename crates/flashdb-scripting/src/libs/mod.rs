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
