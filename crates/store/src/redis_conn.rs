//! Connection settings shared by the Redis stores ([`crate::RedisTokenStore`],
//! [`crate::RedisStateStore`]).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::StoreError;

/// Each connection attempt and each command give up after this long: a gateway answers 503
/// quickly rather than piling up requests behind a Redis that stopped answering.
pub(crate) const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Retries within one (re)connection. Few, because the manager tries again on the next command
/// anyway, and each retry against an unresponsive host costs a full connection timeout.
const CONNECT_RETRIES: usize = 1;
const RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
const RETRY_MAX_DELAY: Duration = Duration::from_millis(500);

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

pub(crate) fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
