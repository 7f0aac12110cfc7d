//! Announcing deleted sessions on `gh:evict`, and following that channel (see
//! [`crate::eviction`] for the protocol).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use gatehouse_model::storage::{StoreError, TokenKey};
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval, sleep, timeout};

use super::{RedisTokenStore, unavailable};
use crate::common::{hex, parse_token_key};
use crate::eviction::{EVICTION_CHANNEL, EvictionEvent, RESUBSCRIBE_MAX_DELAY, RESUBSCRIBE_MIN_DELAY};
use crate::redis_conn::{CONNECTION_TIMEOUT, RESPONSE_TIMEOUT, RedisConn};

/// How often an idle subscription is pinged. A server that vanished without closing the socket
/// (a partition, a frozen host) sends nothing, which would look just like a quiet channel; the
/// ping turns it into a `Lost` within this plus [`RESPONSE_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(1);

impl RedisTokenStore {
    /// Deletes `redis_keys` with single-key DELs, then announces `evicted` (the sessions among
    /// them). Returns how many keys were there. On one server it is one pipeline, one round
    /// trip; on a cluster the DELs go to their nodes first and the announcements follow, so a
    /// gateway that reacts by reading Redis never finds the old session.
    /// This process's own caches are told before it returns (see
    /// [`crate::AnyTokenStore::on_local_eviction`]), whatever Redis answered: dropping a
    /// local copy is always safe.
    pub(super) async fn delete_and_evict(
        &self,
        redis_keys: Vec<String>,
        evicted: &[TokenKey],
    ) -> Result<u64, StoreError> {
        let deleted = self.delete_and_announce(redis_keys, evicted).await;
        self.local_evictions.run(evicted);
        deleted
    }

    async fn delete_and_announce(
        &self,
        redis_keys: Vec<String>,
        evicted: &[TokenKey],
    ) -> Result<u64, StoreError> {
        match &self.conn {
            RedisConn::Single(conn) => {
                let mut pipe = redis::pipe();
                for key in &redis_keys {
                    pipe.cmd("DEL").arg(key);
                }
                for key in evicted {
                    pipe.cmd("PUBLISH").arg(EVICTION_CHANNEL).arg(hex(key)).ignore();
                }
                let removed: Vec<u64> = pipe.query_async(&mut conn.clone()).await.map_err(unavailable)?;
                Ok(removed.iter().sum())
            }
            RedisConn::Cluster(conn) => {
                let mut removed = 0;
                if redis_keys.len() == 1 {
                    // The common case (one session) without a task per key.
                    removed = redis::cmd("DEL")
                        .arg(&redis_keys)
                        .query_async::<u64>(&mut conn.clone())
                        .await
                        .map_err(unavailable)?;
                } else {
                    self.conn.del_each(redis_keys).await?;
                }
                let mut publishes = JoinSet::new();
                for key in evicted {
                    let (mut conn, payload) = (conn.clone(), hex(key));
                    publishes.spawn(async move {
                        redis::cmd("PUBLISH")
                            .arg(EVICTION_CHANNEL)
                            .arg(payload)
                            .query_async::<()>(&mut conn)
                            .await
                    });
                }
                while let Some(done) = publishes.join_next().await {
                    done.map_err(|e| StoreError::Unavailable(format!("an eviction did not go out: {e}")))?
                        .map_err(unavailable)?;
                }
                Ok(removed)
            }
        }
    }

    /// Follows `gh:evict` until `tx` closes, reconnecting with backoff; cluster seeds are tried
    /// in turn (a PUBLISH on any node reaches subscribers on all of them).
    pub(crate) fn follow_evictions(
        &self,
        tx: mpsc::Sender<EvictionEvent>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let urls = Arc::clone(&self.subscribe_urls);
        async move {
            let mut delay = RESUBSCRIBE_MIN_DELAY;
            let mut attempt = 0usize;
            loop {
                let url = &urls[attempt % urls.len().max(1)];
                match subscribe(url).await {
                    Ok((sink, stream)) => {
                        delay = RESUBSCRIBE_MIN_DELAY;
                        // Subscribed before Reset goes out: anything deleted after the consumer
                        // clears its cache is announced on this connection.
                        if tx.send(EvictionEvent::Reset).await.is_err() {
                            return;
                        }
                        let why = pump(sink, stream, &tx).await;
                        tracing::warn!(%why, "eviction subscription lost; resubscribing");
                        if tx.send(EvictionEvent::Lost).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, ?delay, "cannot subscribe to evictions; retrying");
                        attempt = attempt.wrapping_add(1);
                    }
                }
                if tx.is_closed() {
                    return;
                }
                sleep(delay).await;
                delay = (delay * 2).min(RESUBSCRIBE_MAX_DELAY);
            }
        }
    }
}

/// A fresh pub/sub connection subscribed to the channel, within the store's timeouts.
async fn subscribe(url: &str) -> Result<(PubSubSink, PubSubStream), StoreError> {
    let client = redis::Client::open(url).map_err(unavailable)?;
    let pubsub = timeout(CONNECTION_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| StoreError::Unavailable("connecting for evictions timed out".into()))?
        .map_err(unavailable)?;
    let (mut sink, stream) = pubsub.split();
    timeout(RESPONSE_TIMEOUT, sink.subscribe(EVICTION_CHANNEL))
        .await
        .map_err(|_| StoreError::Unavailable("subscribing to evictions timed out".into()))?
        .map_err(unavailable)?;
    Ok((sink, stream))
}

/// Forwards messages until the connection is lost (returns why) or `tx` closes.
async fn pump(mut sink: PubSubSink, mut stream: PubSubStream, tx: &mpsc::Sender<EvictionEvent>) -> String {
    let mut ping = interval(PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else {
                    return "connection closed".into();
                };
                let event = std::str::from_utf8(msg.get_payload_bytes())
                    .ok()
                    .and_then(parse_token_key)
                    .map_or_else(
                        || {
                            // Not ours, or damaged: which session it meant is unknown, so
                            // nothing cached can be vouched for.
                            tracing::warn!("unreadable eviction message; resetting");
                            EvictionEvent::Reset
                        },
                        EvictionEvent::Evict,
                    );
                if tx.send(event).await.is_err() {
                    return "subscriber gone".into();
                }
            }
            _ = ping.tick() => {
                match timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return format!("ping failed: {e}"),
                    Err(_) => return "ping timed out".into(),
                }
            }
            () = tx.closed() => return "subscriber gone".into(),
        }
    }
}
