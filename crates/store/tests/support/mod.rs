//! Shared test fixtures live in `gatehouse-testkit`.

pub use gatehouse_testkit::RedisServer;
#[allow(unused_imports)]
pub use gatehouse_testkit::free_port;
