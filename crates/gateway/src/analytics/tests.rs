use gatehouse_store::{MemoryTokenStore, RedisTokenStore};
use gatehouse_testkit::RedisServer;

use super::*;

const MS: Duration = Duration::from_millis(1);

fn request<'a>(api_id: &'a str, client_id: &'a str, status: u16, latency: Duration) -> ProxiedRequest<'a> {
    ProxiedRequest { api_id, client_id, policy_id: "gold", method: "GET", path: "/items", status, latency }
}

fn aggregate(minute: u64, client_id: &str, api_id: &str) -> MinuteAggregate {
    MinuteAggregate {
        client_id: client_id.into(),
        api_id: api_id.into(),
        minute,
        hits: 1,
        success: 1,
        latency_ms_total: 1,
        ..MinuteAggregate::default()
    }
}

async fn totals(store: &impl AnalyticsStore, client_id: &str) -> Vec<(String, u64, u64, u64, u64)> {
    let now = unix_minute_now();
    let read = store.read(client_id, now - 2, now + 1).await.unwrap();
    read.into_iter().map(|a| (a.api_id, a.hits, a.success, a.errors, a.latency_ms_total)).collect()
}

#[tokio::test]
async fn requests_aggregate_per_client_and_api() {
    let store = MemoryTokenStore::new();
    let recorder = AnalyticsRecorder::new(store.clone(), DEFAULT_MAX_ENTRIES);
    recorder.record(&request("orders", "c1", 200, 10 * MS));
    recorder.record(&request("orders", "c1", 404, 30 * MS));
    recorder.record(&request("orders", "c1", 500, 5 * MS));
    recorder.record(&request("stock", "c1", 301, 1 * MS));
    recorder.record(&request("orders", "c2", 200, 7 * MS));
    // Five (minute, client, endpoint) entries, the status being part of the endpoint.
    assert!((5..=10).contains(&recorder.pending_entries()));
    recorder.flush().await.unwrap();
    assert_eq!(recorder.pending_entries(), 0);
    let c1: u64 = totals(&store, "c1").await.iter().map(|t| t.1).sum();
    assert_eq!(c1, 4);
    let mut by_api: HashMap<String, (u64, u64, u64, u64)> = HashMap::new();
    for (api, hits, success, errors, latency) in totals(&store, "c1").await {
        let e = by_api.entry(api).or_default();
        *e = (e.0 + hits, e.1 + success, e.2 + errors, e.3 + latency);
    }
    assert_eq!(by_api["orders"], (3, 1, 2, 45));
    assert_eq!(by_api["stock"], (1, 1, 0, 1));
    assert_eq!(totals(&store, "c2").await, [("orders".to_owned(), 1, 1, 0, 7)]);
    // Nothing left: a second flush writes nothing more.
    recorder.flush().await.unwrap();
    assert_eq!(totals(&store, "c2").await, [("orders".to_owned(), 1, 1, 0, 7)]);
}

#[test]
fn the_backlog_is_bounded_by_dropping_the_oldest_minutes() {
    let mut pending = Pending::default();
    let add = |pending: &mut Pending, minute, client| {
        let a = aggregate(minute, client, "x");
        pending.add(AggregateRef::of_aggregate(&a), 3);
    };
    add(&mut pending, 1, "a");
    add(&mut pending, 1, "b");
    add(&mut pending, 2, "a");
    add(&mut pending, 2, "a"); // existing entry: no room needed
    assert_eq!((pending.entries, pending.dropped), (3, 0));
    add(&mut pending, 3, "a");
    assert_eq!((pending.entries, pending.dropped), (2, 2));
    assert_eq!(pending.minutes.keys().copied().collect::<Vec<_>>(), [2, 3]);
    let minute_two: Vec<&MinuteAggregate> = pending.minutes[&2].values().collect();
    assert_eq!((minute_two.len(), minute_two[0].client_id.as_str(), minute_two[0].hits), (1, "a", 2));
}

#[tokio::test]
async fn endpoints_are_counted_apart_and_long_paths_cut() {
    let store = MemoryTokenStore::new();
    let recorder = AnalyticsRecorder::new(store.clone(), DEFAULT_MAX_ENTRIES);
    let long = format!("/{}", "é".repeat(200));
    let mut r = request("orders", "c1", 200, MS);
    recorder.record(&r);
    r.method = "POST";
    recorder.record(&r);
    r.policy_id = "silver";
    recorder.record(&r);
    r.path = &long;
    recorder.record(&r);
    recorder.record(&r);
    recorder.flush().await.unwrap();
    let now = unix_minute_now();
    let read = store.read("c1", now - 2, now + 1).await.unwrap();
    let mut seen: Vec<(String, String, usize, u64)> =
        read.iter().map(|a| (a.method.clone(), a.policy_id.clone(), a.path.len(), a.hits)).collect();
    seen.sort();
    let cut = read.iter().find(|a| a.path.len() > 6).unwrap();
    assert!(cut.path.len() <= MAX_PATH_BYTES && long.starts_with(&cut.path), "{}", cut.path);
    let cut_len = cut.path.len();
    assert_eq!(
        seen,
        [
            ("GET".into(), "gold".into(), 6, 1),
            ("POST".into(), "gold".into(), 6, 1),
            ("POST".into(), "silver".into(), 6, 1),
            ("POST".into(), "silver".into(), cut_len, 2),
        ]
    );
}

/// Redis goes away: the flush fails and keeps the aggregates; once a server is back on the
/// same port the next flush writes them, together with what was recorded meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_flushes_keep_the_aggregates_for_the_next_one() {
    let server = RedisServer::start();
    let port = server.port();
    let store = RedisTokenStore::connect(&server.url()).await.unwrap();
    let recorder = AnalyticsRecorder::new(store.clone(), DEFAULT_MAX_ENTRIES);
    drop(server);
    recorder.record(&request("orders", "c1", 200, 4 * MS));
    assert!(recorder.flush().await.is_err());
    assert!(recorder.pending_entries() >= 1);
    recorder.record(&request("orders", "c1", 503, 6 * MS));

    let _server = RedisServer::start_on(port);
    let mut flushed = recorder.flush().await;
    for _ in 0..20 {
        if flushed.is_ok() {
            break;
        }
        // The connection manager reconnects in the background after the first failure.
        tokio::time::sleep(Duration::from_millis(100)).await;
        flushed = recorder.flush().await;
    }
    flushed.unwrap();
    let sum = totals(&store, "c1").await.iter().fold((0, 0, 0), |s, t| (s.0 + t.1, s.1 + t.3, s.2 + t.4));
    assert_eq!(sum, (2, 1, 10));
}

#[tokio::test]
async fn the_background_task_flushes_every_second() {
    let store = MemoryTokenStore::new();
    let recorder = AnalyticsRecorder::start(store.clone());
    recorder.record(&request("orders", "c1", 200, 2 * MS));
    let deadline = tokio::time::Instant::now() + 3 * FLUSH_INTERVAL;
    while totals(&store, "c1").await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "nothing flushed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(recorder.pending_entries(), 0);
}
