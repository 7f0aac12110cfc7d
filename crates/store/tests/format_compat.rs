//! Records written by earlier releases stay readable: every fixture under `tests/fixtures/`
//! (state files, Redis values, as a release wrote them) is read through the stores' own code
//! paths and must decode to the values in `format_compat/records.rs`.
//!
//! Fixtures are `fixtures/<format>/v<version>.json` (`.redis.json`: the same document as Redis
//! holds it; `.jsonl`: one record a line). They are written by [`write_fixtures`], never by
//! hand, and never rewritten once committed: a reader that fails on one has broken a rolling
//! upgrade from the release that wrote it.

#[path = "format_compat/records.rs"]
mod records;
mod support;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_model::{Change, ConfigState, Taken};
use gatehouse_store::{FileStateStore, RedisStateStore, RedisTokenStore, StateStore, TokenStore};
use records::{ACCESS, CODE, FAMILY, REFRESH};
use support::RedisServer;

/// An XRANGE entry: its id and its fields.
type LogEntry = (String, Vec<(String, Vec<u8>)>);

const WINDOW: Duration = Duration::from_secs(60);

/// Every persisted JSON format, by its fixture directory.
const FORMATS: [&str; 6] = ["state", "change", "session", "authorization-code", "refresh-grant", "family"];

/// The versions of `format` there are fixtures of: every version any release wrote.
fn versions(_format: &str) -> std::ops::RangeInclusive<u64> {
    0..=0
}

fn fixture_path(format: &str, version: u64, extension: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format)
        .join(format!("v{version}.{extension}"))
}

fn fixture(format: &str, version: u64, extension: &str) -> Vec<u8> {
    let path = fixture_path(format, version, extension);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn raw_set(server: &RedisServer, key: &str, value: &[u8]) {
    let mut conn = raw_connection(server).await;
    redis::cmd("SET").arg(key).arg(value).query_async::<()>(&mut conn).await.unwrap();
}

async fn raw_exists(server: &RedisServer, key: &str) -> bool {
    let mut conn = raw_connection(server).await;
    redis::cmd("EXISTS").arg(key).query_async::<u64>(&mut conn).await.unwrap() == 1
}

async fn flush(server: &RedisServer) {
    let mut conn = raw_connection(server).await;
    redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await.unwrap();
}

/// The revision and store id a state fixture holds, read as plain JSON: what the rev key
/// beside it said.
fn rev_value(state_json: &[u8]) -> String {
    let state: serde_json::Value = serde_json::from_slice(state_json).unwrap();
    format!("{}:{}", state["revision"], state["store_id"].as_str().unwrap())
}

fn assert_is_the_recorded_state(state: &ConfigState) {
    assert_eq!(state.store_id.len(), 32, "{}", state.store_id);
    assert_eq!(state, &records::state(&state.store_id, state.token_key));
    assert_eq!(state.revision, records::changes().len() as u64);
}

#[test]
fn every_format_has_a_fixture_of_every_version() {
    for format in FORMATS {
        for version in versions(format) {
            let extension = if format == "change" { "jsonl" } else { "json" };
            assert!(fixture_path(format, version, extension).is_file(), "no fixture of {format} v{version}");
        }
    }
}

#[tokio::test]
async fn file_store_reads_every_state_fixture() {
    for version in versions("state") {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("state.json"), fixture("state", version, "json")).unwrap();
        let store = FileStateStore::open(tmp.path()).unwrap();
        let state = store.load().await.unwrap();
        assert_is_the_recorded_state(&state);

        // Writing on top of it works, and what was written reads back.
        let next = Change::ApiDeleted { api_id: "billing".into() };
        assert_eq!(store.commit(state.revision, &next).await.unwrap(), state.revision + 1);
        drop(store);
        let reopened = FileStateStore::open(tmp.path()).unwrap().load().await.unwrap();
        let mut expected = state;
        expected.apply(expected.revision + 1, &next);
        assert_eq!(reopened, expected, "state v{version}");
    }
}

#[tokio::test]
async fn redis_state_store_reads_every_state_fixture() {
    let server = RedisServer::start();
    let store = RedisStateStore::connect(&server.url()).await.unwrap();
    for version in versions("state") {
        flush(&server).await;
        let json = fixture("state", version, "redis.json");
        raw_set(&server, RedisStateStore::STATE_KEY, &json).await;
        raw_set(&server, RedisStateStore::REV_KEY, rev_value(&json).as_bytes()).await;
        let state = store.load().await.unwrap();
        assert_is_the_recorded_state(&state);

        let next = Change::ApiDeleted { api_id: "billing".into() };
        assert_eq!(store.commit(state.revision, &next).await.unwrap(), state.revision + 1);
        let mut expected = state;
        expected.apply(expected.revision + 1, &next);
        assert_eq!(store.load().await.unwrap(), expected, "state v{version}");
    }
}

#[tokio::test]
async fn redis_state_store_follows_every_change_log_fixture() {
    let server = RedisServer::start();
    let store = RedisStateStore::connect(&server.url()).await.unwrap();
    for version in versions("change") {
        flush(&server).await;
        let log = fixture("change", version, "jsonl");
        let mut conn = raw_connection(&server).await;
        for (revision, line) in (1u64..).zip(log.split(|b| *b == b'\n').filter(|l| !l.is_empty())) {
            redis::cmd("XADD")
                .arg(RedisStateStore::LOG_KEY)
                .arg(format!("{revision}-0"))
                .arg("change")
                .arg(line)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
        let followed = store.changes_after(0, Duration::ZERO).await.unwrap();
        let expected: Vec<(u64, Change)> = (1..).zip(records::changes()).collect();
        assert_eq!(followed, expected, "change v{version}");
    }
}

#[tokio::test]
async fn redis_token_store_reads_every_token_fixture() {
    let server = RedisServer::start();
    let store = RedisTokenStore::connect(&server.url()).await.unwrap();
    for version in versions("session") {
        flush(&server).await;
        raw_set(&server, &RedisTokenStore::session_key(&ACCESS), &fixture("session", version, "json")).await;
        assert_eq!(store.get_session(&ACCESS).await.unwrap(), Some(records::session()), "session v{version}");
    }
    for version in versions("authorization-code") {
        flush(&server).await;
        let json = fixture("authorization-code", version, "json");
        raw_set(&server, &RedisTokenStore::code_key(&CODE), &json).await;
        let fresh = store.redeem_code(&CODE, FAMILY, WINDOW).await.unwrap();
        assert_eq!(fresh, Taken::Fresh(records::code()), "authorization-code v{version}");
        let replayed = store.redeem_code(&CODE, "other", WINDOW).await.unwrap();
        assert_eq!(replayed, Taken::Replayed { family_id: FAMILY.into() });
    }
    for version in versions("refresh-grant") {
        flush(&server).await;
        let json = fixture("refresh-grant", version, "json");
        raw_set(&server, &RedisTokenStore::refresh_key(&REFRESH), &json).await;
        let grant = Some(records::refresh_grant());
        assert_eq!(store.get_refresh(&REFRESH).await.unwrap(), grant, "refresh-grant v{version}");
        let fresh = store.use_refresh(&REFRESH, WINDOW).await.unwrap();
        assert_eq!(fresh, Taken::Fresh(records::refresh_grant()));
        // The spend script read the family out of the stored grant for its marker.
        let replayed = store.use_refresh(&REFRESH, WINDOW).await.unwrap();
        assert_eq!(replayed, Taken::Replayed { family_id: FAMILY.into() }, "refresh-grant v{version}");
    }
    for version in versions("family") {
        flush(&server).await;
        let (session_key, refresh_key) =
            (RedisTokenStore::session_key(&ACCESS), RedisTokenStore::refresh_key(&REFRESH));
        raw_set(&server, &session_key, b"{}").await;
        raw_set(&server, &refresh_key, b"{}").await;
        raw_set(&server, &RedisTokenStore::family_key(FAMILY), &fixture("family", version, "json")).await;
        store.revoke_family(FAMILY, WINDOW).await.unwrap();
        // Revocation deleted exactly the members the record names.
        assert!(!raw_exists(&server, &session_key).await, "family v{version}");
        assert!(!raw_exists(&server, &refresh_key).await, "family v{version}");
        assert!(store.family_revoked(FAMILY).await.unwrap());
    }
}

/// Writes the fixtures of the formats this build writes, as it writes them, through the stores
/// themselves. Run when a format's version goes up (see `fixtures/README.md`):
/// `cargo test -p gatehouse-store --test format_compat -- --ignored write_fixtures`.
/// Never overwrites: a committed fixture is what a release wrote, and stays so.
#[tokio::test]
#[ignore = "writes fixtures; run by hand when a format version goes up"]
async fn write_fixtures() {
    let version = |_format: &str| 0u64;
    let write = |format: &str, extension: &str, bytes: &[u8]| {
        let path = fixture_path(format, version(format), extension);
        if path.exists() {
            println!("kept {}", path.display());
            return;
        }
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        println!("wrote {}", path.display());
    };

    // The file store's state.json.
    let tmp = tempfile::tempdir().unwrap();
    let file_store = FileStateStore::open(tmp.path()).unwrap();
    for (seen, change) in (0..).zip(records::changes()) {
        file_store.commit(seen, &change).await.unwrap();
    }
    write("state", "json", &fs::read(tmp.path().join("state.json")).unwrap());

    // The Redis state and its change log.
    let server = RedisServer::start();
    let state_store = RedisStateStore::connect(&server.url()).await.unwrap();
    for (seen, change) in (0..).zip(records::changes()) {
        state_store.commit(seen, &change).await.unwrap();
    }
    let mut conn = raw_connection(&server).await;
    let state: Vec<u8> =
        redis::cmd("GET").arg(RedisStateStore::STATE_KEY).query_async(&mut conn).await.unwrap();
    write("state", "redis.json", &state);
    let entries: Vec<LogEntry> = redis::cmd("XRANGE")
        .arg(RedisStateStore::LOG_KEY)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut log = Vec::new();
    for (_id, fields) in entries {
        let (_, change) = fields.into_iter().find(|(name, _)| name == "change").unwrap();
        log.extend(change);
        log.push(b'\n');
    }
    write("change", "jsonl", &log);

    // Token records.
    let tokens = RedisTokenStore::connect(&server.url()).await.unwrap();
    let ttl = Duration::from_secs(600);
    tokens.put_session(&ACCESS, &records::session(), ttl).await.unwrap();
    tokens.put_code(&CODE, &records::code(), ttl).await.unwrap();
    tokens.put_refresh(&REFRESH, &records::refresh_grant(), ttl).await.unwrap();
    tokens.set_family(FAMILY, &records::family(), ttl).await.unwrap();
    for (format, key) in [
        ("session", RedisTokenStore::session_key(&ACCESS)),
        ("authorization-code", RedisTokenStore::code_key(&CODE)),
        ("refresh-grant", RedisTokenStore::refresh_key(&REFRESH)),
        ("family", RedisTokenStore::family_key(FAMILY)),
    ] {
        let value: Vec<u8> = redis::cmd("GET").arg(&key).query_async(&mut conn).await.unwrap();
        write(format, "json", &value);
    }
}
