//! ACL users against the real Redis 7: the `ACL` command's replies and errors, `NOPERM`
//! texts for commands, keys and channels, `AUTH`/`HELLO` with users, the ACL log,
//! transactions and scripts under changed rules; then what only FlashDB can show (the
//! ACL file, HTTP and WebSocket under users, counters) against FlashDB alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::real_redis::{sorted_elements, split, RedisServer};
use common::{read_reply, temp_dir, Raw, TestServer};

/// Reply bytes with the values that differ by nature blanked: `ACL LOG`'s
/// `age-seconds` and `client-info`, and password hashes stay (they are SHA-256).
fn normalize(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let mut out = Vec::new();
    let mut blank_next = false;
    let mut lines = text.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        if blank_next && line.starts_with('$') {
            // The header of the value to blank, then its content.
            lines.next();
            out.push("<blank>".to_string());
            blank_next = false;
            continue;
        }
        if line == "age-seconds" || line == "client-info" {
            blank_next = true;
        }
        out.push(line.to_string());
    }
    out.join("\n")
}

/// Runs a script of `conn> COMMAND args` lines against both servers, each named
/// connection opened on first use, and compares the normalized replies.
fn differential(script: &[&str]) {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let mut conns: Vec<(String, Raw, Raw)> = Vec::new();
    let mut failures = Vec::new();
    for line in script {
        let (name, cmd) = line.split_once("> ").expect("conn> command");
        let at = match conns.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                conns.push((name.to_string(), Raw::connect(redis.port), flash.raw()));
                conns.len() - 1
            }
        };
        let (_, r, f) = &mut conns[at];
        // A leading `~` marks an array reply whose order is not defined.
        let (unordered, cmd) = match cmd.strip_prefix('~') {
            Some(c) => (true, c),
            None => (false, cmd),
        };
        let args = split(cmd);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        r.cmd(&refs);
        f.cmd(&refs);
        let (mut want, mut got) = (read_reply(&mut r.stream), read_reply(&mut f.stream));
        if unordered {
            want = sorted_elements(&want);
            got = sorted_elements(&got);
        }
        let (want, got) = (normalize(&want), normalize(&got));
        if want != got {
            failures.push(format!(
                "{line}\n    redis:   {want:?}\n    flashdb: {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn acl_setuser_getuser_and_their_errors_answer_as_redis() {
    differential(&[
        "a> ACL SETUSER alice on >pw ~k* +get",
        "a> ACL GETUSER alice",
        "a> ACL SETUSER bob on >pw %R~r* %W~w* &ch* +@read (~sel* +@write)",
        "a> ACL GETUSER bob",
        "a> ACL SETUSER bob (+set ~other)",
        "a> ACL GETUSER bob",
        "a> ACL SETUSER bob clearselectors",
        "a> ACL SETUSER carol reset",
        "a> ACL SETUSER dave %R ~ %rw~y ~y %R~y",
        "a> ACL SETUSER erin +@all -@admin +@admin",
        "a> ACL SETUSER frank +@all -get",
        "a> ACL SETUSER gina +get|x +get|y +GET|x",
        "a> ACL SETUSER hank on nopass >a",
        "a> ACL SETUSER hank #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4",
        "a> ACL SETUSER hank !30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4",
        "a> ACL LIST",
        "a> ACL USERS",
        "a> ACL GETUSER default",
        "a> ACL GETUSER nobody",
        // Errors, with Redis's texts.
        "a> ACL SETUSER x +config|get|x",
        "a> ACL SETUSER x foo",
        "a> ACL SETUSER x +nosuch",
        "a> ACL SETUSER x -@nosuch",
        "a> ACL SETUSER x ~a allkeys ~b",
        "a> ACL SETUSER x &a allchannels &b",
        "a> ACL SETUSER x (~a",
        "a> ACL SETUSER x on (~a +get",
        "a> ACL SETUSER x #abc",
        "a> ACL SETUSER x !",
        "a> ACL SETUSER x <a",
        "a> ACL SETUSER x %~x",
        "a> ACL SETUSER x %RWR~x",
        "a> ACL SETUSER x +",
        "a> ACL SETUSER x +select|",
        "a> ACL SETUSER a{sp}b on",
        // Nothing of a refused SETUSER applies.
        "a> ACL SETUSER alice off foo",
        "a> ACL GETUSER alice",
        "a> ACL DELUSER default",
        "a> ACL DELUSER nobody x",
        "a> ACL DELUSER gina hank",
        "a> ACL USERS",
        "a> ACL WHOAMI",
        "a> ACL WHOAMI x",
        "a> ACL GENPASS 0",
        "a> ACL GENPASS 4097",
        "a> ACL GENPASS x",
        "a> ACL LOG x",
        "a> ACL LOG -1",
        "a> ACL FOO",
        "a> ACL LOAD",
        "a> ACL SAVE",
        "a> ACL CAT nosuch",
        "a> ~ACL CAT hash",
        "a> ~ACL CAT transaction",
        "a> ~ACL CAT geo",
        "a> ~ACL CAT bitmap",
        "a> ACL HELP",
    ]);
}

#[test]
fn denied_commands_keys_and_channels_answer_noperm_as_redis() {
    differential(&[
        "a> ACL SETUSER bob on >pw %R~r* %W~w* &ch* +@read +set +publish +subscribe -hget (~sel* +@write)",
        "a> ACL SETUSER carol on >pw ~a* &news +@all -flushall",
        "u> AUTH bob pw",
        "u> GET x",
        "u> GET r1",
        "u> SET r1 v",
        "u> SET w1 v",
        "u> SET w1 v GET",
        "u> SET sel1 v",
        "u> HGET r1 f",
        "u> PUBLISH other m",
        "u> PUBLISH ch1 m",
        "u> CONFIG GET maxmemory",
        "u> MGET r1 r2 x",
        "u> ACL WHOAMI",
        "a> ACL DRYRUN bob get x",
        "a> ACL DRYRUN bob get r1",
        "a> ACL DRYRUN bob set r1 v",
        "a> ACL DRYRUN bob hget r1 f",
        "a> ACL DRYRUN bob publish nope m",
        "a> ACL DRYRUN nobody get x",
        "a> ACL DRYRUN bob nosuch",
        "a> ACL DRYRUN bob get",
        "a> ACL LOG 5",
        "a> ACL LOG RESET",
        "a> ACL LOG",
        // Pattern subscriptions need the pattern itself.
        "c> AUTH carol pw",
        "c> FLUSHALL",
        "c> PUBLISH other x",
        "c> PSUBSCRIBE n*",
        "d> AUTH carol pw",
        "d> PSUBSCRIBE news",
        "a> ACL LOG 2",
        // Within MULTI the denial aborts the transaction.
        "m> AUTH carol pw",
        "m> MULTI",
        "m> GET b",
        "m> SET a 1",
        "m> EXEC",
        "a> ACL LOG 1",
    ]);
}

#[test]
fn auth_and_hello_with_users_answer_as_redis() {
    differential(&[
        "a> AUTH pw",
        "a> ACL SETUSER dave on nopass",
        "a> ACL SETUSER eve off >pw +@all ~*",
        "u> AUTH dave x",
        "u> ACL WHOAMI",
        "u> AUTH eve pw",
        "u> AUTH nouser p",
        "u> HELLO 2 AUTH nouser p",
        "u> HELLO 2 AUTH eve pw",
        "a> ACL LOG 3",
        "a> ACL SETUSER eve on",
        "u> AUTH eve pw",
        "u> ACL WHOAMI",
        "u> RESET",
        "u> ACL WHOAMI",
        "a> CLIENT KILL USER nosuch",
        "a> CONFIG SET requirepass secret",
        "n> GET x",
        "n> AUTH wrong",
        "n> AUTH secret",
        "n> AUTH default secret",
        "n> ACL WHOAMI",
        "a> ACL LIST",
        "a> CONFIG SET requirepass {empty}",
        "a> ACL LIST",
    ]);
}

#[test]
fn exec_and_scripts_check_rules_as_redis() {
    differential(&[
        "a> ACL SETUSER carol on >pw ~a* &news +@all -flushall",
        "m> AUTH carol pw",
        "m> MULTI",
        "m> SET a 2",
        "m> GET a",
        // Taken away after queueing: EXEC refuses that one command.
        "a> ACL SETUSER carol -set",
        "m> EXEC",
        "a> ACL LOG 1",
        "s> AUTH carol pw",
        "s> EVAL return{sp}redis.pcall('get','b') 0",
        "s> EVAL return{sp}redis.pcall('flushall') 0",
        "s> EVAL return{sp}redis.pcall('publish','other','x') 0",
        "s> EVAL return{sp}redis.call('get','a1') 0",
        "s> EVAL return{sp}redis.acl_check_cmd('get','b') 0",
        "s> EVAL return{sp}redis.acl_check_cmd('get','a') 0",
        "a> ACL LOG 2",
    ]);
}

#[test]
fn deleting_a_user_closes_its_connections_and_changed_channels_close_subscribers() {
    let server = TestServer::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "bob", "on", ">pw", "~*", "&news*", "+@all"]),
        "+OK\r\n"
    );
    let mut bob = server.raw();
    assert_eq!(bob.call(&["AUTH", "bob", "pw"]), "+OK\r\n");
    let list = admin.call(&["CLIENT", "LIST"]);
    assert!(list.contains("user=bob"), "{list}");
    let mut sub = server.raw();
    assert_eq!(sub.call(&["AUTH", "bob", "pw"]), "+OK\r\n");
    sub.cmd(&[b"SUBSCRIBE", b"news1"]);
    let _ = read_reply(&mut sub.stream);
    // Still allowed: the subscriber stays.
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "bob", "resetchannels", "&news*", "&more"]),
        "+OK\r\n"
    );
    assert_eq!(admin.call(&["PUBLISH", "news1", "m"]), ":1\r\n");
    // Read before the next change: a connection closed by it may not have written
    // the messages queued for it yet.
    assert_eq!(
        read_reply(&mut sub.stream),
        b"*3\r\n$7\r\nmessage\r\n$5\r\nnews1\r\n$1\r\nm\r\n"
    );
    // No longer allowed: closed.
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "bob", "resetchannels", "&other"]),
        "+OK\r\n"
    );
    assert!(
        sub.is_closed(),
        "a subscriber to a revoked channel is closed"
    );
    assert_eq!(admin.call(&["ACL", "DELUSER", "bob"]), ":1\r\n");
    assert!(bob.is_closed(), "a deleted user's connection is closed");
    assert_eq!(admin.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn acl_file_is_loaded_at_start_saved_and_reloaded_all_or_nothing() {
    let dir = temp_dir("aclfile");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user alice on >secret ~app:* +@read +@write\n\nuser default on nopass ~* &* +@all\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let server = TestServer::start_with(&["--aclfile", path]);
    let mut c = server.raw();
    assert_eq!(c.call(&["AUTH", "alice", "secret"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "app:1", "v"]), "+OK\r\n");
    assert!(c.call(&["SET", "x", "v"]).starts_with("-NOPERM"));
    let mut admin = server.raw();
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "bob", "on", ">pw2", "+ping"]),
        "+OK\r\n"
    );
    assert_eq!(admin.call(&["ACL", "SAVE"]), "+OK\r\n");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user bob on #"), "{saved}");
    assert!(saved.contains("user alice on #"), "{saved}");
    // A broken file changes nothing.
    std::fs::write(&file, "user carol on +nosuch\nnot a user line\n").unwrap();
    let err = admin.call(&["ACL", "LOAD"]);
    assert!(err.starts_with("-ERR"), "{err}");
    assert!(
        err.contains("Unknown command or category name in ACL"),
        "{err}"
    );
    assert!(err.contains("should start with user keyword"), "{err}");
    assert!(admin.call(&["ACL", "USERS"]).contains("bob"));
    // A good one replaces every user, and closes the connections of those gone.
    std::fs::write(&file, saved.replace("user bob", "user robert")).unwrap();
    assert_eq!(admin.call(&["ACL", "LOAD"]), "+OK\r\n");
    let users = admin.call(&["ACL", "USERS"]);
    assert!(
        users.contains("robert") && !users.contains("bob"),
        "{users}"
    );
    assert!(
        c.is_closed(),
        "alice was replaced by the load: her connection closes"
    );
    drop(server);
    // A server whose ACL file is broken does not start.
    std::fs::write(&file, "user carol on +nosuch\n").unwrap();
    let stderr = common::refuses_to_start(&["--aclfile", path]);
    assert!(stderr.contains("ACL errors"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_requests_run_as_their_acl_user() {
    let server = TestServer::start_with(&["--requirepass", "adminpw"]);
    let mut admin = server.raw();
    assert_eq!(admin.call(&["AUTH", "adminpw"]), "+OK\r\n");
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "reader", "on", ">rpw", "~pub:*", "+@read"]),
        "+OK\r\n"
    );
    assert_eq!(admin.call(&["SET", "pub:1", "hello"]), "+OK\r\n");
    assert_eq!(admin.call(&["SET", "secret", "x"]), "+OK\r\n");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let base = server.http();
    let send = |req: reqwest::RequestBuilder| -> (u16, String) {
        rt.block_on(async {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        })
    };
    let get = |path: &str, user: Option<(&str, &str)>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some((u, p)) = user {
            r = r.basic_auth(u, Some(p));
        }
        send(r)
    };
    assert_eq!(get("/api/v1/key/pub:1", None).0, 401);
    assert_eq!(get("/api/v1/key/pub:1", Some(("reader", "wrong"))).0, 401);
    let (status, body) = get("/api/v1/key/pub:1", Some(("reader", "rpw")));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello"), "{body}");
    let (status, body) = get("/api/v1/key/secret", Some(("reader", "rpw")));
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("FORBIDDEN") && body.contains("NOPERM"),
        "{body}"
    );
    // Bearer: the default user's password, or user:password.
    let bearer =
        |token: &str, path: &str| send(http.get(format!("{base}{path}")).bearer_auth(token)).0;
    assert_eq!(bearer("adminpw", "/api/v1/key/secret"), 200);
    assert_eq!(bearer("reader:rpw", "/api/v1/key/pub:1"), 200);
    assert_eq!(bearer("reader:rpw", "/api/v1/key/secret"), 403);
    let write = send(
        http.post(format!("{base}/api/v1/execute"))
            .basic_auth("reader", Some("rpw"))
            .json(&serde_json::json!({"command": ["SET", "pub:2", "x"]})),
    );
    assert_eq!(write.0, 403, "{}", write.1);
    assert_eq!(get("/api/v1/healthz", None).0, 200);
    // Denials are counted and logged.
    let info = admin.call(&["INFO", "stats"]);
    assert!(info.contains("acl_access_denied_key:"), "{info}");
    let (_, metrics) = send(http.get(format!("{base}/metrics")).bearer_auth("adminpw"));
    let line = metrics
        .lines()
        .find(|l| l.starts_with("flashdb_acl_denied_total{reason=\"key\"}"))
        .unwrap_or_default()
        .to_string();
    let n: u64 = line.rsplit(' ').next().unwrap_or("0").parse().unwrap_or(0);
    assert!(n >= 2, "{line}");
    let log = admin.call(&["ACL", "LOG"]);
    assert!(log.contains("secret") && log.contains("reader"), "{log}");
}
