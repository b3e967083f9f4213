//! Lua scripting against the real Redis 7: the same scripts and functions give
//! byte-identical replies and error texts (RESP2 and RESP3), the sandbox refuses what
//! Redis's refuses, the libraries encode as Redis's do; function libraries survive
//! restarts and snapshots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::real_redis::run_script;

/// A script as one argument of a `run_script` line: spaces become `{sp}`.
fn lua(body: &str) -> String {
    body.replace(' ', "{sp}").replace('\n', "{crlf}")
}

fn run(lines: &[String]) {
    let refs: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
    run_script(&refs);
}

fn eval(body: &str, rest: &str) -> String {
    format!("EVAL {} {rest}", lua(body))
}

#[test]
fn replies_convert_as_redis() {
    run(&[
        "FLUSHALL".into(),
        "SET foo bar".into(),
        "RPUSH l a b c".into(),
        eval("return redis.call('get', KEYS[1])", "1 foo"),
        eval("return redis.call('get', KEYS[1])", "1 nokey"),
        eval("return redis.call('lrange', KEYS[1], 0, -1)", "1 l"),
        eval("return {1, 2.9, -3.5, 'x', true, false, nil, 'after'}", "0"),
        eval("return {ok='fine'}", "0"),
        eval("return redis.status_reply('status')", "0"),
        eval("return {err='ERR custom'}", "0"),
        eval("return redis.error_reply('MYCODE details here')", "0"),
        eval("return redis.error_reply('-ERR leading dash')", "0"),
        eval("return redis.error_reply('plain')", "0"),
        eval("return {{1, {2, {3}}}, {}}", "0"),
        eval("return 3.99", "0"),
        eval("return {math.huge, -math.huge, 0/0, 2^63, -2^63, 2^62, -2^64}", "0"),
        eval("return -0.5", "0"),
        eval("return nil", "0"),
        eval("return", "0"),
        eval("return {ARGV[1], ARGV[2], #KEYS, #ARGV}", "1 k a b"),
        eval("return type(redis.call('get', 'nokey'))", "0"),
        eval("return redis.call('set', 'n', 1.5)", "0"),
        "GET n".into(),
        eval("return redis.call('set', 'n', 0.1)", "0"),
        "GET n".into(),
        eval("return redis.call('set', 'n', 100)", "0"),
        eval("return redis.call('incrbyfloat', 'n', 2.5)", "0"),
        eval("return redis.call('ping')", "0"),
        eval("return redis.call('ping')['ok']", "0"),
        eval("return tostring(1e20)", "0"),
        eval("return tostring(0.1)", "0"),
        eval("return redis.sha1hex('abc')", "0"),
        eval("return redis.REDIS_VERSION_NUM > 0", "0"),
        eval("redis.call('select', 1); redis.call('set', 'indb1', 'x'); return redis.call('dbsize')", "0"),
        "EXISTS indb1".into(),
        "SELECT 1".into(),
        "GET indb1".into(),
        "SELECT 0".into(),
        eval("return redis.call('blpop', 'emptylist', 0)", "0"),
        eval("math.randomseed(7); return {math.random(100), math.random(5, 9), tostring(math.random())}", "0"),
    ]);
}

/// What `redis.call` reads off the Lua stack and pushes back: numbers as Redis writes
/// them (`%.17g`), error tables raised and caught, RESP2 and RESP3 nulls inside arrays,
/// and large replies.
#[test]
fn call_arguments_and_replies_match_redis() {
    let both = |hello: &str| -> Vec<String> {
        let mut lines = vec![hello.to_string(), "FLUSHALL".into(), "SET foo bar".into()];
        for n in [
            "1e17",
            "1e16",
            "-0.0",
            "2^53",
            "2^63",
            "123456789012345",
            "-5",
            "3.0",
            "0.1 + 0.2",
            "1/0",
            "-1/0",
            "1e-5",
            "-2.5e-300",
        ] {
            lines.push(eval(
                &format!("redis.call('set', 'n', {n}); return redis.call('get', 'n')"),
                "0",
            ));
        }
        lines.extend([
            eval("return redis.call('incrby', 'i', 7.0)", "0"),
            eval("return redis.call('mget', 'foo', 'nokey', 'foo')", "0"),
            eval("redis.setresp(3); return redis.call('mget', 'foo', 'nokey', 'foo')", "0"),
            eval("redis.setresp(3); local r = redis.call('mget', 'nokey', 'foo'); return {type(r[1]), r[2]}", "0"),
            eval("local ok, e = pcall(redis.call, 'incr', 'foo'); return {tostring(ok), type(e), e}", "0"),
            eval("local ok, e = pcall(redis.call); return {tostring(ok), e}", "0"),
            eval("local ok, e = pcall(redis.call, 'lpush', 'foo', 'x'); error(e)", "0"),
            eval("local ok, e = pcall(redis.call, 'lpush', 'foo', 'x'); error(e, 0)", "0"),
            eval("local ok, e = pcall(error, {err = 'X y'}); return {type(e), e}", "0"),
            eval("local ok, e = pcall(error, {err = 5}); return type(e)", "0"),
            eval("local ok, e = pcall(error, {foo = 'x'}); return type(e)", "0"),
            eval("local ok, e = pcall(error, setmetatable({}, {__index = function() return 'from meta' end})); return e", "0"),
            eval("local ok, e = pcall(redis.error_reply, 'MY code'); return {tostring(ok), e['err']}", "0"),
            eval("local ok, e = pcall(error, redis.error_reply('MY code')); return {tostring(ok), e}", "0"),
            eval("local ok, e = xpcall(function() error({err = 'X y'}) end, function(e) return e end); return type(e)", "0"),
            eval("return {pcall(function() return 1, 2, 3 end)}", "0"),
            eval("local a, b = pcall(error); return {tostring(a), tostring(b)}", "0"),
            eval("return pcall()", "0"),
            eval("return {pcall(string.rep)}", "0"),
            eval("local r = redis.pcall('incr', 'foo'); return {type(r), r['err']}", "0"),
            eval("local r = redis.pcall('get', 'a', 'b'); return r['err']", "0"),
            eval("return redis.pcall('get', 'a', 'b')", "0"),
            eval("return redis.pcall()", "0"),
            eval("return redis.pcall('get', true)", "0"),
            eval("return redis.call('set', 'foo', 'bar', 'nx')", "0"),
            eval("return type(redis.call('set', 'foo', 'bar', 'nx'))", "0"),
            eval("redis.setresp(3); return type(redis.call('set', 'foo', 'bar', 'nx'))", "0"),
            eval("for i = 1, 2000 do redis.call('rpush', 'big', i) end; local r = redis.call('lrange', 'big', 0, -1); return {#r, r[1], r[2000]}", "0"),
            eval("redis.setresp(3); local r = redis.call('hgetall', 'nohash'); return {type(r), type(r['map'])}", "0"),
            eval("local co = coroutine.create(function() return redis.call('get', 'foo') end); local ok, v = coroutine.resume(co); return {tostring(ok), v}", "0"),
            eval("local co = coroutine.create(function() return redis.call('incr', 'foo') end); local ok, v = coroutine.resume(co); return {tostring(ok), v['err']}", "0"),
        ]);
        lines
    };
    run(&both("!HELLO 2"));
    run(&both("!HELLO 3"));
}

/// `KEYS` and `ARGV` are built from one table sized for both: every way of reading their
/// length or walking them must see only their own elements.
#[test]
fn keys_and_argv_tables_match_redis() {
    let shape = "local function walk(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end \
                 local function iwalk(t) local n = 0 for _ in ipairs(t) do n = n + 1 end return n end \
                 return {#KEYS, #ARGV, table.getn(KEYS), walk(KEYS), iwalk(KEYS), walk(ARGV), \
                 iwalk(ARGV), cjson.encode(KEYS), cjson.encode(ARGV), KEYS[#KEYS + 1] == nil, \
                 select('#', unpack(KEYS)), select('#', unpack(ARGV))}";
    run(&[
        eval(shape, "0"),
        eval(shape, "0 a"),
        eval(shape, "0 a b c"),
        eval(shape, "1 k"),
        eval(shape, "1 k a"),
        eval(shape, "3 k1 k2 k3 a1 a2"),
        eval(shape, "10 k1 k2 k3 k4 k5 k6 k7 k8 k9 k10"),
        eval(shape, "2 k1 k2 a1 a2 a3 a4 a5 a6 a7 a8 a9"),
        eval(
            "table.insert(KEYS, 'x') return {#KEYS, KEYS[3]}",
            "2 k1 k2 a1 a2",
        ),
        eval("KEYS[2] = nil return {#KEYS, #ARGV}", "2 k1 k2 a1"),
        eval("return {#KEYS, #ARGV}", "0"),
        "FLUSHALL".into(),
    ]);
}

#[test]
fn errors_and_sandbox_match_redis() {
    run(&[
        "FLUSHALL".into(),
        "SET foo bar".into(),
        eval("return redis.call('incr', KEYS[1])", "1 foo"),
        eval("return redis.pcall('incr', KEYS[1])", "1 foo"),
        eval("local r = redis.pcall('incr', KEYS[1]); return r['err']", "1 foo"),
        eval("return redis.call('nosuchcommand')", "0"),
        eval("return redis.pcall('nosuchcommand')", "0"),
        eval("return redis.call('get')", "0"),
        eval("return redis.call()", "0"),
        eval("return redis.call({})", "0"),
        eval("return redis.call('get', {})", "0"),
        eval("return redis.call('client', 'list')", "0"),
        eval("return redis.call('CLIENT', 'NOSUCH')", "0"),
        eval("return redis.call('config', 'nosuch')", "0"),
        eval("return redis.call('object')", "0"),
        eval("return redis.call('object', 'freq', 'nokey')", "0"),
        eval("return redis.call('xread', 'block', 0, 'streams', 's', '$')", "0"),
        eval("return redis.call('XREAD', 'COUNT', 1, 'BLOCK', 10, 'STREAMS', 's', '$')", "0"),
        eval("return redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', 's', '>')", "0"),
        eval("return redis.call('xread', 'streams', 's', '0')", "0"),
        eval("return redis.call('xread', 'count', 1, 'streams', 'block', '0')", "0"),
        eval("return redis.call('eval', 'return 1', 0)", "0"),
        eval("error('boom')", "0"),
        eval("error({err='table error'})", "0"),
        eval("\n\nerror('on line three')", "0"),
        eval("local x = nil; return x.y", "0"),
        eval("return 1 +", "0"),
        eval("x = 1", "0"),
        eval("return undefined_global", "0"),
        eval("string.x = 1", "0"),
        eval("redis.call = nil", "0"),
        eval("_G.x = 1", "0"),
        eval("return type(os)", "0"),
        eval("return type(io)", "0"),
        eval("return type(loadfile)", "0"),
        eval("return type(dofile)", "0"),
        eval("return type(require)", "0"),
        eval("return type(setfenv)", "0"),
        eval("return type(print)", "0"),
        eval("return loadstring('y = 1')()", "0"),
        eval("return type(loadstring)", "0"),
        eval("return {type(cjson), type(cmsgpack), type(bit), type(struct), type(string), type(math), type(table)}", "0"),
        eval("return redis.setresp(4)", "0"),
        eval("return redis.log(1)", "0"),
        eval("return redis.log('a', 'b')", "0"),
        eval("return redis.log(99, 'b')", "0"),
        eval("return redis.log(redis.LOG_WARNING, 'from a test')", "0"),
        "EVAL return{sp}1 -1".into(),
        "EVAL return{sp}1 2 a".into(),
        "EVAL return{sp}1 x".into(),
        "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0".into(),
        format!("EVAL_RO {} 1 a", lua("return redis.call('set', KEYS[1], 'b')")),
        format!("EVAL_RO {} 1 foo", lua("return redis.call('get', KEYS[1])")),
        eval("#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')", "0"),
        eval("#!lua flags=no-writes\nreturn redis.call('get', 'foo')", "0"),
        eval("#!lua\nreturn redis.call('set', 'a', 'b')", "0"),
        format!("EVAL_RO {} 0", lua("#!lua\nreturn 1")),
        eval("#!lua flags=bogus\nreturn 1", "0"),
        eval("#!lua flags=no-writes,\nreturn 1", "0"),
        eval("#!lua flags=,no-writes\nreturn 1", "0"),
        eval("#!lua flags=\nreturn 1", "0"),
        eval("#!lua FLAGS=no-writes\nreturn redis.call('set', 'a', 'b')", "0"),
        eval("#!lua other=1\nreturn 1", "0"),
        eval("#!python\nreturn 1", "0"),
        eval("#!lua", "0"),
        eval("#!lua\nerror('line two')", "0"),
        "GET a".into(),
    ]);
}

#[test]
fn script_cache_commands_match_redis() {
    run(&[
        "SCRIPT FLUSH".into(),
        format!("SCRIPT LOAD {}", lua("return 'loaded'")),
        format!("SCRIPT LOAD {}", lua("return 1 +")),
        "SCRIPT EXISTS 33f1cf1a4d5dea3d4d4e0e1e5f8c5e6f7a8b9c0d".into(),
        "EVALSHA 1d6e0f6a2e9b1c6ebd1a1c3cd1fbbf9d3a83d0e7 0".into(),
        format!("EVAL {} 0", lua("return 'via eval'")),
        "SCRIPT EXISTS 2e3ce9d7d09c4f1e2a0f8f57b4f08c5bab7a6ea8 b0e3a11fd2fd3f6cb6e7a3b6a6d5b1e2dc8c3a59".into(),
        "SCRIPT FLUSH ASYNC".into(),
        "SCRIPT FLUSH BAD".into(),
        "SCRIPT FLUSH SYNC extra".into(),
        "SCRIPT DEBUG no".into(),
        "SCRIPT DEBUG bogus".into(),
        "SCRIPT DEBUG".into(),
        "SCRIPT KILL".into(),
        "SCRIPT NOSUCH".into(),
        "SCRIPT".into(),
        "SCRIPT HELP".into(),
        "SCRIPT LOAD".into(),
        "SCRIPT EXISTS".into(),
    ]);
    // EVALSHA of what SCRIPT LOAD named, in upper case too.
    let sha = flashdb_scripting::sha1_hex(b"return 'loaded'");
    run(&[
        format!("SCRIPT LOAD {}", lua("return 'loaded'")),
        format!("EVALSHA {sha} 0"),
        format!("EVALSHA {} 0", sha.to_uppercase()),
        format!("EVALSHA_RO {sha} 0"),
        format!("SCRIPT EXISTS {sha} {}", sha.to_uppercase()),
    ]);
}

#[test]
fn resp3_conversions_match_redis() {
    let both = |hello: &str| -> Vec<String> {
        vec![
            hello.into(),
            "FLUSHALL".into(),
            "HSET h a 1".into(),
            "SADD s x".into(),
            "ZADD z 1.5 m".into(),
            eval("redis.setresp(3); return redis.call('hgetall', 'h')", "0"),
            eval(
                "redis.setresp(3); local r = redis.call('hgetall', 'h'); return r['map']['a']",
                "0",
            ),
            eval("redis.setresp(3); return redis.call('smembers', 's')", "0"),
            eval(
                "redis.setresp(3); return redis.call('zscore', 'z', 'm')",
                "0",
            ),
            eval(
                "redis.setresp(3); return redis.call('zscore', 'z', 'm')['double']",
                "0",
            ),
            eval(
                "redis.setresp(3); return type(redis.call('get', 'nokey'))",
                "0",
            ),
            eval("redis.setresp(3); return {true, false}", "0"),
            eval("return {true, false}", "0"),
            eval("return {double=3.5}", "0"),
            eval("return {map={a=1}}", "0"),
            eval("return {set={x=true}}", "0"),
            eval("return {big_number='123456789012345678901234567890'}", "0"),
            eval("return nil", "0"),
            eval("return redis.call('hgetall', 'h')", "0"),
            eval("return redis.call('zscore', 'z', 'm')", "0"),
        ]
    };
    run(&both("!HELLO 2"));
    run(&both("!HELLO 3"));
}

#[test]
fn libraries_match_redis() {
    run(&[
        eval("return cjson.encode({1, 2, 'three', {a=1}})", "0"),
        eval("return cjson.encode({})", "0"),
        eval("return cjson.encode('q\"/\\\\\n\t')", "0"),
        eval("return cjson.encode(1/3)", "0"),
        eval("return cjson.encode(1e100)", "0"),
        eval("return cjson.encode({[1]=1, [3]=3})", "0"),
        eval("return cjson.encode({[1]=1, [20]=3})", "0"),
        eval("return cjson.encode(function() end)", "0"),
        eval("return cjson.encode(0/0)", "0"),
        eval("local t = cjson.decode('{\"a\":[1,2.5,\"x\",true,null],\"b\":{}}'); return {t.a[1], tostring(t.a[2]), t.a[3], tostring(t.a[4]), tostring(t.a[5] == cjson.null)}", "0"),
        eval("return cjson.decode('[1,2')", "0"),
        eval("return cjson.decode('\"\\\\u00e9\"')", "0"),
        eval("return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129, 2^32, -2^31, -2^31 - 1, 1.5, 0.1)", "0"),
        eval("return cmsgpack.pack('', 'abc', string.rep('x', 40), string.rep('y', 300))", "0"),
        eval("return cmsgpack.pack({1, 2, 3}, {a=1}, {}, true, false, nil)", "0"),
        eval("return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, -5.25))}", "0"),
        eval("local t = cmsgpack.unpack(cmsgpack.pack({a={b='c'}})); return t.a.b", "0"),
        eval("return cmsgpack.unpack('\\193')", "0"),
        eval("return {bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.bnot(0), bit.band(0xff, 0x0f, 0x3)}", "0"),
        eval("return {bit.bor(1, 2, 4), bit.bxor(5, 3), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4)}", "0"),
        eval("return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}", "0"),
        eval("return {bit.tohex(255), bit.tohex(-1, 4), bit.tohex(255, -2)}", "0"),
        eval("return struct.pack('>I2i4bB', 513, -2, -1, 255)", "0"),
        eval("return struct.pack('<hHl', -2, 65535, 1)", "0"),
        eval("return {struct.unpack('>I2i4', struct.pack('>I2i4', 513, -2))}", "0"),
        eval("return {struct.unpack('<d', struct.pack('<d', 1.5))}", "0"),
        eval("return {struct.unpack('s', struct.pack('s', 'zero'))}", "0"),
        eval("return {struct.unpack('c3', 'abcdef')}", "0"),
        eval("return {struct.size('>iHd'), struct.size('b'), struct.size('c10')}", "0"),
        // struct as the C library 0.2 Redis loads: integers of 0 to 32 bytes, its
        // argument errors, and what it does with numbers out of range.
        eval("return {struct.unpack('<i12', struct.pack('<i12', -2))}", "0"),
        eval("return struct.pack('<i12', -2)", "0"),
        eval("return struct.pack('>i10', 258)", "0"),
        eval("return {struct.unpack('<I9', '\\1\\2\\3\\4\\5\\6\\7\\8\\9')}", "0"),
        eval("return {struct.unpack('<i9', string.rep('\\255', 9))}", "0"),
        eval("return {struct.unpack('>i16', string.rep('\\255', 16))}", "0"),
        eval("return {struct.unpack('<i33', string.rep('a', 40))}", "0"),
        eval("return struct.pack('!8bi16', 1, 2)", "0"),
        eval("return {struct.size('!bi32'), struct.size('!16bi32'), struct.size('i0'), struct.size('bq'), struct.size('j')}", "0"),
        eval("return {struct.unpack('I0', '')}", "0"),
        eval("return {struct.unpack('i0', 'abc')}", "0"),
        eval("return struct.pack('I0', 1)", "0"),
        eval("return struct.pack('j', 1)", "0"),
        eval("return struct.pack('=b', 1)", "0"),
        eval("return struct.pack('!3b', 1)", "0"),
        eval("return struct.pack('?', 1)", "0"),
        eval("return struct.unpack('?', 'a')", "0"),
        eval("return struct.size('?')", "0"),
        eval("return struct.size('s')", "0"),
        eval("return struct.size('c0')", "0"),
        eval("return struct.pack('c5', 'ab')", "0"),
        eval("return struct.pack('bc5', 1, 'ab')", "0"),
        eval("return struct.pack('b')", "0"),
        eval("return struct.pack('bbb', 1)", "0"),
        eval("return struct.pack('s')", "0"),
        eval("return struct.pack('s', true)", "0"),
        eval("return struct.pack('c', 5)", "0"),
        eval("return struct.pack('b', '0x10')", "0"),
        eval("return struct.pack('b', ' 7 ')", "0"),
        eval("return struct.pack('d', 'x')", "0"),
        eval("return {struct.unpack('bc0', '\\3abc')}", "0"),
        eval("return {struct.unpack('bc0', '\\255abc')}", "0"),
        eval("return {struct.unpack('sc0', '3\\0abc')}", "0"),
        eval("return {struct.unpack('c0', 'abc')}", "0"),
        eval("return {struct.unpack('b', 'abc', 0)}", "0"),
        eval("return {struct.unpack('b', 'abc', 3)}", "0"),
        eval("return {struct.unpack('b', 'abc', 4)}", "0"),
        eval("return {struct.unpack('xb', 'ab')}", "0"),
        eval("return {struct.unpack('!4bi', 'a')}", "0"),
        eval("return {struct.pack('<i8', 0/0), struct.pack('<I8', 0/0), struct.pack('i', 2^63), struct.pack('<I', -1)}", "0"),
        eval("return {struct.pack('<i', 2^40 + 3), struct.pack('<i8', 2^64), struct.pack('<I8', 2^63 + 2^62)}", "0"),
        eval("return {struct.pack('<i8', -2^63 - 2^20), struct.pack('<I8', 2^64 + 2^60)}", "0"),
        eval("return {cjson.encode(2^53), cjson.encode({2^53}), cjson.encode({[1]=1, a=2})}", "0"),
        eval("return cmsgpack.unpack('\\196')", "0"),
        eval("return cmsgpack.unpack('\\196\\1a')", "0"),
        eval("return cmsgpack.unpack('\\197\\0\\1a')", "0"),
        eval("return cmsgpack.unpack('\\198\\0\\0\\0\\1a')", "0"),
        eval("return redis.sha1hex()", "0"),
        // Lua's own libraries and number printing, as Redis's Lua 5.1 builds them.
        eval("return {bit.tobit(2^31), bit.tobit(-2^31 - 1), bit.tobit(0.5), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5)}", "0"),
        eval("return {bit.bnot(2^40), bit.bor(1.7, 2.2), bit.arshift(-8, 33), bit.rol(1, 33), bit.tohex(-1, -8), bit.tohex(1, 100)}", "0"),
        eval("return bit.tohex('x')", "0"),
        eval("return {tostring(math.pi), tostring(1/3), tostring(1e15), tostring(1e16), tostring(-0.0), tostring(2^63)}", "0"),
        eval("return string.format('%5.1f|%-5d|%x|%X|%o|%e|%g|%c|%q', 3.14159, 42, 255, 255, 8, 12345.678, 0.0001, 65, 'a\\0b')", "0"),
        eval("return {string.format('%d', 3.7), string.format('%s %s', 1, 2.5), string.format('%5.2s|', 'hello')}", "0"),
        eval("return string.format('%d')", "0"),
        eval("return string.format('%z', 1)", "0"),
        eval("return {string.gsub('abc', '%w', '%0%0')}", "0"),
        eval("return {tonumber('10', 2), tonumber('ff', 16), tonumber('  12  '), tonumber('1e2'), tostring(tonumber('0x')), tostring(tonumber('inf'))}", "0"),
        eval("return {table.getn({1, 2, 3}), table.maxn({1, 2, [10] = 3}), select(-1, 1, 2, 3)}", "0"),
        eval("return {coroutine.resume(coroutine.create(function(a) return a * 2 end), 21)}", "0"),
        // cjson.decode is lua-cjson's tokenizer: strtod's numbers, its token names and
        // positions in errors.
        eval("return {tostring(cjson.decode('NaN')), tostring(cjson.decode('inf')), tostring(cjson.decode('-Infinity'))}", "0"),
        eval("return {cjson.decode('+5'), cjson.decode('007'), cjson.decode('1.'), cjson.decode('0x1p4'), cjson.decode('[0x10, 1]')[1], cjson.decode('1.5e3')}", "0"),
        eval("return cjson.decode('.5')", "0"),
        eval("return cjson.decode('1e')", "0"),
        eval("return cjson.decode('-')", "0"),
        eval("return cjson.decode('[1 2]')", "0"),
        eval("return cjson.decode('{1:2}')", "0"),
        eval("return cjson.decode('{\"a\" 1}')", "0"),
        eval("return cjson.decode('{\"a\":1 \"b\"}')", "0"),
        eval("return cjson.decode('[1,]')", "0"),
        eval("return cjson.decode('\"abc')", "0"),
        eval("return cjson.decode('\"a\\\\x\"')", "0"),
        eval("return cjson.decode('\"\\\\ud800\"')", "0"),
        eval("return cjson.decode('\"\\\\udc00\"')", "0"),
        eval("return cjson.decode('\"\\\\ud83d\\\\ude00\"')", "0"),
        eval("return cjson.decode('\"\\\\u12\"')", "0"),
        eval("return cjson.decode('nul')", "0"),
        eval("return cjson.decode('  ')", "0"),
        eval("return cjson.decode('[1]' .. string.char(0) .. 'x')[1]", "0"),
        eval("return cjson.decode('1' .. string.char(0))", "0"),
        eval("return cjson.decode(string.char(0) .. '1')", "0"),
        eval("return cjson.decode('\"a' .. string.char(0) .. 'b\"')", "0"),
        eval("return cjson.decode('[1]', 2)", "0"),
        eval("return cjson.decode(12)", "0"),
        eval("return cjson.encode({[true]=1, a=2})", "0"),
    ]);
}

fn lib(code: &str) -> String {
    format!("FUNCTION LOAD {}", lua(code))
}

#[test]
fn functions_match_redis() {
    let mylib = "#!lua name=mylib\n\
        redis.register_function('f1', function(keys, args) return redis.call('get', keys[1]) end)\n\
        redis.register_function{function_name='f2', callback=function(keys, args) return args[1] end, flags={'no-writes'}, description='desc'}";
    run(&[
        "FUNCTION FLUSH".into(),
        "SET foo bar".into(),
        lib(mylib),
        "FCALL f1 1 foo".into(),
        "FCALL f2 0 hello".into(),
        "FCALL_RO f1 1 foo".into(),
        "FCALL_RO f2 0 x".into(),
        "FCALL nosuch 0".into(),
        "FCALL f1 -1".into(),
        "FCALL f1 5 a".into(),
        // Two functions: Redis lists them in its hash table's order.
        "!FUNCTION LIST".into(),
        "FUNCTION LIST LIBRARYNAME nomatch*".into(),
        "FUNCTION LIST LIBRARYNAME".into(),
        "FUNCTION LIST BOGUS".into(),
        "FUNCTION STATS".into(),
        lib(mylib),
        lib("return 1"),
        lib("#!lua name=bad\nredis.call('ping')"),
        lib("#!lua name=e\nredis.register_function('f1', function() end)"),
        lib("#!lua name=x\nlocal a = 1 +"),
        lib("#!lua name=empty\nlocal a = 1"),
        // Loading runs for 500 ms at most, and its code cannot catch the timeout.
        lib("#!lua name=spin\nwhile true do end"),
        lib("#!lua name=spin2\nlocal n = 0 while true do n = n + 1 end"),
        lib("#!lua name=slow\nlocal x = 0 for i = 1, 3e6 do x = x + i end redis.register_function('slow', function() return x end)"),
        "FCALL slow 0".into(),
        "FUNCTION DELETE slow".into(),
        // Function names do not depend on case (library names do); the function is
        // looked up before its number of keys; names and descriptions may be numbers.
        "FUNCTION FLUSH".into(),
        "FCALL nosuch abc".into(),
        "FCALL nosuch -1".into(),
        lib("#!lua name=lib1\nredis.register_function('f1', function(keys, args) return #keys end)"),
        lib("#!lua name=lib2\nredis.register_function('F1', function(keys, args) return 2 end)"),
        lib("#!lua name=LIB1\nredis.register_function('g1', function(keys, args) return 2 end)"),
        lib("#!lua name=lib3\nredis.register_function('h1', function() end) redis.register_function('H1', function() end)"),
        "FCALL F1 0".into(),
        "FCALL f1 abc".into(),
        "FCALL f1 3 a".into(),
        "FUNCTION DELETE LIB1".into(),
        "FUNCTION DELETE lib1".into(),
        lib("#!lua name=lib4\nredis.register_function(5, function() return 5 end)"),
        lib("#!lua name=lib5\nredis.register_function{function_name=6, callback=function() return 6 end, description=7}"),
        "FCALL 5 0".into(),
        "FCALL 6 0".into(),
        "FUNCTION LIST LIBRARYNAME lib5".into(),
        "FUNCTION LOAD REPLACE REPLACE #!lua{sp}name=lib9{crlf}redis.register_function('h',{sp}function(){sp}return{sp}1{sp}end)".into(),
        "FUNCTION LOAD replace x #!lua{sp}name=lib9{crlf}redis.register_function('h',{sp}function(){sp}return{sp}1{sp}end)".into(),
        "function flush sync x".into(),
        "FUNCTION FLUSH bogus".into(),
        "FUNCTION FLUSH".into(),
        // While a library loads its code sees `redis` with only a few names, and no
        // other globals; the functions it registers see them all when called.
        lib("#!lua name=t\nlocal t = {} for k, v in next, redis do t[#t+1] = k end"),
        lib("#!lua name=t\nlocal v = redis.REDIS_VERSION_NUM redis.log(redis.LOG_WARNING, 'loading') redis.register_function('t', function() return {type(pcall), type(redis.call), type(string.rep), type(redis.setresp), v == redis.REDIS_VERSION_NUM} end)"),
        "FCALL t 0".into(),
        "FUNCTION DELETE t".into(),
        lib("#!lua name=t\nlocal v = redis.LOG_NOTICE redis.register_function('t', function() return v end)"),
        "FCALL t 0".into(),
        "FUNCTION DELETE t".into(),
        lib("#!lua name=t\nlocal v = redis.setresp"),
        lib("#!lua name=t\nlocal v = redis.call"),
        lib("#!lua name=t\nlocal v = redis.pcall"),
        lib("#!lua name=t\nlocal v = redis.sha1hex"),
        lib("#!lua name=t\nlocal v = redis.error_reply"),
        lib("#!lua name=t\nlocal v = redis.REPL_ALL"),
        lib("#!lua name=t\nlocal v = redis.acl_check_cmd"),
        lib("#!lua name=t\nlocal v = pcall"),
        lib("#!lua name=t\nlocal v = _G"),
        lib("#!lua name=t\nlocal v = string.rep('x', 2)"),
        lib("#!lua name=t\nx = 1"),
        lib("#!lua name=t\nredis.x = 1"),
        lib("#!lua name=x4 foo=bar\n"),
        lib("#!lua\n"),
        lib("#!js name=x5\n"),
        lib("#!lua name=bad-name\n"),
        lib("#!lua name=n\nredis.register_function('bad name', function() end)"),
        lib("#!lua name=n\nredis.register_function('ff', function() end, 1)"),
        lib("#!lua name=n\nredis.register_function{function_name='ff', callback=function() end, flags={'bogus'}}"),
        "FUNCTION DELETE nosuch".into(),
        lib("#!lua name=x2\nredis.register_function('g', function() error('oops') end)"),
        "FCALL g 0".into(),
        lib("#!lua name=x3\nredis.register_function('h', function(keys) return redis.call('incr', keys[1]) end)"),
        "FCALL h 1 foo".into(),
        "FCALL h 1 counter".into(),
        "FUNCTION LIST LIBRARYNAME x3".into(),
        "FUNCTION LIST WITHCODE LIBRARYNAME x3".into(),
        "FCALL_RO h 1 counter".into(),
        "FUNCTION DELETE x2".into(),
        "FCALL g 0".into(),
        format!("FUNCTION LOAD REPLACE {}", lua("#!lua name=x3\nredis.register_function('h2', function() return 'replaced' end)")),
        "FCALL h 1 foo".into(),
        "FCALL h2 0".into(),
        "FUNCTION RESTORE bad".into(),
        "FUNCTION RESTORE bad BOGUS".into(),
        "FUNCTION FLUSH BOGUS".into(),
        "FUNCTION FLUSH".into(),
        "FUNCTION LIST".into(),
        "FUNCTION STATS".into(),
        "FUNCTION KILL".into(),
        "FUNCTION HELP".into(),
    ]);
}

#[test]
fn functions_survive_restarts_snapshots_and_dump_restore() {
    let dir = common::temp_dir("functions");
    let server = common::TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    let code = "#!lua name=lib1\nredis.register_function('inc', function(keys) return redis.call('incr', keys[1]) end)";
    assert_eq!(c.call(&["FUNCTION", "LOAD", code]), "$4\r\nlib1\r\n");
    assert_eq!(c.call(&["FCALL", "inc", "1", "n"]), ":1\r\n");
    let listed = c.call(&["FUNCTION", "LIST", "WITHCODE"]);
    drop(server);
    // The log alone (killed before any snapshot).
    let server = common::TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    assert_eq!(c.call(&["FUNCTION", "LIST", "WITHCODE"]), listed);
    assert_eq!(c.call(&["FCALL", "inc", "1", "n"]), ":2\r\n");
    assert_eq!(c.call(&["SAVE"]), "+OK\r\n");
    let dumped = {
        c.cmd(&[b"FUNCTION", b"DUMP"]);
        let reply = common::read_reply(&mut c.stream);
        let header_end = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
        reply[header_end..reply.len() - 2].to_vec()
    };
    drop(server);
    // The snapshot.
    let server = common::TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    assert_eq!(c.call(&["FUNCTION", "LIST", "WITHCODE"]), listed);
    assert!(c
        .call(&["INFO", "memory"])
        .contains("number_of_functions:1\r\n"));
    assert_eq!(c.call(&["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(
        c.call(&["FCALL", "inc", "1", "n"]),
        "-ERR Function not found\r\n"
    );
    c.cmd(&[b"FUNCTION", b"RESTORE", &dumped]);
    assert_eq!(common::read_reply(&mut c.stream), b"+OK\r\n");
    c.cmd(&[b"FUNCTION", b"RESTORE", &dumped]);
    assert_eq!(
        common::read_reply(&mut c.stream),
        b"-ERR Library lib1 already exists\r\n"
    );
    c.cmd(&[b"FUNCTION", b"RESTORE", &dumped, b"REPLACE"]);
    assert_eq!(common::read_reply(&mut c.stream), b"+OK\r\n");
    assert_eq!(c.call(&["FCALL", "inc", "1", "n"]), ":3\r\n");
    assert_eq!(c.call(&["FUNCTION", "DELETE", "lib1"]), "+OK\r\n");
    drop(server);
    // The deletion is logged too.
    let server = common::TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    assert_eq!(c.call(&["FUNCTION", "LIST"]), "*0\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
