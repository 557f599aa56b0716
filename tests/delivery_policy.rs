//! The delivery retry policy, from the outside: what each attempt's result means for the row.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use wijkbrug::delivery::retry::{
    parse_retry_after, status_reason, AttemptResult, RandomJitter, RetryPolicy, Verdict,
};

fn policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(500),
        ceiling: Duration::from_secs(300),
        max_age: Duration::from_secs(86_400),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, 9, 30, 0).unwrap()
}

fn answer(code: u16) -> AttemptResult {
    AttemptResult::Status {
        code,
        retry_after: None,
    }
}

fn longest(max: Duration) -> Duration {
    max
}

fn classify(result: &AttemptResult, attempts: u32) -> Verdict {
    policy().classify(result, attempts, now(), now(), &mut longest)
}

#[derive(Debug, PartialEq)]
enum Kind {
    Delivered,
    Retry,
    Permanent,
}

fn kind(v: &Verdict) -> Kind {
    match v {
        Verdict::Delivered => Kind::Delivered,
        Verdict::Retry { .. } => Kind::Retry,
        Verdict::Permanent { .. } => Kind::Permanent,
    }
}

#[test]
fn every_kind_of_answer_is_classified_as_the_table_says() {
    let table = [
        (answer(200), Kind::Delivered),
        (answer(201), Kind::Delivered),
        (answer(202), Kind::Delivered),
        (answer(204), Kind::Delivered),
        (answer(301), Kind::Permanent),
        (answer(302), Kind::Permanent),
        (answer(304), Kind::Permanent),
        (answer(400), Kind::Permanent),
        (answer(401), Kind::Permanent),
        (answer(403), Kind::Permanent),
        (answer(404), Kind::Permanent),
        (answer(409), Kind::Permanent),
        (answer(413), Kind::Permanent),
        (answer(422), Kind::Permanent),
        (answer(429), Kind::Retry),
        (answer(500), Kind::Retry),
        (answer(502), Kind::Retry),
        (answer(503), Kind::Retry),
        (answer(504), Kind::Retry),
        (
            AttemptResult::Connect("connection refused".into()),
            Kind::Retry,
        ),
        (AttemptResult::Timeout(Duration::from_secs(5)), Kind::Retry),
        (AttemptResult::Unreadable, Kind::Permanent),
    ];
    for (result, expected) in table {
        assert_eq!(kind(&classify(&result, 1)), expected, "{result:?}");
    }
}

#[test]
fn reasons_are_short_and_name_the_status() {
    assert_eq!(status_reason(503), "HTTP 503 Service Unavailable");
    assert_eq!(status_reason(400), "HTTP 400 Bad Request");
    assert_eq!(status_reason(599), "HTTP 599");
    let Verdict::Retry { reason, .. } =
        classify(&AttemptResult::Timeout(Duration::from_secs(10)), 1)
    else {
        panic!("a timeout is retried")
    };
    assert_eq!(reason, "timed out after 10s");
    let Verdict::Permanent { reason } = classify(&AttemptResult::Unreadable, 1) else {
        panic!("an unreadable answer is permanent")
    };
    assert_eq!(reason, "unreadable response");
}

#[test]
fn the_backoff_ceiling_doubles_with_each_attempt_until_the_ceiling() {
    let caps: Vec<u128> = (1..=12)
        .map(|a| policy().backoff_cap(a).as_millis())
        .collect();
    assert_eq!(
        caps,
        [
            500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
            300_000
        ]
    );
}

#[test]
fn a_retry_is_due_now_plus_the_jittered_backoff() {
    let v = policy().classify(&answer(502), 4, now(), now(), &mut |max: Duration| max / 2);
    assert_eq!(
        v,
        Verdict::Retry {
            at: now() + chrono::Duration::seconds(2),
            reason: "HTTP 502 Bad Gateway".into()
        }
    );
    let v = policy().classify(&answer(502), 4, now(), now(), &mut |_| Duration::ZERO);
    assert!(matches!(v, Verdict::Retry { at, .. } if at == now()));
}

#[test]
fn retry_after_seconds_sets_the_next_attempt() {
    let r = AttemptResult::Status {
        code: 429,
        retry_after: Some("1".into()),
    };
    assert_eq!(
        policy().classify(&r, 1, now(), now(), &mut |_| Duration::ZERO),
        Verdict::Retry {
            at: now() + chrono::Duration::seconds(1),
            reason: "HTTP 429 Too Many Requests".into()
        }
    );
}

#[test]
fn retry_after_as_an_http_date_sets_the_next_attempt() {
    let r = AttemptResult::Status {
        code: 429,
        retry_after: Some("Mon, 02 Jun 2025 09:31:30 GMT".into()),
    };
    let Verdict::Retry { at, .. } = policy().classify(&r, 1, now(), now(), &mut longest) else {
        panic!("429 is retried")
    };
    assert_eq!(at - now(), chrono::Duration::seconds(90));
}

#[test]
fn retry_after_is_never_honoured_past_the_ceiling() {
    let r = AttemptResult::Status {
        code: 429,
        retry_after: Some("86400".into()),
    };
    let Verdict::Retry { at, .. } = policy().classify(&r, 1, now(), now(), &mut longest) else {
        panic!("429 is retried")
    };
    assert_eq!(at - now(), chrono::Duration::seconds(300));
    assert_eq!(
        parse_retry_after("Mon, 02 Jun 2025 09:00:00 GMT", now()),
        Some(Duration::ZERO)
    );
}

#[test]
fn an_unusable_retry_after_falls_back_to_the_backoff() {
    let r = AttemptResult::Status {
        code: 429,
        retry_after: Some("in a while".into()),
    };
    let Verdict::Retry { at, .. } = policy().classify(&r, 2, now(), now(), &mut longest) else {
        panic!("429 is retried")
    };
    assert_eq!(at - now(), chrono::Duration::seconds(1));
}

#[test]
fn a_retry_that_would_fall_after_the_maximum_age_is_a_dead_letter() {
    let queued = now() - chrono::Duration::hours(24) + chrono::Duration::seconds(10);
    let v = policy().classify(&answer(503), 6, queued, now(), &mut longest);
    let Verdict::Permanent { reason } = v else {
        panic!("too old: {v:?}")
    };
    assert!(reason.starts_with("too old"), "{reason}");
    assert!(reason.contains("HTTP 503"), "{reason}");
    // The same failure earlier in the row's life is retried.
    let v = policy().classify(&answer(503), 6, now(), now(), &mut longest);
    assert!(matches!(v, Verdict::Retry { .. }));
}

#[test]
fn a_success_is_delivered_even_when_the_row_is_old() {
    let queued = now() - chrono::Duration::days(3);
    assert_eq!(
        policy().classify(&answer(200), 40, queued, now(), &mut longest),
        Verdict::Delivered
    );
}

proptest! {
    #[test]
    fn full_jitter_stays_between_zero_and_the_capped_exponential(
        attempts in 1u32..64,
        base_ms in 1u64..5_000,
        ceiling_s in 1u64..1_000,
    ) {
        let p = RetryPolicy {
            base: Duration::from_millis(base_ms),
            ceiling: Duration::from_secs(ceiling_s),
            max_age: Duration::from_secs(1_000_000),
        };
        let bound = (u128::from(base_ms) << (attempts - 1)).min(u128::from(ceiling_s) * 1_000);
        for _ in 0..8 {
            let d = p.backoff(attempts, &mut RandomJitter);
            prop_assert!(d.as_millis() <= bound);
        }
        let Verdict::Retry { at, .. } = p.classify(&answer(500), attempts, now(), now(), &mut RandomJitter) else {
            panic!("a 500 is retried while young")
        };
        prop_assert!(at >= now());
        prop_assert!((at - now()).num_milliseconds() as u128 <= bound);
    }
}
