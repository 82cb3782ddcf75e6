//! What to do after each attempt: a pure function of what the request does, what happened,
//! the attempt number and the time left, table-tested without sockets.
//!
//! Capsule has no idempotency keys, so a write (a create, an update, a delete — whatever its
//! HTTP method) that may have reached Capsule is never sent again: a repeated create duplicates
//! the record, a repeated update adds its nested rows twice, a repeated delete answers 404 for
//! a delete that worked. A write goes again only when it provably never reached Capsule: the
//! connection never opened, or Capsule refused it with a 429 before acting. A read is a read
//! whatever its method (`POST …/filters/results` is one): it is retried on 5xx, time-outs and
//! broken connections, honouring `Retry-After`, inside the call's time budget.

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
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// What a request does at Capsule. The retry policy and the messages depend on this, never on
/// the HTTP method: Capsule serves some reads by POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Changes nothing; safe to repeat.
    Read,
    /// Makes a record; repeating it may make a duplicate.
    Create,
    /// Changes a record; repeating it may apply nested additions twice.
    Update,
    /// Removes a record; repeating a delete that worked answers 404.
    Delete,
}

impl Op {
    /// What a request of this HTTP method does unless said otherwise: only GET is a read.
    pub fn of(method: Method) -> Op {
        match method {
            Method::Get => Op::Read,
            Method::Post => Op::Create,
            Method::Put => Op::Update,
            Method::Delete => Op::Delete,
        }
    }

    pub fn is_read(self) -> bool {
        self == Op::Read
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Capsule answered with this status.
    Status {
        status: u16,
        /// `Retry-After` in seconds, when sent (a 5xx may carry one; Capsule's 429 never does).
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
    /// 429 whose reset falls outside the time budget (or a request that may be sent only
    /// once): give up, come back after this long.
    RateLimited(Duration),
    /// A read's server error asked (`Retry-After`) for a longer pause than the budget has left:
    /// give up, come back after this long.
    RetryLater(Duration),
    /// A write failed in a way that may have reached Capsule: do not repeat it.
    OutcomeUnknown,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub op: Op,
    /// The request may go on the wire once only, a 429 included (the raw proxy's writes).
    pub once: bool,
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
            // Refused before acting, so any request may go again, unless it may go only once.
            let wait = reset_in.unwrap_or(Duration::from_secs(60));
            if !a.once && a.rate_limit_waits < MAX_RATE_LIMIT_WAITS && wait <= a.time_left {
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
            if !a.op.is_read() {
                return Decision::OutcomeUnknown;
            }
            retry_transient(a, retry_after)
        }
        Outcome::Status { .. } => Decision::Done,
        // Nothing reached Capsule: safe for every request.
        Outcome::NotSent => retry_transient(a, None),
        Outcome::Broken | Outcome::TimedOut => {
            if a.op.is_read() {
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
    match retry_after {
        Some(pause) if pause >= a.time_left => Decision::RetryLater(pause),
        Some(pause) => Decision::Retry(pause),
        None => {
            let pause = backoff(a.number, a.jitter);
            if pause >= a.time_left {
                Decision::Done
            } else {
                Decision::Retry(pause)
            }
        }
    }
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

    fn at(op: Op, outcome: Outcome, number: u32) -> Attempt {
        Attempt {
            op,
            once: false,
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
        use Op::*;
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
        let retry_after_30 = Outcome::Status {
            status: 503,
            retry_after: Some(S(30)),
            reset_in: None,
        };
        let once = |mut a: Attempt| {
            a.once = true;
            a
        };
        let cases: Vec<(Attempt, Decision)> = vec![
            (at(Read, status(200), 1), Done),
            (at(Create, status(201), 1), Done),
            (at(Read, status(404), 1), Done),
            (at(Update, status(422), 1), Done),
            (at(Delete, status(404), 1), Done),
            // 5xx on a read: retried twice more, then the error is handed over.
            (at(Read, status(503), 1), Retry(backoff(1, 0.0))),
            (at(Read, status(500), 2), Retry(backoff(2, 0.0))),
            (at(Read, status(502), 3), Done),
            (at(Read, status(504), 1), Retry(backoff(1, 0.0))),
            // Retry-After is honoured when it fits, else handed back.
            (at(Read, with_retry_after, 1), Retry(S(2))),
            (at(Read, retry_after_30, 1), RetryLater(S(30))),
            (at(Read, retry_after_30, 3), Done),
            // A write that may have reached Capsule is never repeated, whatever its method.
            (at(Create, status(500), 1), OutcomeUnknown),
            (at(Create, status(503), 1), OutcomeUnknown),
            (at(Update, status(502), 1), OutcomeUnknown),
            (at(Update, status(504), 1), OutcomeUnknown),
            (at(Delete, status(500), 1), OutcomeUnknown),
            (at(Delete, with_retry_after, 1), OutcomeUnknown),
            (at(Create, Outcome::TimedOut, 1), OutcomeUnknown),
            (at(Update, Outcome::TimedOut, 1), OutcomeUnknown),
            (at(Delete, Outcome::TimedOut, 1), OutcomeUnknown),
            (at(Create, Outcome::Broken, 1), OutcomeUnknown),
            (at(Update, Outcome::Broken, 1), OutcomeUnknown),
            (at(Delete, Outcome::Broken, 1), OutcomeUnknown),
            // Reads survive time-outs and broken connections.
            (at(Read, Outcome::TimedOut, 1), Retry(backoff(1, 0.0))),
            (at(Read, Outcome::Broken, 2), Retry(backoff(2, 0.0))),
            // Nothing was sent: safe for every request.
            (at(Create, Outcome::NotSent, 1), Retry(backoff(1, 0.0))),
            (at(Delete, Outcome::NotSent, 1), Retry(backoff(1, 0.0))),
            (
                once(at(Update, Outcome::NotSent, 1)),
                Retry(backoff(1, 0.0)),
            ),
            (at(Create, Outcome::NotSent, 3), Done),
            // 429: refused before acting; wait for the reset when it fits, for any request...
            (at(Read, reset_in_5, 1), WaitForReset(S(5))),
            (at(Create, reset_in_5, 1), WaitForReset(S(5))),
            (at(Delete, reset_in_5, 1), WaitForReset(S(5))),
            (at(Read, reset_in_90, 1), RateLimited(S(90))),
            (at(Read, status(429), 1), RateLimited(S(60))),
            // ...unless it may go on the wire only once.
            (once(at(Update, reset_in_5, 1)), RateLimited(S(5))),
            (once(at(Read, status(503), 1)), Retry(backoff(1, 0.0))),
        ];
        for (attempt, want) in cases {
            assert_eq!(decide(&attempt), want, "{attempt:?}");
        }
    }

    #[test]
    fn rate_limit_waits_are_bounded() {
        let mut a = at(
            Op::Read,
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
        let mut a = at(Op::Read, status(503), 1);
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
