//! Authentication: password hashing, access tokens, refresh tokens, the caller extractor
//! and the failed-login limiter.

mod caller;
mod jwt;
mod password;
mod rate_limit;
mod secrets;

pub use caller::{Caller, ClientAddr};
pub use jwt::{AccessClaims, JwtError, JwtKeys};
pub use password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, PasswordHasher, Verified};
pub use rate_limit::{Attempt, DEFAULT_POLICY, LimitPolicy, LoginLimiter};
pub(crate) use secrets::debug_redacted;
pub use secrets::{new_enrollment_code, new_refresh_token, token_hash};
