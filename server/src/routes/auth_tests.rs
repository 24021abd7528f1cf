//! Unit tests of the auth routes' helpers and request types.

use time::OffsetDateTime;

use super::*;
use crate::routes::enrollment::EnrollRequest;
use crate::routes::password::PasswordChange;

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

#[test]
fn debug_output_of_requests_and_tokens_hides_the_secrets() {
    let secret = "hunter2-secret-value";
    let shown = [
        format!(
            "{:?}",
            LoginRequest {
                username: "alice".into(),
                password: secret.into(),
                device_id: Some("ios-1".into()),
            }
        ),
        format!(
            "{:?}",
            RefreshRequest {
                refresh_token: secret.into(),
            }
        ),
        format!(
            "{:?}",
            EnrollRequest {
                code: secret.into(),
                password: format!("{secret}-2"),
                device_id: None,
                username: Some("alice".into()),
            }
        ),
        format!(
            "{:?}",
            PasswordChange {
                old_password: secret.into(),
                new_password: format!("{secret}-2"),
            }
        ),
        format!(
            "{:?}",
            TokenResponse {
                access_token: secret.into(),
                refresh_token: format!("{secret}-2"),
                token_type: "Bearer".into(),
                expires_in: 900,
                role: Role::Patient,
                user_id: Uuid::nil(),
                patient_id: None,
                username: "alice".into(),
            }
        ),
    ];
    for debug in shown {
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
