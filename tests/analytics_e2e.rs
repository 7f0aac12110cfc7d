//! Usage analytics end to end: a gateway proxies a client's requests, and the control plane
//! reports them at the Dashboard's `GET /api/activity/oauthid/…`, read from the shared Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_control::analytics::Date;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(10);
const PROXIED: u64 = 7;
const POSTED: u64 = 2;

/// `d/m/y` of the day `offset` days from today (UTC).
fn day(offset: i64) -> String {
    let today = gatehouse_model::clock::unix_seconds() / 86_400;
    let d = Date::from_unix_day(today as i64 + offset);
    format!("{}/{}/{}", d.day, d.month, d.year)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxied_requests_show_up_in_the_clients_activity() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gateway = GatewayProcess::start("gw", &cp.url(), &redis.url(), dir.path());
    let http = reqwest::Client::new();

    let api = json!({"api_id": "orders", "name": "Orders", "listen_path": "/orders/",
                     "strip_listen_path": true, "upstream_url": upstream.url(),
                     "oauth": {"allowed_grant_types": ["client_credentials"]}});
    admin_ok(&http, &cp, "POST", "/api/apis", api).await;
    let rights = json!({"orders": {"api_id": "orders"}});
    admin_ok(
        &http,
        &cp,
        "POST",
        "/api/portal/policies",
        json!({"id": "open", "name": "open", "active": true, "access_rights": rights}),
    )
    .await;
    let client = admin_ok(
        &http,
        &cp,
        "POST",
        "/api/apis/oauth/orders",
        json!({"client_id": "app", "policy_id": "open"}),
    )
    .await;
    let secret = client["secret"].as_str().unwrap().to_owned();

    let token = access_token(&http, &gateway.url("/orders/oauth/token"), "app", &secret).await;
    for _ in 0..PROXIED {
        let r = http.get(gateway.url("/orders/items?page=2")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..POSTED {
        let r = http.post(gateway.url("/orders/items")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Refused before the proxy step: not a proxied request, so not counted.
    let r = http.get(gateway.url("/orders/items")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Yesterday to tomorrow: the requests land today whatever the time zone of the test host.
    let path = format!("/api/activity/oauthid/app/{}/{}", day(-1), day(1));
    let report = eventually("the activity counts every proxied request", SYNC, || async {
        let r = http.get(cp.url() + &path).header("authorization", ADMIN_SECRET).send().await.ok()?;
        let body: Value = r.json().await.ok()?;
        let hits: u64 = body["data"].as_array()?.iter().filter_map(|u| u["hits"].as_u64()).sum();
        (hits == PROXIED + POSTED).then_some(body)
    })
    .await;
    // One row per endpoint, summed over the range (no day), in path then method order.
    assert_eq!(report["pages"], 1);
    assert_eq!(report["data"].as_array().unwrap().len(), 2, "{report}");
    let unit = &report["data"][0];
    assert_eq!(
        unit["id"],
        json!({"api_id": "orders", "api_name": "Orders", "path": "/items", "code": 200, "method": "GET",
               "policy_id": "open", "day": 0, "month": 0, "year": 0, "hour": 0})
    );
    assert_eq!((unit["success"].as_u64(), unit["error"].as_u64()), (Some(PROXIED), Some(0)));
    let posted = &report["data"][1];
    assert_eq!((posted["id"]["method"].as_str(), posted["hits"].as_u64()), (Some("POST"), Some(POSTED)));
    assert!(unit["latency"].is_number() && unit["request_time"].is_number(), "{unit}");
    assert!(unit["last_hit"].as_str().unwrap().ends_with('Z'), "{unit}");

    // Per day: the same counts, each row dated.
    let r =
        http.get(cp.url() + &path + "?res=day").header("authorization", ADMIN_SECRET).send().await.unwrap();
    let by_day: Value = r.json().await.unwrap();
    let rows = by_day["data"].as_array().unwrap();
    assert_eq!(rows.iter().filter_map(|u| u["hits"].as_u64()).sum::<u64>(), PROXIED + POSTED, "{by_day}");
    assert!(rows.iter().all(|u| u["id"]["day"].as_i64() > Some(0) && u["id"]["year"].as_i64() > Some(2000)));
    let r =
        http.get(cp.url() + &path + "?res=week").header("authorization", ADMIN_SECRET).send().await.unwrap();
    assert_eq!(r.status(), 400);

    // Usage over time, summed over the clients: every request in the last hour's buckets,
    // by status class; the unknown refused API and an over-wide ask are errors.
    let usage = eventually("usage counts every proxied request", SYNC, || async {
        let r = http
            .get(cp.url() + "/api/usage?minutes=60")
            .header("authorization", ADMIN_SECRET)
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        let hits: u64 = body["buckets"].as_array()?.iter().filter_map(|b| b["hits"].as_u64()).sum();
        (hits == PROXIED + POSTED).then_some(body)
    })
    .await;
    let buckets = usage["buckets"].as_array().unwrap();
    assert!((60..=61).contains(&buckets.len()), "{usage}");
    assert_eq!((usage["bucket_minutes"].as_u64(), usage["clients"].as_u64()), (Some(1), Some(1)));
    let classes: u64 = buckets.iter().filter_map(|b| b["status_2xx"].as_u64()).sum();
    assert_eq!(classes, PROXIED + POSTED);
    assert!(buckets.iter().all(|b| b["start"].as_str().is_some_and(|s| s.ends_with(":00Z"))), "{usage}");
    let per_api: Value = http
        .get(cp.url() + "/api/usage?api_id=orders&minutes=1440&bucket_minutes=60")
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let per_api_hits: u64 =
        per_api["buckets"].as_array().unwrap().iter().filter_map(|b| b["hits"].as_u64()).sum();
    assert_eq!(per_api_hits, PROXIED + POSTED, "{per_api}");
    for (query, status) in [("api_id=nope", 404), ("minutes=50000", 400), ("bucket_minutes=-1", 400)] {
        let r = http
            .get(cp.url() + "/api/usage?" + query)
            .header("authorization", ADMIN_SECRET)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{query}");
    }

    // Another client has nothing; a date that does not exist is refused.
    let r = http
        .get(cp.url() + &format!("/api/activity/oauthid/other/{}/{}", day(-1), day(1)))
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"], json!([]), "{body}");
    let r = http
        .get(cp.url() + "/api/activity/oauthid/app/31/2/2024/1/3/2024")
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
