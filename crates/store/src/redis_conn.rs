//! Connection settings shared by the Redis stores ([`crate::RedisTokenStore`],
//! [`crate::RedisStateStore`]), and the connection the token store uses on one server or on a
//! Redis Cluster.

use std::time::Duration;

use gatehouse_model::storage::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::task::JoinSet;

/// Each connection attempt and each command give up after this long: a gateway answers 503
/// quickly rather than piling up requests behind a Redis that stopped answering.
pub(crate) const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Retries within one (re)connection. Few, because the manager tries again on the next command
/// anyway, and each retry against an unresponsive host costs a full connection timeout.
const CONNECT_RETRIES: usize = 1;
const RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
const RETRY_MAX_DELAY: Duration = Duration::from_millis(500);

/// The scheme of a Redis Cluster URL: `redis+cluster://[user:password@]host:port,host:port,…`.
pub(crate) const CLUSTER_SCHEME: &str = "redis+cluster://";

/// Opens `url` (`redis://[user:password@]host:port[/db]`) and connects a [`ConnectionManager`]
/// with the timeouts above. Fails with [`StoreError::Unavailable`] within a few seconds if the
/// server cannot be reached. The client is returned too, for callers that need connections of
/// their own.
pub(crate) async fn connect(url: &str) -> Result<(redis::Client, ConnectionManager), StoreError> {
    let client = redis::Client::open(url).map_err(unavailable)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(CONNECT_RETRIES)
        .set_min_delay(RETRY_MIN_DELAY)
        .set_max_delay(RETRY_MAX_DELAY);
    let conn = ConnectionManager::new_with_config(client.clone(), config).await.map_err(unavailable)?;
    Ok((client, conn))
}

/// Whether `url` names a Redis Cluster rather than one server.
pub(crate) fn is_cluster_url(url: &str) -> bool {
    url.get(..CLUSTER_SCHEME.len()).is_some_and(|scheme| scheme.eq_ignore_ascii_case(CLUSTER_SCHEME))
}

/// The node URLs (`redis://[user:password@]host:port`) a cluster URL lists. The credentials, if
/// any, apply to every node. A cluster has only database 0, so no path is accepted.
pub(crate) fn cluster_nodes(url: &str) -> Result<Vec<String>, StoreError> {
    let invalid = |why: &str| StoreError::Unavailable(format!("invalid Redis Cluster URL: {why}"));
    let rest = url
        .get(CLUSTER_SCHEME.len()..)
        .filter(|_| is_cluster_url(url))
        .ok_or_else(|| invalid("expected redis+cluster://[user:password@]host:port,host:port,…"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, rest),
    };
    if hosts.contains(['/', '?', '#']) {
        return Err(invalid("a cluster has no database to select and takes no options"));
    }
    let nodes = hosts
        .split(',')
        .map(|host| {
            if host.is_empty() || host.contains('@') {
                return Err(invalid("every node must be given as host:port"));
            }
            Ok(match userinfo {
                Some(userinfo) => format!("redis://{userinfo}@{host}"),
                None => format!("redis://{host}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(nodes)
}

/// The token store's connection: one server through a [`ConnectionManager`], or a cluster
/// through a [`ClusterConnection`] that routes each command to the node owning its key's slot
/// (and follows the cluster when slots move). Both reconnect by themselves; clones share the
/// underlying connections.
#[derive(Clone)]
pub(crate) enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Connects to `url`: `redis://…` for one server, `redis+cluster://…` for a cluster, with
    /// the same timeouts either way.
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        if !is_cluster_url(url) {
            return Ok(Self::Single(connect(url).await?.1));
        }
        let client = ClusterClientBuilder::new(cluster_nodes(url)?)
            .connection_timeout(CONNECTION_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(u32::try_from(CONNECT_RETRIES).unwrap_or(1))
            .min_retry_wait(u64::try_from(RETRY_MIN_DELAY.as_millis()).unwrap_or(100))
            .max_retry_wait(u64::try_from(RETRY_MAX_DELAY.as_millis()).unwrap_or(500))
            .build()
            .map_err(unavailable)?;
        let conn = client.get_async_connection().await.map_err(unavailable)?;
        Ok(Self::Cluster(conn))
    }

    /// Deletes each of `keys` with a single-key DEL, so it works whatever slots they are in.
    /// On one server: one pipeline, in order. On a cluster a pipeline must stay within one
    /// slot, so the DELs go out concurrently, each to its own node, in no particular order.
    pub(crate) async fn del_each(&self, keys: Vec<String>) -> Result<(), StoreError> {
        match self {
            RedisConn::Single(conn) => {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("DEL").arg(key).ignore();
                }
                pipe.query_async::<()>(&mut conn.clone()).await.map_err(unavailable)
            }
            RedisConn::Cluster(conn) => {
                let mut dels = JoinSet::new();
                for key in keys {
                    let mut conn = conn.clone();
                    dels.spawn(async move { redis::cmd("DEL").arg(key).query_async::<()>(&mut conn).await });
                }
                while let Some(done) = dels.join_next().await {
                    done.map_err(|e| StoreError::Unavailable(format!("a deletion did not finish: {e}")))?
                        .map_err(unavailable)?;
                }
                Ok(())
            }
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_command(cmd),
            RedisConn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(conn) => conn.get_db(),
            RedisConn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// One PING over `conn`: whether the server answers at all, for readiness probes. Bounded by the
/// connection's response timeout like any other command.
pub(crate) async fn ping(conn: &mut impl ConnectionLike) -> Result<(), StoreError> {
    redis::cmd("PING").query_async::<()>(conn).await.map_err(unavailable)
}

pub(crate) fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_told_apart() {
        assert!(is_cluster_url("redis+cluster://a:1,b:2"));
        assert!(is_cluster_url("REDIS+CLUSTER://a:1"));
        assert!(!is_cluster_url("redis://a:1"));
        assert!(!is_cluster_url("rediss://a:1"));
        assert!(!is_cluster_url(""));
    }

    #[test]
    fn cluster_urls_list_their_nodes() {
        let nodes = cluster_nodes("redis+cluster://10.0.0.1:7000,10.0.0.2:7001/").unwrap();
        assert_eq!(nodes, ["redis://10.0.0.1:7000", "redis://10.0.0.2:7001"]);
        let nodes = cluster_nodes("redis+cluster://user:secret@h1:1,h2:2").unwrap();
        assert_eq!(nodes, ["redis://user:secret@h1:1", "redis://user:secret@h2:2"]);
    }

    #[test]
    fn bad_cluster_urls_are_rejected() {
        for bad in [
            "redis://h:1",
            "redis+cluster://",
            "redis+cluster://h1:1,,h2:2",
            "redis+cluster://h1:1/0",
            "redis+cluster://h1:1?timeout=1",
        ] {
            assert!(matches!(cluster_nodes(bad), Err(StoreError::Unavailable(_))), "{bad}");
        }
    }
}
