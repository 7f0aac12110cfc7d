//! Shared test fixtures live in `gatehouse-testkit`; those only the grant tests use, in `grants`.

pub use gatehouse_testkit::RedisServer;
#[allow(unused_imports)]
pub use gatehouse_testkit::free_port;
// Each test binary compiles this module; only the grant tests use `grants`.
#[allow(dead_code)]
pub mod grants;
