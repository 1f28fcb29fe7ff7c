//! Retries with exponential backoff and jitter for transient registry failures.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often and how patiently transient failures (connection errors, 408, 429, 500,
/// 502, 503, 504) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub attempts: u32,
    /// The first delay; it doubles each time, with up to 50 % jitter.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, base_delay: Duration::from_millis(250), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (attempt counts from 1). `floor` is a lower
    /// bound (a 429 waits at least a second: the registry asked us to slow down).
    pub fn delay(&self, attempt: u32, floor: Duration) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        // Jitter from the clock: good enough to spread clients apart, no RNG needed.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let jitter = capped.mul_f64(f64::from(nanos % 500) / 1000.0);
        (capped + jitter).max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy { attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        let d1 = p.delay(1, Duration::ZERO);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(150), "{d1:?}");
        assert!(p.delay(3, Duration::ZERO) >= Duration::from_millis(400));
        assert!(p.delay(20, Duration::ZERO) <= Duration::from_millis(1500));
        assert_eq!(p.delay(1, Duration::from_secs(2)), Duration::from_secs(2));
    }
}
