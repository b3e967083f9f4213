//! Geo commands against the real Redis 7: same requests, byte-identical replies (the
//! order of unsorted search results included), RESP2 and RESP3, error cases included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::real_redis::run_script;

const SICILY: &[&str] = &[
    "FLUSHALL",
    "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2",
    "GEOADD Sicily 13.583333 37.316667 Agrigento 14.015482 37.991272 Caltanissetta",
];

fn with_sicily(script: &[&str]) -> Vec<String> {
    SICILY
        .iter()
        .chain(script.iter())
        .map(|s| s.to_string())
        .collect()
}

fn run(script: &[String]) {
    let refs: Vec<&str> = script.iter().map(|s| s.as_str()).collect();
    run_script(&refs);
}

#[test]
fn geoadd_geopos_geohash_geodist_match_redis() {
    run(&with_sicily(&[
        "ZRANGE Sicily 0 -1 WITHSCORES",
        "GEOADD Sicily NX 13.361389 38.115556 Palermo 1 1 NewOne",
        "GEOADD Sicily XX CH 13.5 38.2 Palermo 2 2 Ignored",
        "GEOADD Sicily CH 13.5 38.2 Palermo",
        "GEOADD Sicily NX XX 1 1 a",
        "GEOADD Sicily 1 1",
        "GEOADD Sicily 1 1 a 2",
        "GEOADD Sicily 181 1 a",
        "GEOADD Sicily 1 85.06 a",
        "GEOADD Sicily -180 -85.05112878 south 180 85.05112878 north",
        "GEOADD Sicily abc 1 a",
        "GEOADD Sicily GT 1 1 a",
        "GEOADD Sicily CH CH CH",
        "GEOPOS Sicily Palermo Catania missing south north",
        "GEOPOS Sicily",
        "GEOPOS nokey a b",
        "GEOHASH Sicily Palermo Catania missing south north",
        "GEOHASH nokey a",
        "GEODIST Sicily Palermo Catania",
        "GEODIST Sicily Palermo Catania km",
        "GEODIST Sicily Palermo Catania MI",
        "GEODIST Sicily Palermo Catania ft",
        "GEODIST Sicily Palermo Catania yards",
        "GEODIST Sicily Palermo missing",
        "GEODIST nokey a b",
        "GEODIST Sicily Palermo Catania km extra",
        "GEODIST Sicily south north",
        "GEODIST Sicily Palermo Palermo",
        "SET str x",
        "GEOADD str 1 1 a",
        "GEOPOS str a",
        "GEOHASH str a",
        "GEODIST str a b",
        "GEORADIUS str 15 37 200 km",
        "GEOSEARCH str FROMLONLAT 15 37 BYRADIUS 200 km",
        "ZADD plain 1 one -5 neg",
        "GEOPOS plain one",
        "GEOHASH plain one",
        "!HELLO 3",
        "GEOPOS Sicily Palermo missing",
        "GEODIST Sicily Palermo Catania",
        "GEORADIUS Sicily 15 37 200 km WITHCOORD WITHDIST WITHHASH ASC",
        "!HELLO 2",
    ]));
}

#[test]
fn radius_and_box_searches_match_redis() {
    run(&with_sicily(&[
        "GEORADIUS Sicily 15 37 200 km",
        "GEORADIUS Sicily 15 37 200 km ASC",
        "GEORADIUS Sicily 15 37 200 km DESC",
        "GEORADIUS Sicily 15 37 200 km WITHDIST",
        "GEORADIUS Sicily 15 37 200 km WITHCOORD WITHDIST WITHHASH",
        "GEORADIUS Sicily 15 37 200 km COUNT 2",
        "GEORADIUS Sicily 15 37 200 km COUNT 2 DESC",
        "GEORADIUS Sicily 15 37 2000 km COUNT 1 ANY",
        "GEORADIUS Sicily 15 37 200 km ANY",
        "GEORADIUS Sicily 15 37 200 km COUNT 0",
        "GEORADIUS Sicily 15 37 200 km COUNT -1",
        "GEORADIUS Sicily 15 37 200 km COUNT x",
        "GEORADIUS Sicily 15 37 200 km COUNT",
        "GEORADIUS Sicily 15 37 200 lightyears",
        "GEORADIUS Sicily 15 37 -1 km",
        "GEORADIUS Sicily 15 37 far km",
        "GEORADIUS Sicily 200 37 1 km",
        "GEORADIUS Sicily 15 37 0 km",
        "GEORADIUS Sicily 15 37 1 m",
        "GEORADIUS Sicily 15 37 20000 km",
        "GEORADIUS Sicily 15 37 200 km BOGUS",
        "GEORADIUS Sicily 15 37 100 mi WITHDIST",
        "GEORADIUS Sicily 15 37 500000 ft WITHDIST DESC",
        "GEORADIUS nokey 15 37 200 km",
        "GEORADIUS_RO Sicily 15 37 200 km WITHDIST",
        "GEORADIUS_RO Sicily 15 37 200 km STORE dst",
        "GEORADIUSBYMEMBER Sicily Palermo 200 km",
        "GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST ASC",
        "GEORADIUSBYMEMBER Sicily missing 200 km",
        "GEORADIUSBYMEMBER nokey missing 200 km",
        "GEORADIUSBYMEMBER nokey missing abc km",
        "GEORADIUSBYMEMBER_RO Sicily Catania 100 km WITHCOORD",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHDIST",
        "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 km WITHDIST",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 40 40 km",
        "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 200 100 mi DESC COUNT 2",
        "GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 1 km",
        "GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 1 km",
        "GEOSEARCH Sicily FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 1 km",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYBOX 1 1 km",
        "GEOSEARCH Sicily FROMLONLAT 15 37",
        "GEOSEARCH Sicily BYRADIUS 10 km ASC",
        "GEOSEARCH Sicily FROMMEMBER missing BYRADIUS 10 km",
        "GEOSEARCH nokey FROMMEMBER missing BYRADIUS 10 km",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 x km",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE dst",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1 ANY WITHHASH",
        "geosearch Sicily FROMLONLAT 15 37 ANY",
    ]));
}

#[test]
fn stored_searches_match_redis() {
    run(&with_sicily(&[
        "GEORADIUS Sicily 15 37 200 km STORE dst",
        "ZRANGE dst 0 -1 WITHSCORES",
        "GEORADIUS Sicily 15 37 200 km STOREDIST dst",
        "ZRANGE dst 0 -1 WITHSCORES",
        "GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST",
        "GEORADIUS Sicily 15 37 200 km COUNT 1 STORE dst",
        "ZRANGE dst 0 -1 WITHSCORES",
        "GEORADIUS Sicily 15 37 1 m STORE dst",
        "EXISTS dst",
        "GEORADIUS nokey 15 37 1 m STORE Sicily",
        "EXISTS Sicily",
    ]));
    run(&with_sicily(&[
        "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
        "ZRANGE dst 0 -1 WITHSCORES",
        "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST",
        "ZRANGE dst 0 -1 WITHSCORES",
        "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km WITHDIST",
        "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC COUNT 1",
        "ZRANGE dst 0 -1 WITHSCORES",
        "GEOSEARCHSTORE dst nokey FROMLONLAT 15 37 BYRADIUS 200 km",
        "EXISTS dst",
        "SET str x",
        "GEOSEARCHSTORE dst str FROMLONLAT 15 37 BYRADIUS 200 km",
        "GEOSEARCHSTORE str Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
        "TYPE str",
        "MULTI",
        "GEORADIUS Sicily 15 37 200 km STORE other",
        "GEOSEARCHSTORE dst2 Sicily FROMMEMBER Palermo BYRADIUS 300 km",
        "EXEC",
        "ZRANGE other 0 -1",
        "ZRANGE dst2 0 -1",
    ]));
}

/// Many points on a grid around the world, searched with radii from meters to
/// thousands of kilometers near the poles, the antimeridian and the equator: the
/// cells visited and the order of unsorted results must be Redis's.
#[test]
fn searches_over_a_world_grid_match_redis() {
    let mut script: Vec<String> = vec!["FLUSHALL".into()];
    let mut add = String::from("GEOADD world");
    let mut n = 0;
    for lat in (-84..=84).step_by(7) {
        for lon in (-180..=179).step_by(9) {
            add.push_str(&format!(" {lon}.{} {lat}.{} p{n}", n % 10, n % 7));
            n += 1;
        }
    }
    script.push(add);
    for (lon, lat) in [
        ("0", "0"),
        ("179.9", "10"),
        ("-179.9", "-10"),
        ("12.5", "80.5"),
        ("-45", "-70"),
        ("100", "45.3"),
    ] {
        for radius in ["50", "800", "2500", "9000"] {
            script.push(format!("GEORADIUS world {lon} {lat} {radius} km"));
            script.push(format!(
                "GEOSEARCH world FROMLONLAT {lon} {lat} BYBOX {radius} {radius} km WITHDIST"
            ));
        }
        script.push(format!(
            "GEOSEARCH world FROMLONLAT {lon} {lat} BYRADIUS 3000 km COUNT 5 ANY"
        ));
        script.push(format!(
            "GEOSEARCH world FROMLONLAT {lon} {lat} BYRADIUS 3000 km COUNT 5 WITHCOORD"
        ));
    }
    run(&script);
}
