//! The wall clock, read in one place.
//!
//! Expiries, lockouts, rate windows and analytics buckets are all unix times, compared across
//! processes and stored in Redis, so they come from the system's wall clock (not a monotonic
//! one). A clock set before 1970 reads as 0 rather than failing: that only makes things look
//! older (expired, swept), never younger. Code that must be tested at chosen times takes `now`
//! as a parameter and calls these only at its edge.

use std::time::{SystemTime, UNIX_EPOCH};

/// Whole seconds since the Unix epoch; 0 on a clock before 1970.
pub fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// Milliseconds since the Unix epoch; 0 on a clock before 1970, `u64::MAX` past the year
/// 584 million.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_read_the_same_clock() {
        let seconds = unix_seconds();
        let millis = unix_millis();
        // 2020-01-01: any working clock is past it.
        assert!(seconds > 1_577_836_800, "{seconds}");
        assert!(millis / 1000 >= seconds && millis / 1000 - seconds <= 1, "{millis} vs {seconds}");
    }
}
