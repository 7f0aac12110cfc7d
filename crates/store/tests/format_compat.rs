//! Records stay readable across releases, and a record too new to read is refused.
//!
//! Every fixture under `tests/fixtures/` (a state file, Redis values, as a release wrote them)
//! is read through the stores' own code paths and must decode to the values in
//! `format_compat/records.rs`. Fixtures are `fixtures/<format>/v<version>.json`
//! (`.redis.json`: the same document as Redis holds it; `.jsonl`: one record a line), one for
//! every version of every format in `gatehouse_store::format::ALL`. They are written by
//! [`write_fixtures`], never by hand, and never rewritten once committed: a reader that fails on
//! one has broken a rolling upgrade from the release that wrote it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

#[path = "format_compat/records.rs"]
mod records;
mod support;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_model::storage::{GrantStore, SessionStore, StateStore, StoreError};
use gatehouse_model::{Change, ConfigState, Taken};
use gatehouse_store::format::{self, Format};
use gatehouse_store::{FileStateStore, RedisStateStore, RedisTokenStore};
use records::{ACCESS, CODE, FAMILY, REFRESH};
use support::RedisServer;

/// An XRANGE entry: its id and its fields.
type LogEntry = (String, Vec<(String, Vec<u8>)>);

const WINDOW: Duration = Duration::from_secs(60);

/// The versions of `format` there are fixtures of: every version a release has written.
fn versions(format: &Format) -> std::ops::RangeInclusive<u64> {
    0..=format.writes
}

fn extension(format: &Format) -> &'static str {
    if *format == format::CHANGE { "jsonl" } else { "json" }
}

fn fixture_path(format: &Format, version: u64, extension: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format.name.replace(' ', "-"))
        .join(format!("v{version}.{extension}"))
}

fn fixture(format: &Format, version: u64, extension: &str) -> Vec<u8> {
    let path = fixture_path(format, version, extension);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The current fixture of `format` with its version raised past what this build reads, and
/// the message that must refuse it.
fn newer(format: &Format, record: &[u8]) -> (Vec<u8>, String) {
    let mut value: serde_json::Value = serde_json::from_slice(record).unwrap();
    let version = format.reads_up_to + 1;
    value["v"] = version.into();
    let message = format!(
        "{} written by a newer Gatehouse (format v{version}); this build reads up to v{}",
        format.name, format.reads_up_to
    );
    (serde_json::to_vec(&value).unwrap(), message)
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, StoreError>, place: &str, message: &str) {
    match result {
        Err(StoreError::Corrupt(msg)) => {
            assert!(msg.contains(place) && msg.contains(message), "{msg:?} lacks {place:?} or {message:?}")
        }
        other => panic!("expected Corrupt({message:?}), got {other:?}"),
    }
}

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn raw_set(server: &RedisServer, key: &str, value: &[u8]) {
    let mut conn = raw_connection(server).await;
    redis::cmd("SET").arg(key).arg(value).query_async::<()>(&mut conn).await.unwrap();
}

async fn raw_get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    let mut conn = raw_connection(server).await;
    redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap()
}

async fn flush(server: &RedisServer) {
    let mut conn = raw_connection(server).await;
    redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await.unwrap();
}

/// Appends `log` (one change a line) to the change log as revisions 1, 2, …
async fn raw_log(server: &RedisServer, log: &[u8]) {
    let mut conn = raw_connection(server).await;
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
}

/// Stores `state_json` as the Redis state, with the rev key that goes with it.
async fn raw_state(server: &RedisServer, state_json: &[u8]) {
    let state: serde_json::Value = serde_json::from_slice(state_json).unwrap();
    let rev = format!("{}:{}", state["revision"], state["store_id"].as_str().unwrap());
    raw_set(server, RedisStateStore::STATE_KEY, state_json).await;
    raw_set(server, RedisStateStore::REV_KEY, rev.as_bytes()).await;
}

fn assert_is_the_recorded_state(state: &ConfigState) {
    assert_eq!(state.store_id.len(), 32, "{}", state.store_id);
    assert_eq!(state, &records::state(&state.store_id, state.token_key));
    assert_eq!(state.revision, records::changes().len() as u64);
}

fn recorded_log() -> Vec<(u64, Change)> {
    (1..).zip(records::changes()).collect()
}

#[test]
fn every_format_has_a_fixture_of_every_version() {
    for format in format::ALL {
        for version in versions(&format) {
            let path = fixture_path(&format, version, extension(&format));
            assert!(path.is_file(), "no fixture of {} v{version}: {}", format.name, path.display());
        }
    }
}

#[tokio::test]
async fn file_store_reads_every_state_fixture() {
    for version in versions(&format::STATE) {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("state.json"), fixture(&format::STATE, version, "json")).unwrap();
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
    for version in versions(&format::STATE) {
        flush(&server).await;
        raw_state(&server, &fixture(&format::STATE, version, "redis.json")).await;
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
    for version in versions(&format::CHANGE) {
        flush(&server).await;
        raw_log(&server, &fixture(&format::CHANGE, version, "jsonl")).await;
        let followed = store.changes_after(0, Duration::ZERO).await.unwrap();
        assert_eq!(followed, recorded_log(), "change v{version}");
    }
}

async fn token_store() -> (RedisTokenStore, RedisServer) {
    let server = RedisServer::start();
    (RedisTokenStore::connect(&server.url()).await.unwrap(), server)
}

#[tokio::test]
async fn redis_token_store_reads_every_session_fixture() {
    let (store, server) = token_store().await;
    for version in versions(&format::SESSION) {
        let json = fixture(&format::SESSION, version, "json");
        raw_set(&server, &RedisTokenStore::session_key(&ACCESS), &json).await;
        assert_eq!(store.get_session(&ACCESS).await.unwrap(), Some(records::session()), "session v{version}");
    }
}

#[tokio::test]
async fn redis_token_store_redeems_every_authorization_code_fixture() {
    let (store, server) = token_store().await;
    for version in versions(&format::AUTHORIZATION_CODE) {
        let json = fixture(&format::AUTHORIZATION_CODE, version, "json");
        raw_set(&server, &RedisTokenStore::code_key(&CODE), &json).await;
        let fresh = store.redeem_code(&CODE, FAMILY, WINDOW).await.unwrap();
        assert_eq!(fresh, Taken::Fresh(records::code()), "authorization code v{version}");
        let replayed = store.redeem_code(&CODE, "other", WINDOW).await.unwrap();
        assert_eq!(replayed, Taken::Replayed { family_id: FAMILY.into() });
    }
}

#[tokio::test]
async fn redis_token_store_uses_every_refresh_grant_fixture() {
    let (store, server) = token_store().await;
    for version in versions(&format::REFRESH_GRANT) {
        let json = fixture(&format::REFRESH_GRANT, version, "json");
        raw_set(&server, &RedisTokenStore::refresh_key(&REFRESH), &json).await;
        let grant = Some(records::refresh_grant());
        assert_eq!(store.get_refresh(&REFRESH).await.unwrap(), grant, "refresh grant v{version}");
        let fresh = store.use_refresh(&REFRESH, WINDOW).await.unwrap();
        assert_eq!(fresh, Taken::Fresh(records::refresh_grant()));
        // The spend script read the family out of the stored grant for its marker.
        let replayed = store.use_refresh(&REFRESH, WINDOW).await.unwrap();
        assert_eq!(replayed, Taken::Replayed { family_id: FAMILY.into() }, "refresh grant v{version}");
    }
}

#[tokio::test]
async fn redis_token_store_revokes_by_every_family_record_fixture() {
    let (store, server) = token_store().await;
    for version in versions(&format::FAMILY) {
        flush(&server).await;
        let (session_key, refresh_key) =
            (RedisTokenStore::session_key(&ACCESS), RedisTokenStore::refresh_key(&REFRESH));
        raw_set(&server, &session_key, b"{}").await;
        raw_set(&server, &refresh_key, b"{}").await;
        let json = fixture(&format::FAMILY, version, "json");
        raw_set(&server, &RedisTokenStore::family_key(FAMILY), &json).await;
        store.revoke_family(FAMILY, WINDOW).await.unwrap();
        // Revocation deleted exactly the members the record names.
        assert_eq!(raw_get(&server, &session_key).await, None, "family record v{version}");
        assert_eq!(raw_get(&server, &refresh_key).await, None, "family record v{version}");
        assert!(store.family_revoked(FAMILY).await.unwrap());
    }
}

#[tokio::test]
async fn state_of_a_newer_format_is_refused_and_left_alone() {
    let current = format::STATE.writes;
    let (json, message) = newer(&format::STATE, &fixture(&format::STATE, current, "json"));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state.json");
    fs::write(&path, &json).unwrap();
    let store = FileStateStore::open(tmp.path()).unwrap();
    assert_refused(store.load().await, &path.display().to_string(), &message);
    let next = Change::ApiDeleted { api_id: "billing".into() };
    assert_refused(store.commit(17, &next).await, "state.json", &message);
    assert_eq!(fs::read(&path).unwrap(), json);

    let server = RedisServer::start();
    let store = RedisStateStore::connect(&server.url()).await.unwrap();
    let (json, message) = newer(&format::STATE, &fixture(&format::STATE, current, "redis.json"));
    raw_state(&server, &json).await;
    assert_refused(store.load().await, RedisStateStore::STATE_KEY, &message);
    assert_refused(store.commit(17, &next).await, RedisStateStore::STATE_KEY, &message);
    assert_eq!(raw_get(&server, RedisStateStore::STATE_KEY).await, Some(json));
}

#[tokio::test]
async fn a_change_of_a_newer_format_is_refused() {
    let server = RedisServer::start();
    let store = RedisStateStore::connect(&server.url()).await.unwrap();
    let log = fixture(&format::CHANGE, format::CHANGE.writes, "jsonl");
    let mut lines: Vec<Vec<u8>> =
        log.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    let (last, message) = newer(&format::CHANGE, &lines.pop().unwrap());
    lines.push(last);
    raw_log(&server, &lines.join(&b'\n')).await;
    assert_refused(store.changes_after(0, Duration::ZERO).await, RedisStateStore::LOG_KEY, &message);
}

#[tokio::test]
async fn token_records_of_a_newer_format_are_refused_and_left_alone() {
    let (store, server) = token_store().await;
    let newer_fixture = |format: &Format| newer(format, &fixture(format, format.writes, "json"));

    let (json, message) = newer_fixture(&format::SESSION);
    let key = RedisTokenStore::session_key(&ACCESS);
    raw_set(&server, &key, &json).await;
    assert_refused(store.get_session(&ACCESS).await, &key, &message);

    // The spend script leaves a grant it cannot read untouched, for a release that can.
    let (json, message) = newer_fixture(&format::AUTHORIZATION_CODE);
    let key = RedisTokenStore::code_key(&CODE);
    raw_set(&server, &key, &json).await;
    assert_refused(store.redeem_code(&CODE, FAMILY, WINDOW).await, &key, &message);
    assert_eq!(raw_get(&server, &key).await.as_ref(), Some(&json));

    let (json, message) = newer_fixture(&format::REFRESH_GRANT);
    let key = RedisTokenStore::refresh_key(&REFRESH);
    raw_set(&server, &key, &json).await;
    assert_refused(store.get_refresh(&REFRESH).await, &key, &message);
    assert_refused(store.use_refresh(&REFRESH, WINDOW).await, &key, &message);
    assert_eq!(raw_get(&server, &key).await.as_ref(), Some(&json));

    // The family's tokens are not touched on the word of a record this build cannot read; the
    // revocation itself is still remembered, as for any unreadable record.
    flush(&server).await;
    let (json, message) = newer_fixture(&format::FAMILY);
    let key = RedisTokenStore::family_key(FAMILY);
    raw_set(&server, &RedisTokenStore::session_key(&ACCESS), b"{}").await;
    raw_set(&server, &key, &json).await;
    assert_refused(store.revoke_family(FAMILY, WINDOW).await, &key, &message);
    assert!(store.family_revoked(FAMILY).await.unwrap());
    assert_eq!(raw_get(&server, &RedisTokenStore::session_key(&ACCESS)).await.as_deref(), Some(&b"{}"[..]));
}

/// The version a record was written in, read as plain JSON.
fn written_version(json: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(json).unwrap()["v"].as_u64()
}

#[tokio::test]
async fn records_written_now_carry_the_current_version_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(tmp.path()).unwrap();
    for (seen, change) in (0..).zip(records::changes()) {
        store.commit(seen, &change).await.unwrap();
    }
    let on_disk = fs::read(tmp.path().join("state.json")).unwrap();
    assert_eq!(written_version(&on_disk), Some(format::STATE.writes));
    drop(store);
    assert_is_the_recorded_state(&FileStateStore::open(tmp.path()).unwrap().load().await.unwrap());

    let server = RedisServer::start();
    let store = RedisStateStore::connect(&server.url()).await.unwrap();
    for (seen, change) in (0..).zip(records::changes()) {
        store.commit(seen, &change).await.unwrap();
    }
    let stored = raw_get(&server, RedisStateStore::STATE_KEY).await.unwrap();
    assert_eq!(written_version(&stored), Some(format::STATE.writes));
    assert_is_the_recorded_state(&store.load().await.unwrap());
    for (_, change) in log_entries(&server).await {
        assert_eq!(written_version(&change), Some(format::CHANGE.writes));
    }
    assert_eq!(store.changes_after(0, Duration::ZERO).await.unwrap(), recorded_log());

    let tokens = RedisTokenStore::connect(&server.url()).await.unwrap();
    let ttl = Duration::from_secs(600);
    tokens.put_session(&ACCESS, &records::session(), ttl).await.unwrap();
    tokens.put_code(&CODE, &records::code(), ttl).await.unwrap();
    tokens.put_refresh(&REFRESH, &records::refresh_grant(), ttl).await.unwrap();
    tokens.set_family(FAMILY, &records::family(), ttl).await.unwrap();
    for (format, key) in token_keys() {
        let stored = raw_get(&server, &key).await.unwrap();
        assert_eq!(written_version(&stored), Some(format.writes), "{}", format.name);
    }
    assert_eq!(tokens.get_session(&ACCESS).await.unwrap(), Some(records::session()));
    assert_eq!(tokens.redeem_code(&CODE, FAMILY, WINDOW).await.unwrap(), Taken::Fresh(records::code()));
    assert_eq!(tokens.get_refresh(&REFRESH).await.unwrap(), Some(records::refresh_grant()));
    assert_eq!(tokens.use_refresh(&REFRESH, WINDOW).await.unwrap(), Taken::Fresh(records::refresh_grant()));
    // The spend script still finds the family in a versioned grant.
    let replayed = tokens.use_refresh(&REFRESH, WINDOW).await.unwrap();
    assert_eq!(replayed, Taken::Replayed { family_id: FAMILY.into() });
    tokens.put_session(&ACCESS, &records::session(), ttl).await.unwrap();
    tokens.revoke_family(FAMILY, WINDOW).await.unwrap();
    assert_eq!(tokens.get_session(&ACCESS).await.unwrap(), None);
}

/// The token records' formats and the keys `write_fixtures` stores them under.
fn token_keys() -> [(Format, String); 4] {
    [
        (format::SESSION, RedisTokenStore::session_key(&ACCESS)),
        (format::AUTHORIZATION_CODE, RedisTokenStore::code_key(&CODE)),
        (format::REFRESH_GRANT, RedisTokenStore::refresh_key(&REFRESH)),
        (format::FAMILY, RedisTokenStore::family_key(FAMILY)),
    ]
}

/// The change log's entries: revision and `change` field.
async fn log_entries(server: &RedisServer) -> Vec<(String, Vec<u8>)> {
    let mut conn = raw_connection(server).await;
    let entries: Vec<LogEntry> = redis::cmd("XRANGE")
        .arg(RedisStateStore::LOG_KEY)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    entries
        .into_iter()
        .map(|(id, fields)| (id, fields.into_iter().find(|(name, _)| name == "change").unwrap().1))
        .collect()
}

/// Writes the fixtures of the versions this build writes, through the stores themselves. Run
/// when a format's version goes up (see `fixtures/README.md`):
/// `cargo test -p gatehouse-store --test format_compat -- --ignored write_fixtures`.
/// Never overwrites: a committed fixture is what a release wrote, and stays so.
#[tokio::test]
#[ignore = "writes fixtures; run by hand when a format version goes up"]
async fn write_fixtures() {
    let write = |format: &Format, extension: &str, bytes: &[u8]| {
        let path = fixture_path(format, format.writes, extension);
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
    write(&format::STATE, "json", &fs::read(tmp.path().join("state.json")).unwrap());

    // The Redis state and its change log.
    let server = RedisServer::start();
    let state_store = RedisStateStore::connect(&server.url()).await.unwrap();
    for (seen, change) in (0..).zip(records::changes()) {
        state_store.commit(seen, &change).await.unwrap();
    }
    write(&format::STATE, "redis.json", &raw_get(&server, RedisStateStore::STATE_KEY).await.unwrap());
    let mut log = Vec::new();
    for (_, change) in log_entries(&server).await {
        log.extend(change);
        log.push(b'\n');
    }
    write(&format::CHANGE, "jsonl", &log);

    // Token records.
    let tokens = RedisTokenStore::connect(&server.url()).await.unwrap();
    let ttl = Duration::from_secs(600);
    tokens.put_session(&ACCESS, &records::session(), ttl).await.unwrap();
    tokens.put_code(&CODE, &records::code(), ttl).await.unwrap();
    tokens.put_refresh(&REFRESH, &records::refresh_grant(), ttl).await.unwrap();
    tokens.set_family(FAMILY, &records::family(), ttl).await.unwrap();
    for (format, key) in token_keys() {
        write(&format, "json", &raw_get(&server, &key).await.unwrap());
    }
}
