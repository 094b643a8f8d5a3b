//! The schedule of the retrying connect (behaviour.md, "All fail"): how long to wait before each
//! retry and whether to retry at all, as pure functions of the configuration, a uniform draw and
//! the time passed in.

use std::time::{Duration, SystemTime};

use crate::config::{RetryPolicy, RetryProfile};

/// The longest wait of the handshake profile: one day, the limit of every duration key.
pub const LONGEST_WAIT: Duration = Duration::from_secs(86_400);

/// The spread of the handshake profile's waits: ± this fraction of the interval.
pub const HANDSHAKE_SPREAD: f64 = 0.1;

impl RetryPolicy {
    /// Wait number `n` (0 = before the first retry) for a uniform draw `unit` in [0, 1):
    /// backoff `unit × min(cap, base × factor^n)`; handshake
    /// `min(timer × 2^min(n, max_retries − 1), 1 day) × (0.9 + 0.2 × unit)`.
    pub fn wait(&self, n: u32, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        match self.profile {
            RetryProfile::Backoff => {
                let ceiling =
                    (self.base.as_secs_f64() * self.factor.powi(n.min(1000) as i32)).min(self.cap.as_secs_f64());
                Duration::from_secs_f64(ceiling * unit)
            }
            RetryProfile::Handshake => {
                // Past the last counted retry (permanent retries), every wait is the last one's.
                let doublings = n.min(self.max_retries.saturating_sub(1)).min(63);
                let interval = (self.timer.as_secs_f64() * 2f64.powi(doublings as i32)).min(LONGEST_WAIT.as_secs_f64());
                Duration::from_secs_f64(interval * (1.0 - HANDSHAKE_SPREAD + 2.0 * HANDSHAKE_SPREAD * unit))
            }
        }
    }

    /// Whether to try again after `tries` failed tries (counting the first), at `now`, for a
    /// device whose tries have been failing since `failing_since` (the state file's, if any).
    pub fn retries_again(&self, tries: u32, failing_since: Option<SystemTime>, now: SystemTime) -> bool {
        match self.profile {
            RetryProfile::Backoff => self.max_tries == 0 || tries < self.max_tries,
            RetryProfile::Handshake => {
                self.max_retries != 0 && (tries <= self.max_retries || self.permanent(failing_since, now))
            }
        }
    }

    /// Whether a device failing since `failing_since` retries without limit at `now`: at least
    /// `permanent_after_days` × 24 h have passed (never with 0, nor with a time after `now`).
    pub fn permanent(&self, failing_since: Option<SystemTime>, now: SystemTime) -> bool {
        let days = Duration::from_secs(u64::from(self.permanent_after_days) * 86_400);
        self.permanent_after_days != 0
            && failing_since
                .and_then(|since| now.duration_since(since).ok())
                .is_some_and(|failing| failing >= days)
    }

    /// Whether a failed try is recorded in the state file (`failing_since`): only the handshake
    /// profile with permanent retries needs it.
    pub fn records_failures(&self) -> bool {
        self.profile == RetryProfile::Handshake && self.permanent_after_days != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(timer_s: u64, max_retries: u32, days: u32) -> RetryPolicy {
        RetryPolicy {
            profile: RetryProfile::Handshake,
            timer: Duration::from_secs(timer_s),
            max_retries,
            permanent_after_days: days,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn eight_retries_from_five_seconds_put_the_eighth_at_about_21_minutes() {
        let r = handshake(5, 8, 0);
        let start: f64 = (0..8).map(|n| r.wait(n, 0.5).as_secs_f64()).sum();
        assert_eq!(start, 1275.0);
        let (low, high): (f64, f64) = (
            (0..8).map(|n| r.wait(n, 0.0).as_secs_f64()).sum(),
            (0..8).map(|n| r.wait(n, 1.0).as_secs_f64()).sum(),
        );
        assert!(
            (low - 1147.5).abs() < 1e-6 && (high - 1402.5).abs() < 1e-6,
            "{low} {high}"
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(r.retries_again(8, None, now));
        assert!(!r.retries_again(9, None, now));
    }

    #[test]
    fn permanent_retries_wait_the_last_interval_and_need_the_days() {
        let r = handshake(5, 3, 2);
        assert_eq!(r.wait(2, 0.5), Duration::from_secs(20));
        assert_eq!(r.wait(100, 0.5), Duration::from_secs(20));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        let ago = |s: u64| Some(now - Duration::from_secs(s));
        assert!(!r.retries_again(4, ago(2 * 86_400 - 1), now));
        assert!(r.retries_again(4, ago(2 * 86_400), now));
        assert!(!r.retries_again(4, Some(now + Duration::from_secs(1)), now));
        assert!(!handshake(5, 0, 2).retries_again(1, ago(100 * 86_400), now));
        assert_eq!(handshake(86_400, 30, 0).wait(29, 1.0), LONGEST_WAIT.mul_f64(1.1));
    }
}
