//! `redis.call` and `redis.pcall` as Lua C functions, as Redis's own
//! `luaRedisGenericCommand`: the arguments are read straight off the Lua stack and the
//! command's reply is pushed onto it, converted by Redis 7.0's rules (`script_lua.c`).
//!
//! They run for every command a script sends, and an mlua callback costs more per call
//! than the rest of a short command's path (it locks the state and turns each argument
//! and result into a counted reference and back): for a script that increments 10 keys
//! that was a tenth of the server's time.
//!
//! A Lua error unwinds with `longjmp`, which skips Rust destructors, and any Lua API
//! function that allocates can raise one (the heap is bounded). So each function does
//! all of its Rust work in [`prepare`], whose values are dropped when it returns, and
//! afterwards holds only pointers and integers while it pushes onto the stack and
//! raises. A panic in the host is caught in [`prepare`], never unwinds into Lua, and is
//! resumed once the script's run has returned to Rust ([`current::resume_panic`]).
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int};
use std::io::Write;

use mlua::ffi;
use smallvec::SmallVec;

use crate::convert::MAX_DEPTH;
use crate::vm::{current, error_text_into};

/// `redis.call`: the command's reply, or the command's error raised as `{err=...}`.
///
/// # Safety
/// Called by Lua only, as a `lua_CFunction` (see the module's notes on unwinding).
pub unsafe extern "C-unwind" fn redis_call(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this with a valid state, as a C function.
    unsafe { generic(l, true) }
}

/// `redis.pcall`: the command's reply, or its error as the `{err=...}` table returned.
///
/// # Safety
/// Called by Lua only, as a `lua_CFunction` (see the module's notes on unwinding).
pub unsafe extern "C-unwind" fn redis_pcall(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this with a valid state, as a C function.
    unsafe { generic(l, false) }
}

/// What [`prepare`] leaves for the part that talks to Lua: only `Copy` values, so
/// nothing needs dropping when a Lua error jumps over the frame.
#[derive(Clone, Copy)]
enum Prepared {
    /// The command's reply (not an error): RESP bytes in the host's buffer, which stays
    /// untouched until the host's next call.
    Reply {
        ptr: *const u8,
        len: usize,
        resp3: bool,
    },
    /// The command failed (or its arguments were refused): the text of the `err`
    /// field, in this thread's scratch buffer.
    Error { ptr: *const u8, len: usize },
    /// A message raised as a plain Lua error, not a table.
    Raise(&'static str),
}

/// Reused from call to call so that a command allocates nothing here: the text of
/// number arguments, and the text of an error.
struct Scratch {
    numbers: Vec<u8>,
    error: Vec<u8>,
}

/// Bytes of scratch space kept between calls.
const KEPT_SCRATCH: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { numbers: Vec::new(), error: Vec::new() })
    };
}

/// One argument: a Lua string's bytes (alive while it is on the stack), or a range of
/// the numbers' text.
#[derive(Clone, Copy)]
enum Arg {
    Lua(*const u8, usize),
    Number(usize, usize),
}

unsafe fn generic(l: *mut ffi::lua_State, raise: bool) -> c_int {
    // SAFETY: `l` is the state calling us; `prepare` touches only its arguments.
    let prepared = unsafe { prepare(l) };
    // From here on only `Copy` values are live (see the module's notes).
    // SAFETY: pointers and lengths come from `prepare` and point into buffers nothing
    // changes before this call returns; the stack has room for what is pushed (below).
    unsafe {
        match prepared {
            Prepared::Reply { ptr, len, resp3 } => {
                let reply = std::slice::from_raw_parts(ptr, len);
                let mut r = Resp { b: reply, p: 0 };
                if push_value(l, &mut r, resp3, 0).is_err() {
                    raise_message(l, "ERR the command's reply could not be read");
                }
                1
            }
            Prepared::Error { ptr, len } => {
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_pushlstring(l, ptr as *const c_char, len);
                ffi::lua_setfield(l, -2, c"err".as_ptr());
                if raise {
                    ffi::lua_error(l);
                }
                1
            }
            Prepared::Raise(msg) => raise_message(l, msg),
        }
    }
}

/// Raises `msg` as a Lua error (a string).
unsafe fn raise_message(l: *mut ffi::lua_State, msg: &'static str) -> ! {
    // SAFETY: a C function may always push one value (LUA_MINSTACK slots).
    unsafe {
        ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
        ffi::lua_error(l)
    }
}

/// Reads the arguments, runs the command on the host and returns what is left to push.
/// Calls no Lua function that can raise an error, and catches a panic of the host.
unsafe fn prepare(l: *mut ffi::lua_State) -> Prepared {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SCRATCH.with(|cell| {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                // Only a host calling back into Lua could get here, which none does.
                return Prepared::Raise("ERR redis.call cannot be nested");
            };
            let Scratch { numbers, error } = &mut *scratch;
            // What a call with huge arguments or a huge error took is not kept for good.
            for buf in [&mut *numbers, &mut *error] {
                if buf.capacity() > KEPT_SCRATCH {
                    buf.clear();
                    buf.shrink_to(KEPT_SCRATCH);
                }
            }
            // SAFETY: `l` is the calling state (see `generic`).
            let args = match unsafe { read_args(l, numbers) } {
                Ok(args) => args,
                Err(msg) => {
                    error.clear();
                    error_text_into(msg.as_bytes(), error);
                    return Prepared::Error {
                        ptr: error.as_ptr(),
                        len: error.len(),
                    };
                }
            };
            let argv: SmallVec<[&[u8]; 16]> = args
                .iter()
                .map(|a| match *a {
                    // SAFETY: the string is an argument of this call, so it stays on
                    // the stack (and alive) until the call returns, and Lua runs no code
                    // (no collector step) while the host runs the command.
                    Arg::Lua(ptr, len) => unsafe { std::slice::from_raw_parts(ptr, len) },
                    Arg::Number(start, end) => &numbers[start..end],
                })
                .collect();
            let resp3 = current::resp3();
            let prepared = current::with(|host| {
                let reply = host.call(&argv, resp3);
                match reply.first() {
                    Some(b'-') => {
                        error.clear();
                        error_text_into(reply, error);
                        Prepared::Error {
                            ptr: error.as_ptr(),
                            len: error.len(),
                        }
                    }
                    _ => Prepared::Reply {
                        ptr: reply.as_ptr(),
                        len: reply.len(),
                        resp3,
                    },
                }
            });
            prepared.unwrap_or(Prepared::Raise(
                "ERR redis.call can only be used while a script runs",
            ))
        })
    }));
    caught.unwrap_or_else(|payload| {
        current::keep_panic(payload);
        Prepared::Raise("ERR the command failed unexpectedly")
    })
}

/// The call's arguments; numbers are written to `numbers` as Redis writes them.
unsafe fn read_args(
    l: *mut ffi::lua_State,
    numbers: &mut Vec<u8>,
) -> Result<SmallVec<[Arg; 16]>, &'static str> {
    numbers.clear();
    // SAFETY: reading the type of, and the value at, indexes 1..=top of the calling
    // state; `lua_tolstring` on a string neither converts nor allocates.
    unsafe {
        let n = ffi::lua_gettop(l);
        if n == 0 {
            return Err("Please specify at least one argument for this redis lib call");
        }
        let mut args = SmallVec::with_capacity(n as usize);
        for i in 1..=n {
            match ffi::lua_type(l, i) {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let ptr = ffi::lua_tolstring(l, i, &mut len);
                    args.push(Arg::Lua(ptr as *const u8, len));
                }
                ffi::LUA_TNUMBER => {
                    let start = numbers.len();
                    number_arg(ffi::lua_tonumber(l, i), numbers);
                    args.push(Arg::Number(start, numbers.len()));
                }
                _ => return Err("Lua redis lib command arguments must be strings or integers"),
            }
        }
        Ok(args)
    }
}

/// A Lua number as a command argument: `%.17g`, as Redis formats it (so `1e17` is
/// `1e+17` and `-0` stays `-0`). Whole numbers below 10^16 print as integers under
/// `%.17g`, and are written without the general formatter.
pub(crate) fn number_arg(n: f64, out: &mut Vec<u8>) {
    if n.fract() == 0.0 && n.abs() < 1e16 && !(n == 0.0 && n.is_sign_negative()) {
        let _ = write!(out, "{}", n as i64);
    } else {
        out.extend_from_slice(crate::fmt::g(n, 17).as_bytes());
    }
}

/// A command's reply being read.
struct Resp<'a> {
    b: &'a [u8],
    p: usize,
}

/// The reply does not parse (never expected of the host).
struct Bad;

impl<'a> Resp<'a> {
    fn line(&mut self) -> Result<&'a [u8], Bad> {
        let rest = self.b.get(self.p..).ok_or(Bad)?;
        let end = rest.windows(2).position(|w| w == b"\r\n").ok_or(Bad)?;
        self.p += end + 2;
        Ok(&rest[..end])
    }

    fn int(&mut self) -> Result<i64, Bad> {
        let l = self.line()?;
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Bad)
    }

    fn count(&mut self) -> Result<Option<c_int>, Bad> {
        let n = self.int()?;
        if n < 0 {
            return Ok(None);
        }
        // Each element takes at least one byte of the reply.
        if n as u64 > self.b.len() as u64 {
            return Err(Bad);
        }
        c_int::try_from(n).map(Some).map_err(|_| Bad)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        let end = self
            .p
            .checked_add(n)
            .filter(|&e| e + 2 <= self.b.len())
            .ok_or(Bad)?;
        let s = &self.b[self.p..end];
        self.p = end + 2;
        Ok(s)
    }
}

/// Pushes the next value of the reply, as Redis converts it: integers are numbers,
/// bulk strings strings, a null `false` (RESP2) or `nil` (RESP3), a status `{ok=...}`,
/// an error `{err=...}`, RESP3's types tables naming them (`{map=...}`, `{set=...}`,
/// `{double=...}`, `{big_number=...}`, `{verbatim_string=...}`).
///
/// Leaves exactly one value more on the stack, or fails with the stack as it was left.
unsafe fn push_value(
    l: *mut ffi::lua_State,
    r: &mut Resp<'_>,
    resp3: bool,
    depth: usize,
) -> Result<(), Bad> {
    if depth > MAX_DEPTH {
        return Err(Bad);
    }
    // SAFETY: each level first makes room for what it pushes itself (at most four
    // slots: a map's two tables, a key and its value); the bytes pushed are slices of
    // the reply.
    unsafe {
        if ffi::lua_checkstack(l, 4) == 0 {
            return Err(Bad);
        }
        let t = *r.b.get(r.p).ok_or(Bad)?;
        r.p += 1;
        let push_null = || {
            if resp3 {
                ffi::lua_pushnil(l)
            } else {
                ffi::lua_pushboolean(l, 0)
            }
        };
        match t {
            b':' => ffi::lua_pushnumber(l, r.int()? as f64),
            b'$' => match r.int()? {
                n if n < 0 => push_null(),
                n => push_bytes(l, r.take(usize::try_from(n).map_err(|_| Bad)?)?),
            },
            b'+' => {
                let s = r.line()?;
                single(l, c"ok", |l| push_bytes(l, s))
            }
            b'-' => {
                let s = r.line()?;
                single(l, c"err", |l| push_bytes(l, s))
            }
            b'_' => {
                r.line()?;
                push_null()
            }
            b'#' => {
                let b = r.line()? == b"t";
                ffi::lua_pushboolean(l, b as c_int)
            }
            b',' => {
                let d = match r.line()? {
                    b"inf" => f64::INFINITY,
                    b"-inf" => f64::NEG_INFINITY,
                    s => std::str::from_utf8(s)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(Bad)?,
                };
                single(l, c"double", |l| ffi::lua_pushnumber(l, d))
            }
            b'(' => {
                let s = r.line()?;
                single(l, c"big_number", |l| push_bytes(l, s))
            }
            b'=' => {
                let n = usize::try_from(r.int()?).map_err(|_| Bad)?;
                let body = r.take(n)?;
                let (format, text) = if body.len() >= 4 {
                    (&body[..3], &body[4..])
                } else {
                    (&b"txt"[..], body)
                };
                single(l, c"verbatim_string", |l| {
                    ffi::lua_createtable(l, 0, 2);
                    push_bytes(l, format);
                    ffi::lua_setfield(l, -2, c"format".as_ptr());
                    push_bytes(l, text);
                    ffi::lua_setfield(l, -2, c"string".as_ptr());
                })
            }
            b'*' | b'>' => match r.count()? {
                None => push_null(),
                Some(n) => {
                    ffi::lua_createtable(l, n, 0);
                    for i in 1..=n {
                        if let Err(e) = push_value(l, r, resp3, depth + 1) {
                            ffi::lua_pop(l, 1);
                            return Err(e);
                        }
                        ffi::lua_rawseti_(l, -2, i);
                    }
                }
            },
            b'%' | b'~' => {
                let is_map = t == b'%';
                let n = r.count()?.ok_or(Bad)?;
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_createtable(l, 0, n);
                for _ in 0..n {
                    if let Err(e) = push_value(l, r, resp3, depth + 1) {
                        ffi::lua_pop(l, 2);
                        return Err(e);
                    }
                    if is_map {
                        if let Err(e) = push_value(l, r, resp3, depth + 1) {
                            ffi::lua_pop(l, 3);
                            return Err(e);
                        }
                    } else {
                        ffi::lua_pushboolean(l, 1);
                    }
                    if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                        // A nil key cannot be stored (Redis skips it too).
                        ffi::lua_pop(l, 2);
                    } else {
                        ffi::lua_rawset(l, -3);
                    }
                }
                let name = if is_map { c"map" } else { c"set" };
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            _ => return Err(Bad),
        }
    }
    Ok(())
}

/// Pushes `bytes` as a Lua string.
unsafe fn push_bytes(l: *mut ffi::lua_State, bytes: &[u8]) {
    // SAFETY: the caller checked that the stack has room.
    unsafe {
        ffi::lua_pushlstring(l, bytes.as_ptr() as *const c_char, bytes.len());
    }
}

/// Pushes `{key = v}`, with `v` pushed by `value`.
unsafe fn single(
    l: *mut ffi::lua_State,
    key: &std::ffi::CStr,
    value: impl FnOnce(*mut ffi::lua_State),
) {
    // SAFETY: the caller checked that the stack has room for a table and a value.
    unsafe {
        ffi::lua_createtable(l, 0, 1);
        value(l);
        ffi::lua_setfield(l, -2, key.as_ptr());
    }
}

/// The global `pcall` Redis installs in place of Lua's: an error raised as a table
/// with an `err` field (as `redis.call` and `redis.error_reply` make) is returned as
/// that field, so `local ok, e = pcall(redis.call, ...)` gets the error's text.
///
/// # Safety
/// Called by Lua only, as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn protected_call(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: the stack holds the function and its arguments; one slot is pushed
    // before the call (a C function has LUA_MINSTACK free), and on an error the stack
    // is left with just the error, so the two pushes after it have room. Nothing here
    // needs dropping if `lua_getfield`'s metamethod raises.
    unsafe {
        let argc = ffi::lua_gettop(l);
        if argc == 0 {
            // Redis's own `pcall()` calls what lies above the stack; nothing is there.
            ffi::lua_pushboolean(l, 0);
            let msg = "attempt to call a nil value";
            ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
            return 2;
        }
        ffi::lua_pushboolean(l, 1);
        ffi::lua_insert(l, 1);
        if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
            ffi::lua_remove(l, 1);
            if ffi::lua_istable(l, -1) != 0 {
                ffi::lua_getfield(l, -1, c"err".as_ptr());
                if ffi::lua_isstring(l, -1) != 0 {
                    ffi::lua_replace(l, -2);
                } else {
                    ffi::lua_pop(l, 1);
                }
            }
            ffi::lua_pushboolean(l, 0);
            ffi::lua_insert(l, 1);
        }
        ffi::lua_gettop(l)
    }
}

/// Makes `redis.call` and `redis.pcall` of the `redis` table `redis`.
pub(crate) fn install(lua: &mlua::Lua, redis: &mlua::Table) -> mlua::Result<()> {
    // SAFETY: both are C functions that keep the Lua C API's rules: they read only
    // their own arguments, push what they return after making room for it, and raise
    // errors with `lua_error` while holding nothing that needs dropping.
    let (call, pcall) = unsafe {
        (
            lua.create_c_function(redis_call)?,
            lua.create_c_function(redis_pcall)?,
        )
    };
    redis.raw_set("call", call)?;
    redis.raw_set("pcall", pcall)
}

/// Puts Redis's [`protected_call`] in place of Lua's `pcall` in `globals`.
pub(crate) fn install_pcall(lua: &mlua::Lua, globals: &mlua::Table) -> mlua::Result<()> {
    // SAFETY: a C function that keeps the Lua C API's rules (see its notes).
    let pcall = unsafe { lua.create_c_function(protected_call)? };
    globals.raw_set("pcall", pcall)
}
