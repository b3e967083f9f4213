//! RESP over TLS, with certificates made at test time (rcgen): the server's certificate
//! against the right CA, a wrong CA and an expired certificate; client certificates
//! required, optional or not asked for; reloading on `CONFIG SET` and SIGHUP without
//! dropping open connections; and `redis-cli --tls`, as users run it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::group::{free_port, Group};
use common::{temp_dir, TestServer};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A certificate signed by `ca`, for a server on 127.0.0.1 or for a client: (cert, key) PEM.
fn leaf(ca: &Ca, cn: &str, server: bool, expired: bool) -> (String, String) {
    let usage = if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    };
    leaf_for(ca, cn, vec![usage], expired)
}

/// A certificate signed by `ca` for 127.0.0.1, with the extended key usages given.
fn leaf_for(
    ca: &Ca,
    cn: &str,
    usages: Vec<ExtendedKeyUsagePurpose>,
    expired: bool,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = usages;
    if expired {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    }
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Files in a directory of their own.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = temp_dir("tls");
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS client connection that trusts `ca_pem` only, with a client certificate if
/// given.
struct Client {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Client {
    fn connect(port: u16, ca_pem: &str, cert: Option<&(String, String)>) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match cert {
            Some((c, k)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(c.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(k.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("127.0.0.1").unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            stream: rustls::StreamOwned::new(conn, tcp),
        }
    }

    /// Sends a command (inline arguments) and returns the first line of the reply, or
    /// the error that stopped the exchange (a refused handshake, a closed connection).
    fn call(&mut self, args: &[&str]) -> Result<String, String> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.stream
            .write_all(req.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            match self.stream.read(&mut b) {
                Ok(0) => return Err("connection closed".into()),
                Ok(_) => line.push(b[0]),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }
}

fn ping(port: u16, ca_pem: &str, cert: Option<&(String, String)>) -> Result<String, String> {
    Client::connect(port, ca_pem, cert).call(&["PING"])
}

fn start(files: &Files, ca: &Ca, server: &(String, String), extra: &[&str]) -> (TestServer, u16) {
    let cert = files.write("server.crt", &server.0);
    let key = files.write("server.key", &server.1);
    let ca_file = files.write("ca.crt", &ca.cert.pem());
    let port = free_port();
    let port_s = port.to_string();
    let mut args = vec![
        "--tls-port",
        &port_s,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca_file,
    ];
    args.extend_from_slice(extra);
    (TestServer::start_with(&args), port)
}

#[test]
fn clients_that_trust_the_ca_talk_resp_and_others_are_refused() {
    let files = Files::new();
    let ca1 = ca("FlashDB test CA");
    let server_cert = leaf(&ca1, "flashdb", true, false);
    let (server, port) = start(&files, &ca1, &server_cert, &["--tls-auth-clients", "no"]);
    let ca_pem = ca1.cert.pem();
    assert_eq!(ping(port, &ca_pem, None).as_deref(), Ok("+PONG"));
    let mut c = Client::connect(port, &ca_pem, None);
    assert_eq!(c.call(&["SET", "k", "over tls"]).as_deref(), Ok("+OK"));
    assert_eq!(server.raw().call(&["GET", "k"]), "$8\r\nover tls\r\n");
    // A client that trusts another CA refuses the server's certificate.
    let other = ca("Another CA");
    let err = ping(port, &other.cert.pem(), None).unwrap_err();
    assert!(
        err.contains("UnknownIssuer") || err.contains("invalid peer certificate"),
        "{err}"
    );
    // Plain RESP on the TLS port gets no answer but a closed connection.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"+PONG"), "{:?}", &buf[..n]);
    // The plain port still serves plain RESP.
    assert_eq!(server.raw().call(&["PING"]), "+PONG\r\n");
}

#[test]
fn expired_certificates_are_refused_on_both_sides() {
    let files = Files::new();
    let ca1 = ca("FlashDB test CA");
    let expired = leaf(&ca1, "flashdb", true, true);
    let (server, port) = start(&files, &ca1, &expired, &["--tls-auth-clients", "no"]);
    let err = ping(port, &ca1.cert.pem(), None).unwrap_err();
    assert!(err.contains("certificate expired"), "{err}");
    drop(server);
    // And the server refuses an expired client certificate.
    let good = leaf(&ca1, "flashdb", true, false);
    let old_client = leaf(&ca1, "alice", false, true);
    let (_server, port) = start(&files, &ca1, &good, &[]);
    assert!(ping(port, &ca1.cert.pem(), Some(&old_client)).is_err());
    let client = leaf(&ca1, "alice", false, false);
    assert_eq!(
        ping(port, &ca1.cert.pem(), Some(&client)).as_deref(),
        Ok("+PONG")
    );
}

#[test]
fn client_certificates_are_required_optional_or_not_asked_for() {
    let files = Files::new();
    let ca1 = ca("FlashDB test CA");
    let server_cert = leaf(&ca1, "flashdb", true, false);
    let client = leaf(&ca1, "alice", false, false);
    let stranger_ca = ca("Stranger CA");
    let stranger = leaf(&stranger_ca, "mallory", false, false);
    let ca_pem = ca1.cert.pem();
    // Required (the default, as Redis).
    let (server, port) = start(&files, &ca1, &server_cert, &[]);
    assert_eq!(ping(port, &ca_pem, Some(&client)).as_deref(), Ok("+PONG"));
    let err = ping(port, &ca_pem, None).unwrap_err();
    assert!(
        err.contains("CertificateRequired") || err.contains("closed"),
        "{err}"
    );
    let err = ping(port, &ca_pem, Some(&stranger)).unwrap_err();
    assert!(err.contains("alert") || err.contains("closed"), "{err}");
    assert_eq!(
        server.raw().call(&["CONFIG", "GET", "tls-auth-clients"]),
        "*2\r\n$16\r\ntls-auth-clients\r\n$3\r\nyes\r\n"
    );
    drop(server);
    // Optional: without a certificate is fine, a bad one is not.
    let (_server, port) = start(
        &files,
        &ca1,
        &server_cert,
        &["--tls-auth-clients", "optional"],
    );
    assert_eq!(ping(port, &ca_pem, None).as_deref(), Ok("+PONG"));
    assert_eq!(ping(port, &ca_pem, Some(&client)).as_deref(), Ok("+PONG"));
    assert!(ping(port, &ca_pem, Some(&stranger)).is_err());
}

#[test]
fn certificates_reload_on_config_set_and_sighup_without_dropping_connections() {
    let files = Files::new();
    let ca1 = ca("First CA");
    let ca2 = ca("Second CA");
    let first = leaf(&ca1, "flashdb", true, false);
    let (server, port) = start(&files, &ca1, &first, &["--tls-auth-clients", "no"]);
    let mut open = Client::connect(port, &ca1.cert.pem(), None);
    assert_eq!(open.call(&["PING"]).as_deref(), Ok("+PONG"));
    // CONFIG SET with files that do not load fails, and changes nothing.
    let missing = files.dir.join("missing.crt");
    let reply = server
        .raw()
        .call(&["CONFIG", "SET", "tls-cert-file", missing.to_str().unwrap()]);
    assert!(reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration"), "{reply}");
    assert_eq!(ping(port, &ca1.cert.pem(), None).as_deref(), Ok("+PONG"));
    // A certificate from the second CA, by CONFIG SET.
    let second = leaf(&ca2, "flashdb", true, false);
    let cert2 = files.write("second.crt", &second.0);
    let key2 = files.write("second.key", &second.1);
    let reply = server.raw().call(&[
        "CONFIG",
        "SET",
        "tls-cert-file",
        &cert2,
        "tls-key-file",
        &key2,
    ]);
    assert_eq!(reply, "+OK\r\n");
    assert_eq!(ping(port, &ca2.cert.pem(), None).as_deref(), Ok("+PONG"));
    assert!(ping(port, &ca1.cert.pem(), None).is_err());
    assert_eq!(
        open.call(&["PING"]).as_deref(),
        Ok("+PONG"),
        "an open connection stays"
    );
    // A third, written over the same files, by SIGHUP.
    let third = leaf(&ca1, "flashdb", true, false);
    std::fs::write(&cert2, &third.0).unwrap();
    std::fs::write(&key2, &third.1).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ping(port, &ca1.cert.pem(), None).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(open.call(&["PING"]).as_deref(), Ok("+PONG"));
}

#[test]
fn redis_cli_and_redis_py_talk_to_the_tls_port() {
    let files = Files::new();
    let ca1 = ca("FlashDB test CA");
    let server_cert = leaf(&ca1, "flashdb", true, false);
    let client = leaf(&ca1, "cli", false, false);
    let (_server, port) = start(&files, &ca1, &server_cert, &[]);
    let ca_file = files.write("cli-ca.crt", &ca1.cert.pem());
    let cert = files.write("cli.crt", &client.0);
    let key = files.write("cli.key", &client.1);
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--tls", "--cacert", &ca_file])
        .args(["--cert", &cert, "--key", &key, "SET", "from", "redis-cli"])
        .output()
        .expect("redis-cli");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK", "{out:?}");
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--tls", "--cacert", &ca_file])
        .args(["--cert", &cert, "--key", &key, "GET", "from"])
        .output()
        .expect("redis-cli");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "redis-cli");
    // flashdb-cli, with a user of the ACL.
    let cli = flashdb_testkit::binary_beside(
        Path::new(env!("CARGO_BIN_EXE_flashdb")),
        "flashdb-cli",
        "flashdb-cli",
    );
    let mut admin = Client::connect(port, &ca1.cert.pem(), Some(&client));
    assert_eq!(
        admin
            .call(&["ACL", "SETUSER", "reader", "on", ">rpw", "~from", "+get"])
            .as_deref(),
        Ok("+OK")
    );
    let run_cli = |extra: &[&str]| {
        let out = std::process::Command::new(&cli)
            .args(["-p", &port.to_string(), "--tls", "--cacert", &ca_file])
            .args(["--cert", &cert, "--key", &key])
            .args(extra)
            .output()
            .expect("flashdb-cli");
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    };
    assert_eq!(
        run_cli(&["--user", "reader", "-a", "rpw", "GET", "from"]).0,
        "redis-cli"
    );
    let (out, err) = run_cli(&["--user", "reader", "-a", "rpw", "SET", "from", "x"]);
    assert!(format!("{out}{err}").contains("NOPERM"), "{out} {err}");
    // Without the CA that signed the server's certificate, the CLI says why.
    let other = files.write("other-ca.crt", &ca("Other").cert.pem());
    let out = std::process::Command::new(&cli)
        .args(["-p", &port.to_string(), "--tls", "--cacert", &other, "PING"])
        .output()
        .expect("flashdb-cli");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS handshake"),
        "{out:?}"
    );
    // redis-py, as docs/security.md shows it.
    let script = format!(
        "import redis\nr = redis.Redis(port={port}, ssl=True, ssl_ca_certs={ca_file:?}, \
         ssl_certfile={cert:?}, ssl_keyfile={key:?})\nprint(r.get('from').decode())"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "redis-cli",
        "{out:?}"
    );
}

#[test]
fn a_server_whose_tls_files_do_not_load_does_not_start() {
    let port = free_port().to_string();
    let stderr = common::refuses_to_start(&[
        "--tls-port",
        &port,
        "--tls-cert-file",
        "/nonexistent/server.crt",
        "--tls-key-file",
        "/nonexistent/server.key",
        "--tls-auth-clients",
        "no",
    ]);
    assert!(stderr.contains("cannot set up TLS"), "{stderr}");
    assert!(stderr.contains("tls-cert-file"), "{stderr}");
    let stderr = common::refuses_to_start(&["--tls-auth-clients", "maybe"]);
    assert!(stderr.contains("--tls-auth-clients"), "{stderr}");
    // Mutual TLS between nodes needs this node's certificate.
    let stderr = common::refuses_to_start(&["--tls-replication", "yes"]);
    assert!(
        stderr.contains("cannot set up TLS") && stderr.contains("tls-cert-file is not set"),
        "{stderr}"
    );
    let stderr = common::refuses_to_start(&["--tls-replication", "maybe"]);
    assert!(
        stderr.contains("--tls-replication must be yes or no"),
        "{stderr}"
    );
}

#[test]
fn the_http_port_speaks_https_with_tls_http() {
    let files = Files::new();
    let ca1 = ca("FlashDB test CA");
    let server_cert = leaf(&ca1, "flashdb", true, false);
    // Client certificates are required on the RESP port; HTTPS does not ask for them.
    let (server, _port) = start(&files, &ca1, &server_cert, &["--tls-http", "yes"]);
    let ca_file = files.write("curl-ca.crt", &ca1.cert.pem());
    let url = format!("https://127.0.0.1:{}/api/v1/healthz", server.http_port);
    let out = std::process::Command::new("curl")
        .args(["-s", "--cacert", &ca_file, &url])
        .output()
        .expect("curl");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("\"success\":true"), "{out:?}");
    // A client that does not trust the CA refuses; plain HTTP gets no answer.
    let out = std::process::Command::new("curl")
        .args(["-s", &url])
        .output()
        .expect("curl");
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let plain = format!("http://127.0.0.1:{}/api/v1/healthz", server.http_port);
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "5", &plain])
        .output()
        .expect("curl");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("success"),
        "{out:?}"
    );
}

#[test]
fn a_client_certificate_can_name_its_acl_user() {
    let files = Files::new();
    let ca1 = ca("FlashDB test CA");
    let server_cert = leaf(&ca1, "flashdb", true, false);
    let ca_pem = ca1.cert.pem();
    let alice = leaf(&ca1, "alice", false, false);
    let carol = leaf(&ca1, "carol", false, false);
    let nobody = leaf(&ca1, "nobody", false, false);
    let (server, port) = start(
        &files,
        &ca1,
        &server_cert,
        &["--requirepass", "adminpw", "--tls-auth-clients-user", "CN"],
    );
    let mut admin = server.raw();
    assert_eq!(admin.call(&["AUTH", "adminpw"]), "+OK\r\n");
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "alice", "on", ">pw", "~a:*", "+@all"]),
        "+OK\r\n"
    );
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "carol", "off", ">pw", "+@all"]),
        "+OK\r\n"
    );
    let mut c = Client::connect(port, &ca_pem, Some(&alice));
    assert_eq!(c.call(&["SET", "a:1", "v"]).as_deref(), Ok("+OK"));
    assert!(c.call(&["SET", "b:1", "v"]).unwrap().starts_with("-NOPERM"));
    let mut who = Client::connect(port, &ca_pem, Some(&alice));
    assert_eq!(who.call(&["ACL", "WHOAMI"]).as_deref(), Ok("$5"));
    // A user that is off, or none of that name: the client must log in as usual.
    for cert in [&carol, &nobody] {
        let mut c = Client::connect(port, &ca_pem, Some(cert));
        assert!(c.call(&["GET", "a:1"]).unwrap().starts_with("-NOAUTH"));
        assert_eq!(c.call(&["AUTH", "adminpw"]).as_deref(), Ok("+OK"));
    }
    drop(server);
    // Off by default.
    let (_server, port) = start(&files, &ca1, &server_cert, &["--requirepass", "adminpw"]);
    let mut c = Client::connect(port, &ca_pem, Some(&alice));
    assert!(c.call(&["GET", "a:1"]).unwrap().starts_with("-NOAUTH"));
}

/// A node's certificate for peer traffic: it serves its group port and is a client of
/// its peers'.
fn node_cert(ca: &Ca, cn: &str) -> (String, String) {
    use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    leaf_for(ca, cn, vec![ServerAuth, ClientAuth], false)
}

/// `curl` of `/flashdb/node` on a group port: (exit code, body).
fn curl_group_port(addr: &str, https: bool, tls_args: &[&str]) -> (Option<i32>, String) {
    let scheme = if https { "https" } else { "http" };
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "5"])
        .args(tls_args)
        .arg(format!("{scheme}://{addr}/flashdb/node"))
        .output()
        .expect("curl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_group_speaks_mutual_tls_between_its_nodes_and_refuses_anyone_else() {
    let files = Files::new();
    let group_ca = ca("FlashDB group CA");
    let (cert, key) = node_cert(&group_ca, "node");
    let cert_file = files.write("node.crt", &cert);
    let key_file = files.write("node.key", &key);
    let ca_file = files.write("ca.crt", &group_ca.cert.pem());
    let g = Group::start_with_flags(
        3,
        &[
            "--tls-replication",
            "yes",
            "--tls-cert-file",
            &cert_file,
            "--tls-key-file",
            &key_file,
            "--tls-ca-cert-file",
            &ca_file,
        ],
    );
    // A leader was elected, so votes crossed the TLS links; a write sent to a follower
    // is forwarded to the leader, and read back on the other follower once replicated.
    let leader = g.wait_leader();
    let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
    assert_eq!(
        g.raw(followers[0]).call(&["SET", "k", "over-tls"]),
        "+OK\r\n"
    );
    assert_eq!(
        g.raw(followers[1]).call(&["GET", "k"]),
        "$8\r\nover-tls\r\n"
    );
    assert_eq!(
        g.raw(leader).call(&["CONFIG", "GET", "tls-replication"]),
        "*2\r\n$15\r\ntls-replication\r\n$3\r\nyes\r\n"
    );

    let addr = g.raft_addr(leader);
    // A client with a certificate from the group's CA is a peer: the port answers.
    let (code, body) = curl_group_port(
        &addr,
        true,
        &[
            "--cacert", &ca_file, "--cert", &cert_file, "--key", &key_file,
        ],
    );
    assert_eq!(code, Some(0), "{body}");
    assert!(body.contains(&format!("\"id\":{leader}")), "{body}");
    // Plain HTTP, TLS without a client certificate, and a certificate from another CA
    // get nothing from the group port.
    let (code, body) = curl_group_port(&addr, false, &[]);
    assert!(
        code != Some(0) && !body.contains("\"id\""),
        "{code:?} {body}"
    );
    let (code, body) = curl_group_port(&addr, true, &["--cacert", &ca_file]);
    assert!(
        code != Some(0) && !body.contains("\"id\""),
        "{code:?} {body}"
    );
    let stranger_ca = ca("Another CA");
    let (c, k) = node_cert(&stranger_ca, "stranger");
    let (c, k) = (
        files.write("stranger.crt", &c),
        files.write("stranger.key", &k),
    );
    let (code, body) = curl_group_port(
        &addr,
        true,
        &["--cacert", &ca_file, "--cert", &c, "--key", &k],
    );
    assert!(
        code != Some(0) && !body.contains("\"id\""),
        "{code:?} {body}"
    );

    // A renewed certificate, set at run time on every node, serves the links from then
    // on: the group keeps replicating, and the new certificate is the one presented.
    let (cert2, key2) = node_cert(&group_ca, "node-renewed");
    let cert2_file = files.write("node2.crt", &cert2);
    let key2_file = files.write("node2.key", &key2);
    for id in 1..=3 {
        let reply = g.raw(id).call(&[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &cert2_file,
            "tls-key-file",
            &key2_file,
        ]);
        assert_eq!(reply, "+OK\r\n", "node {id}");
    }
    assert_eq!(
        g.raw(followers[1]).call(&["SET", "k", "renewed"]),
        "+OK\r\n"
    );
    assert_eq!(g.raw(followers[0]).call(&["GET", "k"]), "$7\r\nrenewed\r\n");
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "5", "-v", "--cacert", &ca_file])
        .args(["--cert", &cert2_file, "--key", &key2_file])
        .arg(format!("https://{addr}/flashdb/node"))
        .output()
        .expect("curl");
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(shown.contains("CN=node-renewed"), "{shown}");
}
