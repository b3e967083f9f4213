//! The count hook that lets another thread stop a running script, as Redis's
//! `luaMaskCountHook`: every [`HOOK_EVERY`] instructions it counts a tick (the server
//! hands its worker over once a script runs long) and checks for `SCRIPT KILL` /
//! `FUNCTION KILL`, and for a library's load running past its time
//! ([`crate::vm::LOAD_TIMEOUT`]).
//!
//! It is a raw Lua hook, not mlua's: mlua runs its hook only on the thread it was set
//! on, so a loop inside a coroutine could never be stopped, and Lua 5.1 gives every
//! coroutine its creator's hook. Once a kill is seen, the hook of the thread that saw
//! it fires at every instruction and raises each time, so that a script cannot catch
//! the kill with `pcall` and go on (Redis switches to a line hook for the same
//! reason); the next run finds the hook at every instruction with no kill pending and
//! puts it back to every [`HOOK_EVERY`].
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::Ordering;
use std::time::Instant;

use mlua::ffi;

use crate::vm::{current, HOOK_EVERY, RUNTIME_CHUNK};

/// Sets the hook on `lua`'s main state, where scripts run.
pub(crate) fn install(lua: &mlua::Lua) -> mlua::Result<()> {
    // SAFETY: `exec_raw` hands over the main state inside a protected call;
    // `lua_sethook` neither raises nor touches the stack.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_sethook(
                state,
                Some(count_hook),
                ffi::LUA_MASKCOUNT,
                HOOK_EVERY as c_int,
            );
        })
    }
}

const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
const LOAD_TIMEOUT: &str = "ERR FUNCTION LOAD timeout";

/// The hook (see the module's notes).
///
/// # Safety
/// Called by Lua only, as a `lua_Hook`: Lua makes room for LUA_MINSTACK values on
/// the stack before calling a hook.
unsafe extern "C-unwind" fn count_hook(l: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) {
    let stop = current::with_interrupt(|interrupt, deadline| {
        let stop = || {
            if interrupt.kill.load(Ordering::Acquire) {
                Some(KILLED)
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Some(LOAD_TIMEOUT)
            } else {
                None
            }
        };
        // SAFETY: `l` is the state running the hook.
        let every = unsafe { ffi::lua_gethookcount(l) };
        if let Some(why) = stop() {
            return Some(why);
        }
        if every != HOOK_EVERY as c_int {
            // Left at every instruction by a run that was stopped.
            // SAFETY: as above; `lua_sethook` neither raises nor touches the stack.
            unsafe {
                ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKCOUNT, HOOK_EVERY as c_int)
            };
            return None;
        }
        let ticks = interrupt.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(on_tick) = interrupt.on_tick.get() {
            let ticked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_tick(ticks)));
            if let Err(payload) = ticked {
                current::keep_panic(payload);
                return Some(KILLED);
            }
        }
        stop()
    });
    // Code run outside a script's run or a library's load (none is) is not stopped.
    let Some(Some(why)) = stop else {
        return;
    };
    // Only `Copy` values are live from here: `lua_error` jumps over this frame.
    // SAFETY: `ar` is the hook's own record, which `lua_getinfo` may fill; the hook
    // has LUA_MINSTACK free slots, and the table and its field take two.
    unsafe {
        ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKCOUNT, 1);
        // The runtime's own code, which runs the script under `xpcall` and returns
        // what it gave, must finish: raising there would lose the script's error.
        if ffi::lua_getinfo(l, c"S".as_ptr(), ar) != 0
            && !(*ar).source.is_null()
            && CStr::from_ptr((*ar).source) == RUNTIME_CHUNK
        {
            return;
        }
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushlstring(l, why.as_ptr() as *const c_char, why.len());
        ffi::lua_setfield(l, -2, c"err".as_ptr());
        ffi::lua_error(l);
    }
}
