//! The Lua state on its own: sandbox, conversions and libraries, with a host that
//! answers commands from a table instead of a keyspace.

use flashdb_protocol::{parse_frame, Frame, ProtocolVersion, ReplyBuf};
use flashdb_scripting::{Host, Kind, Vm};

/// Answers `incr` with an error, `ok` with a status, `nil` with a null, anything else
/// with its arguments as an array.
#[derive(Default)]
struct Echo {
    buf: Vec<u8>,
}

impl Host for Echo {
    fn call(&mut self, args: &[&[u8]], _resp3: bool) -> &[u8] {
        self.buf.clear();
        match args[0] {
            b"incr" => self
                .buf
                .extend_from_slice(b"-ERR value is not an integer or out of range\r\n"),
            b"ok" => self.buf.extend_from_slice(b"+OK\r\n"),
            b"nil" => self.buf.extend_from_slice(b"$-1\r\n"),
            b"panic" => panic!("the host failed"),
            // A bulk string shorter than it says.
            b"bad" => self.buf.extend_from_slice(b"$5\r\nab\r\n"),
            // Arrays nested deeper than a reply may be.
            b"deep" => {
                for _ in 0..1100 {
                    self.buf.extend_from_slice(b"*1\r\n");
                }
                self.buf.extend_from_slice(b":1\r\n");
            }
            // 200,000 strings of 20 bytes: several megabytes as Lua values.
            b"big" => {
                self.buf.extend_from_slice(b"*200000\r\n");
                for i in 0..200_000 {
                    self.buf
                        .extend_from_slice(format!("$20\r\n{i:020}\r\n").as_bytes());
                }
            }
            _ => {
                self.buf
                    .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in args {
                    self.buf
                        .extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    self.buf.extend_from_slice(a);
                    self.buf.extend_from_slice(b"\r\n");
                }
            }
        }
        &self.buf
    }
    fn log(&mut self, _level: u8, _message: &str) {}
    fn acl_check(&mut self, _args: &[&[u8]]) -> Result<bool, String> {
        Ok(true)
    }
}

fn eval(vm: &Vm, body: &str, keys: &[&str], args: &[&str]) -> Frame {
    let f = match vm.compile(body.as_bytes()) {
        Ok(f) => f,
        Err(e) => return Frame::Error(format!("COMPILE {e}").into_bytes()),
    };
    let mut out = ReplyBuf::new(ProtocolVersion::Resp2);
    let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let args: Vec<&[u8]> = args.iter().map(|k| k.as_bytes()).collect();
    vm.run(&f, "sha", &keys, &args, &mut Echo::default(), &mut out);
    match parse_frame(out.as_bytes()) {
        Ok(Some((f, n))) if n == out.len() => f,
        other => panic!(
            "bad reply {other:?}: {:?}",
            String::from_utf8_lossy(out.as_bytes())
        ),
    }
}

fn err(s: &str) -> Frame {
    Frame::Error(s.as_bytes().to_vec())
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

#[test]
fn sandbox_and_errors_read_as_redis() {
    let vm = Vm::new(Kind::Eval).expect("vm");
    assert_eq!(
        eval(&vm, "return type(print)", &[], &[]),
        err("ERR user_script:1: Script attempted to access nonexistent global variable 'print' script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "x = 1", &[], &[]),
        err(
            "ERR user_script:1: Attempt to modify a readonly table script: sha, on @user_script:1."
        )
    );
    assert_eq!(
        eval(&vm, "\nstring.x = 1", &[], &[]),
        err(
            "ERR user_script:2: Attempt to modify a readonly table script: sha, on @user_script:2."
        )
    );
    assert_eq!(
        eval(&vm, "return redis.call('incr', 'k')", &[], &[]),
        err("ERR value is not an integer or out of range script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "return redis.pcall('incr', 'k')", &[], &[]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        eval(&vm, "error('boom')", &[], &[]),
        err("ERR user_script:1: boom script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "error({err='my err'})", &[], &[]),
        err("my err script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "return redis.error_reply('x y')", &[], &[]),
        err("x y")
    );
    assert_eq!(
        eval(&vm, "return redis.error_reply('boom')", &[], &[]),
        err("ERR boom")
    );
    assert_eq!(
        eval(&vm, "return redis.call()", &[], &[]),
        err("ERR Please specify at least one argument for this redis lib call script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "return redis.setresp(4)", &[], &[]),
        err("ERR RESP version must be 2 or 3. script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "local x = nil; return x.y", &[], &[]),
        err("ERR user_script:1: attempt to index local 'x' (a nil value) script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "return 1 +", &[], &[]),
        err("COMPILE user_script:1: unexpected symbol near '<eof>'")
    );
    assert_eq!(
        eval(&vm, "return loadstring('x = 1')()", &[], &[]),
        err(
            "ERR [string \"x = 1\"]:1: Attempt to modify a readonly table script: sha, on x = 1:1."
        )
    );
}

#[test]
fn conversions_follow_redis() {
    let vm = Vm::new(Kind::Eval).expect("vm");
    assert_eq!(
        eval(
            &vm,
            "return {1,{ok='fine'},{err='bad'}, true, false, nil, 5}",
            &[],
            &[]
        ),
        Frame::Array(vec![
            Frame::Integer(1),
            Frame::Simple(b"fine".to_vec()),
            err("bad"),
            Frame::Integer(1),
            Frame::Null
        ])
    );
    assert_eq!(eval(&vm, "return 3.99", &[], &[]), Frame::Integer(3));
    assert_eq!(
        eval(
            &vm,
            "return redis.call('set', KEYS[1], 1.5, ARGV[1])",
            &["k"],
            &["v"]
        ),
        Frame::Array(vec![bulk("set"), bulk("k"), bulk("1.5"), bulk("v")])
    );
    assert_eq!(eval(&vm, "return redis.call('nil')", &[], &[]), Frame::Null);
    assert_eq!(
        eval(&vm, "return type(redis.call('nil'))", &[], &[]),
        bulk("boolean")
    );
    assert_eq!(
        eval(&vm, "return redis.call('ok')['ok']", &[], &[]),
        bulk("OK")
    );
    assert_eq!(
        eval(
            &vm,
            "math.randomseed(0); return tostring(math.random())",
            &[],
            &[]
        ),
        bulk("0.17082803611217")
    );
    assert_eq!(
        eval(
            &vm,
            "math.randomseed(0); return {math.random(), math.random(10), math.random(5,7)}",
            &[],
            &[]
        ),
        Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(8),
            Frame::Integer(5)
        ])
    );
    assert_eq!(
        eval(&vm, "return redis.sha1hex('')", &[], &[]),
        bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    );
}

#[test]
fn libraries_encode_as_redis() {
    let vm = Vm::new(Kind::Eval).expect("vm");
    assert_eq!(
        eval(&vm, "return cjson.encode({1,2,{a=1}})", &[], &[]),
        bulk("[1,2,{\"a\":1}]")
    );
    assert_eq!(eval(&vm, "return cjson.encode({})", &[], &[]), bulk("{}"));
    assert_eq!(
        eval(&vm, "return cjson.encode('a/b\\n')", &[], &[]),
        bulk("\"a\\/b\\n\"")
    );
    assert_eq!(eval(&vm, "return cjson.encode(0.1)", &[], &[]), bulk("0.1"));
    assert_eq!(
        eval(&vm, "local t = cjson.decode('{\"a\":[1,2,null],\"b\":\"x\"}'); return {t.a[2], t.b, tostring(t.a[3] == cjson.null)}", &[], &[]),
        Frame::Array(vec![Frame::Integer(2), bulk("x"), bulk("true")])
    );
    assert_eq!(
        eval(
            &vm,
            "local t = cmsgpack.unpack(cmsgpack.pack({1,2,{a='x'}}, 300, -5, 1.5)); return #t",
            &[],
            &[]
        ),
        Frame::Integer(3)
    );
    assert_eq!(
        eval(
            &vm,
            "return {cmsgpack.unpack(cmsgpack.pack(300, -5, 'hi'))}",
            &[],
            &[]
        ),
        Frame::Array(vec![Frame::Integer(300), Frame::Integer(-5), bulk("hi")])
    );
    assert_eq!(
        eval(&vm, "return cmsgpack.pack(1, 300, 'a')", &[], &[]),
        Frame::Bulk(vec![0x01, 0xcd, 0x01, 0x2c, 0xa1, b'a'])
    );
    assert_eq!(
        eval(&vm, "return bit.tohex(bit.bxor(0xf0, 0xff))", &[], &[]),
        bulk("0000000f")
    );
    assert_eq!(
        eval(&vm, "return bit.band(-1, 255)", &[], &[]),
        Frame::Integer(255)
    );
    assert_eq!(
        eval(&vm, "return bit.lshift(1, 31)", &[], &[]),
        Frame::Integer(-2147483648)
    );
    assert_eq!(
        eval(
            &vm,
            "return {struct.unpack('>I2i4', struct.pack('>I2i4', 513, -2))}",
            &[],
            &[]
        ),
        Frame::Array(vec![
            Frame::Integer(513),
            Frame::Integer(-2),
            Frame::Integer(7)
        ])
    );
    assert_eq!(
        eval(&vm, "return struct.size('>iHd')", &[], &[]),
        Frame::Integer(14)
    );
}

#[test]
fn the_kill_check_runs_every_hundred_thousand_instructions() {
    let vm = Vm::new(Kind::Eval).expect("vm");
    let interrupt = vm.interrupt();
    eval(
        &vm,
        "local x = 0 for i = 1, 10 do x = x + i end return x",
        &[],
        &[],
    );
    assert_eq!(
        interrupt.ticks.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    eval(
        &vm,
        "local x = 0 for i = 1, 1000000 do x = x + i end return x",
        &[],
        &[],
    );
    let ticks = interrupt.ticks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (20..=60).contains(&ticks),
        "{ticks} checks for ~4M instructions"
    );
}

/// `redis.call` reads its arguments off the Lua stack and pushes the reply onto it
/// itself: what goes wrong there (a host that panics, a reply that does not parse or
/// nests too deep, a Lua heap that runs out mid-reply) ends the script with an error
/// (or the host's panic, once the run is back in Rust), and the state runs the next
/// script as before.
#[test]
fn failures_inside_redis_call_leave_the_state_usable() {
    let vm = Vm::new(Kind::Eval).expect("vm");
    let works = |vm: &Vm| {
        assert_eq!(
            eval(
                vm,
                "return redis.call('echo', KEYS[1], 2^60, -0.0)",
                &["k"],
                &[]
            ),
            Frame::Array(vec![
                bulk("echo"),
                bulk("k"),
                bulk("1.152921504606847e+18"),
                bulk("-0")
            ])
        );
    };
    works(&vm);

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eval(
            &vm,
            "redis.setresp(3); return redis.call('panic')",
            &[],
            &[],
        )
    }));
    let payload = panicked.expect_err("the host's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the host failed"));
    works(&vm);
    // The RESP version chosen by the script that panicked is not kept.
    assert_eq!(
        eval(&vm, "return type(redis.call('nil'))", &[], &[]),
        bulk("boolean")
    );

    assert_eq!(
        eval(&vm, "return redis.call('bad')", &[], &[]),
        err("ERR the command's reply could not be read script: sha, on @user_script:1.")
    );
    assert_eq!(
        eval(&vm, "return redis.pcall('deep')", &[], &[]),
        err("ERR the command's reply could not be read script: sha, on @user_script:1.")
    );
    works(&vm);

    vm.set_heap_limit(vm.used_memory() + (1 << 20))
        .expect("limit");
    let reply = eval(&vm, "local r = redis.call('big'); return #r", &[], &[]);
    assert_eq!(
        reply,
        err("ERR Error running script sha, not enough memory")
    );
    let reply = eval(
        &vm,
        "local t = {} for i = 1, 1e7 do t[i] = tostring(i) end return #t",
        &[],
        &[],
    );
    assert_eq!(
        reply,
        err("ERR Error running script sha, not enough memory")
    );
    works(&vm);
    vm.set_heap_limit(flashdb_scripting::vm::HEAP_LIMIT)
        .expect("limit");
    assert_eq!(
        eval(
            &vm,
            "local r = redis.call('big'); return {#r, r[200000]}",
            &[],
            &[]
        ),
        Frame::Array(vec![Frame::Integer(200_000), bulk("00000000000000199999")])
    );
}

/// A kill stops the script wherever it runs: it cannot be caught with `pcall` or
/// `xpcall` and the loop go on, and a loop inside a coroutine is stopped too. The run
/// after it is counted and checked as usual.
#[test]
fn a_kill_cannot_be_caught_or_escaped_in_a_coroutine() {
    use std::sync::atomic::Ordering;

    let vm = Vm::new(Kind::Eval).expect("vm");
    let interrupt = vm.interrupt();
    // A kill that does not work leaves a script looping for ever: fail instead of hang.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watched = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        if !watched.load(Ordering::Acquire) {
            eprintln!("a killed script still runs after 60 s");
            std::process::abort();
        }
    });
    for body in [
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        "local co = coroutine.create(function() while true do end end)\nwhile true do coroutine.resume(co) end",
        "local co = coroutine.wrap(function() while true do pcall(function() while true do end end) end end)\nreturn co()",
    ] {
        // The count of the run before would let the killer strike before this run
        // starts (which clears the kill): start it from zero.
        interrupt.ticks.store(0, Ordering::Relaxed);
        let i = interrupt.clone();
        let killer = std::thread::spawn(move || {
            while i.ticks.load(Ordering::Relaxed) < 3 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            i.kill.store(true, Ordering::Release);
        });
        let reply = eval(&vm, body, &[], &[]);
        killer.join().expect("killer");
        match reply {
            Frame::Error(e) => {
                let e = String::from_utf8_lossy(&e).to_string();
                assert!(
                    e.starts_with("ERR Script killed by user with SCRIPT KILL... script: sha, on @user_script:"),
                    "{body}: {e}"
                );
            }
            other => panic!("{body}: {other:?}"),
        }
        assert_eq!(
            eval(&vm, "local x = 0 for i = 1, 1000000 do x = x + i end return x", &[], &[]),
            Frame::Integer(500_000_500_000),
            "{body}"
        );
        let ticks = interrupt.ticks.load(Ordering::Relaxed);
        assert!((20..=60).contains(&ticks), "{body}: {ticks} checks");
    }
    done.store(true, Ordering::Release);
}
