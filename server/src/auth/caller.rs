//! Who is calling: the `Authorization: Bearer` access token, checked on every request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::AppError;
use crate::role::Role;
use crate::state::AppState;

/// The authenticated caller. As an extractor it answers 401 for a missing, malformed,
/// expired or revoked token (the login it belongs to has ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: Uuid,
    /// Their role.
    pub role: Role,
    /// Their patient id (patients only), from the token, never from a body.
    pub patient_id: Option<Uuid>,
    /// The login this token belongs to.
    pub family_id: Uuid,
}

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the role `{}` may not do this",
                self.role
            )))
        }
    }

    /// The role name as audit records carry it.
    pub fn role_name(&self) -> &'static str {
        self.role.as_str()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |m: &str| AppError::Unauthorized(m.to_string());
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization header"))?;
        let value = header
            .to_str()
            .map_err(|_| unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("expected a Bearer token"))?
            .trim();
        let claims = state.jwt.verify(token).map_err(|e| {
            tracing::debug!(reason = %e, "access token refused");
            unauthorized("invalid or expired access token")
        })?;
        let family = match state.store.family(claims.fam)? {
            Some(f) if f.revoked_at.is_none() && f.user_id == claims.sub => f,
            _ => return Err(unauthorized("this login has ended")),
        };
        // The signature alone is not trusted for the role: a token whose role or patient
        // differs from the account's is refused (a leaked key cannot make an admin).
        let account = match family.role {
            Some(role) => Some((role, family.patient_id)),
            None => state
                .store
                .user(claims.sub)?
                .map(|u| (u.role, u.patient_id)),
        };
        if account != Some((claims.role, claims.pid)) {
            tracing::warn!(user = %claims.sub, "access token role or patient differs from the account");
            return Err(unauthorized("invalid or expired access token"));
        }
        Ok(Caller {
            user_id: claims.sub,
            role: claims.role,
            patient_id: claims.pid,
            family_id: claims.fam,
        })
    }
}

/// The client's address (the TCP peer), for per-address limits. Behind a reverse proxy this
/// is the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}
