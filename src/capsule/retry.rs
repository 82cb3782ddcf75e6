//! What to do after each attempt: a pure function of the method, what happened, the attempt
//! number and the time left, table-tested without sockets.
//!
//! Capsule has no idempotency keys, so a POST that may have reached it is never sent again: a
//! retried create could duplicate a record. A 429 means the request was refused, so any method
//! may wait for `X-RateLimit-Reset` and go again, inside the call's time budget.

use std::time::Duration;

/// Attempts at most per call for transient failures (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;
/// 429 answers waited out at most per call (the window reset should clear it at once).
pub const MAX_RATE_LIMIT_WAITS: u32 = 2;
const BASE_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    /// GET, PUT and DELETE may be repeated without changing the outcome.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post)
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Capsule answered with this status.
    Status {
        status: u16,
        /// `Retry-After` in seconds, when sent (Capsule's 5xx may carry one; its 429 never does).
        retry_after: Option<Duration>,
        /// Time left until `X-RateLimit-Reset`, when the header was sent.
        reset_in: Option<Duration>,
    },
    /// The connection could not be made: nothing reached Capsule.
    NotSent,
    /// The connection failed after the request may have been sent.
    Broken,
    /// The attempt timed out; the request may have reached Capsule.
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Hand the answer (or the failure) to the caller as it is.
    Done,
    /// Send the same request again after this pause.
    Retry(Duration),
    /// 429: wait this long for the window to reset, then send again.
    WaitForReset(Duration),
    /// 429 whose reset falls outside the time budget: give up, come back after this long.
    RateLimited(Duration),
    /// A write failed in a way that may have reached Capsule: do not repeat it.
    OutcomeUnknown,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub method: Method,
    pub outcome: Outcome,
    /// 1 for the first attempt.
    pub number: u32,
    /// How many 429s this call already waited out.
    pub rate_limit_waits: u32,
    /// Time left in the call's budget.
    pub time_left: Duration,
    /// A number in [0, 1) for jitter; pass `fastrand::f64()` outside tests.
    pub jitter: f64,
}

/// Jittered exponential backoff for retry `number` (1-based): up to base·2^(n-1), at least half.
pub fn backoff(number: u32, jitter: f64) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << number.saturating_sub(1).min(10));
    let full = exp.min(MAX_BACKOFF);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

pub fn decide(a: &Attempt) -> Decision {
    match a.outcome {
        Outcome::Status {
            status: 429,
            reset_in,
            ..
        } => {
            // No Retry-After on Capsule's 429: X-RateLimit-Reset says when. Without it, a minute.
            let wait = reset_in.unwrap_or(Duration::from_secs(60));
            if a.rate_limit_waits < MAX_RATE_LIMIT_WAITS && wait <= a.time_left {
                Decision::WaitForReset(wait)
            } else {
                Decision::RateLimited(wait)
            }
        }
        Outcome::Status {
            status: 500 | 502 | 503 | 504,
            retry_after,
            ..
        } => {
            if !a.method.is_idempotent() {
                return Decision::OutcomeUnknown;
            }
            retry_transient(a, retry_after)
        }
        Outcome::Status { .. } => Decision::Done,
        Outcome::NotSent => retry_transient(a, None),
        Outcome::Broken | Outcome::TimedOut => {
            if a.method.is_idempotent() {
                retry_transient(a, None)
            } else {
                Decision::OutcomeUnknown
            }
        }
    }
}

fn retry_transient(a: &Attempt, retry_after: Option<Duration>) -> Decision {
    if a.number >= MAX_ATTEMPTS {
        return Decision::Done;
    }
    let pause = retry_after.unwrap_or_else(|| backoff(a.number, a.jitter));
    if pause >= a.time_left {
        return Decision::Done;
    }
    Decision::Retry(pause)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn status(status: u16) -> Outcome {
        Outcome::Status {
            status,
            retry_after: None,
            reset_in: None,
        }
    }

    fn at(method: Method, outcome: Outcome, number: u32) -> Attempt {
        Attempt {
            method,
            outcome,
            number,
            rate_limit_waits: 0,
            time_left: S(30),
            jitter: 0.0,
        }
    }

    #[test]
    fn decision_table() {
        use Decision::*;
        use Method::*;
        let reset_in_5 = Outcome::Status {
            status: 429,
            retry_after: None,
            reset_in: Some(S(5)),
        };
        let reset_in_90 = Outcome::Status {
            status: 429,
            retry_after: None,
            reset_in: Some(S(90)),
        };
        let with_retry_after = Outcome::Status {
            status: 503,
            retry_after: Some(S(2)),
            reset_in: None,
        };
        let cases: Vec<(Attempt, Decision)> = vec![
            (at(Get, status(200), 1), Done),
            (at(Post, status(201), 1), Done),
            (at(Get, status(404), 1), Done),
            (at(Put, status(422), 1), Done),
            // 5xx: idempotent methods retry twice more, then hand the error over.
            (at(Get, status(503), 1), Retry(backoff(1, 0.0))),
            (at(Get, status(500), 2), Retry(backoff(2, 0.0))),
            (at(Get, status(502), 3), Done),
            (at(Put, status(504), 1), Retry(backoff(1, 0.0))),
            (at(Delete, status(500), 1), Retry(backoff(1, 0.0))),
            (at(Get, with_retry_after, 1), Retry(S(2))),
            // POST may have reached Capsule: never repeated.
            (at(Post, status(500), 1), OutcomeUnknown),
            (at(Post, status(503), 1), OutcomeUnknown),
            (at(Post, Outcome::TimedOut, 1), OutcomeUnknown),
            (at(Post, Outcome::Broken, 1), OutcomeUnknown),
            // Nothing was sent: safe for every method.
            (at(Post, Outcome::NotSent, 1), Retry(backoff(1, 0.0))),
            (at(Post, Outcome::NotSent, 3), Done),
            (at(Get, Outcome::TimedOut, 1), Retry(backoff(1, 0.0))),
            // 429: wait for the reset when it fits the budget, for any method.
            (at(Get, reset_in_5, 1), WaitForReset(S(5))),
            (at(Post, reset_in_5, 1), WaitForReset(S(5))),
            (at(Get, reset_in_90, 1), RateLimited(S(90))),
            (at(Get, status(429), 1), RateLimited(S(60))),
        ];
        for (attempt, want) in cases {
            assert_eq!(decide(&attempt), want, "{attempt:?}");
        }
    }

    #[test]
    fn rate_limit_waits_are_bounded() {
        let mut a = at(
            Method::Get,
            Outcome::Status {
                status: 429,
                retry_after: None,
                reset_in: Some(S(1)),
            },
            1,
        );
        a.rate_limit_waits = MAX_RATE_LIMIT_WAITS;
        assert_eq!(decide(&a), Decision::RateLimited(S(1)));
    }

    #[test]
    fn a_retry_that_does_not_fit_the_budget_is_not_made() {
        let mut a = at(Method::Get, status(503), 1);
        a.time_left = Duration::from_millis(10);
        assert_eq!(decide(&a), Decision::Done);
    }

    #[test]
    fn backoff_grows_with_jitter_in_range() {
        for n in 1..6 {
            let lo = backoff(n, 0.0);
            let hi = backoff(n, 0.999);
            assert!(lo <= hi && hi <= MAX_BACKOFF);
            assert!(hi <= lo * 2);
        }
        assert!(backoff(2, 0.0) > backoff(1, 0.0));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
    }
}
