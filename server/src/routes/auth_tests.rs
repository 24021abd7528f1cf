//! Unit tests of the auth routes' helpers and request types.

use time::OffsetDateTime;

use super::*;

#[test]
fn an_expiry_past_the_calendar_is_an_error_not_a_panic() {
    let now = OffsetDateTime::now_utc();
    assert_eq!(expiry_after(now, 60).unwrap(), now + Duration::seconds(60));
    for ttl in [u64::MAX, i64::MAX as u64, 1 << 40] {
        assert!(
            matches!(expiry_after(now, ttl), Err(AppError::Internal(_))),
            "{ttl}"
        );
    }
}
