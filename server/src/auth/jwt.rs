//! Access tokens: HS256 JWTs with every claim required and checked.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::role::Role;
use crate::settings::{Secret, Settings};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds. None: the tokens are made and
/// checked by the same server, on one clock, so an expired token is refused at once
/// (jsonwebtoken would otherwise accept one for 60 s after its `exp`).
pub const CLOCK_LEEWAY_SECS: u64 = 0;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// The user id.
    pub sub: Uuid,
    /// The user's role.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Token id.
    pub jti: Uuid,
    /// The login (refresh-token family) this token belongs to; ending the login ends it.
    pub fam: Uuid,
    /// The patient id, for patients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<Uuid>,
}

/// Why a token was refused (never shown to callers beyond "invalid token").
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Signature, algorithm, claims or times were wrong.
    #[error("invalid access token: {0}")]
    Invalid(String),
    /// Signing failed.
    #[error("cannot sign access token: {0}")]
    Sign(String),
}

/// Signs and checks access tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys from `secret`, with issuer, audience and lifetime from `settings`; runs the
    /// sign-and-verify self-test.
    pub fn new(secret: &Secret, settings: &Settings) -> Result<Self, JwtError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = CLOCK_LEEWAY_SECS;
        let keys = JwtKeys {
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl_secs: settings.access_token_ttl_secs,
        };
        keys.self_test()?;
        Ok(keys)
    }

    /// Lifetime of the tokens issued, seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// The claims of a new token for this login.
    pub fn claims(
        &self,
        user_id: Uuid,
        role: Role,
        family_id: Uuid,
        patient_id: Option<Uuid>,
    ) -> AccessClaims {
        let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        AccessClaims {
            sub: user_id,
            role,
            exp: now.saturating_add(self.ttl_secs),
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4(),
            fam: family_id,
            pid: patient_id,
        }
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| JwtError::Sign(e.to_string()))
    }

    /// Checks a token: HS256 only, signature, `exp`, `nbf`, `iat`, `iss`, `aud`, a lifetime
    /// (`exp - iat`) no longer than this server issues, and that `pid` is present exactly for
    /// patients.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, JwtError> {
        let data = decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        if claims.iat > now + CLOCK_LEEWAY_SECS {
            return Err(JwtError::Invalid("issued in the future".into()));
        }
        // A token living longer than the server issues was not made by this server's
        // settings (a leaked key, or one from before the lifetime was shortened).
        if claims.exp.saturating_sub(claims.iat) > self.ttl_secs {
            return Err(JwtError::Invalid(
                "lifetime longer than this server issues".into(),
            ));
        }
        if (claims.role == Role::Patient) != claims.pid.is_some() {
            return Err(JwtError::Invalid("pid does not match the role".into()));
        }
        Ok(claims)
    }

    fn self_test(&self) -> Result<(), JwtError> {
        let claims = self.claims(
            Uuid::new_v4(),
            Role::Patient,
            Uuid::new_v4(),
            Some(Uuid::new_v4()),
        );
        let token = self.sign(&claims)?;
        let back = self.verify(&token)?;
        if back != claims {
            return Err(JwtError::Invalid(
                "self-test: claims changed in a round trip".into(),
            ));
        }
        let mut tampered = token.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8_lossy(&tampered).into_owned();
        if self.verify(&tampered).is_ok() {
            return Err(JwtError::Invalid(
                "self-test: a tampered signature verified".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(
            &Secret::new(secret.as_bytes().to_vec()),
            &Settings::default(),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_wrong_key_or_expiry_fail() {
        let k = keys("a-secret-that-is-long-enough-for-hs256-0001");
        let claims = k.claims(Uuid::new_v4(), Role::Clinician, Uuid::new_v4(), None);
        let token = k.sign(&claims).unwrap();
        assert_eq!(k.verify(&token).unwrap(), claims);
        let other = keys("another-secret-that-is-long-enough-for-hs256");
        assert!(other.verify(&token).is_err());
        let mut old = claims.clone();
        old.exp = old.iat - 3600;
        assert!(k.verify(&k.sign(&old).unwrap()).is_err());
        let mut patient_without_pid = claims.clone();
        patient_without_pid.role = Role::Patient;
        assert!(k.verify(&k.sign(&patient_without_pid).unwrap()).is_err());
    }

    fn now() -> u64 {
        OffsetDateTime::now_utc().unix_timestamp() as u64
    }

    #[test]
    fn a_token_is_refused_as_soon_as_it_expires() {
        let k = keys("a-secret-that-is-long-enough-for-hs256-0001");
        let mut claims = k.claims(Uuid::new_v4(), Role::Admin, Uuid::new_v4(), None);
        // Issued a lifetime ago and expired two seconds ago: no leeway.
        claims.iat = now() - k.ttl_secs() - 2;
        claims.nbf = claims.iat;
        claims.exp = now() - 2;
        assert!(k.verify(&k.sign(&claims).unwrap()).is_err());
        // Still valid two seconds before its end.
        claims.iat = now() - k.ttl_secs() + 2;
        claims.nbf = claims.iat;
        claims.exp = now() + 2;
        assert!(k.verify(&k.sign(&claims).unwrap()).is_ok());
        // Not valid yet, by one second.
        let mut early = k.claims(Uuid::new_v4(), Role::Admin, Uuid::new_v4(), None);
        early.nbf = now() + 2;
        assert!(k.verify(&k.sign(&early).unwrap()).is_err());
    }

    #[test]
    fn a_token_living_longer_than_the_server_issues_is_refused() {
        let k = keys("a-secret-that-is-long-enough-for-hs256-0001");
        let mut claims = k.claims(Uuid::new_v4(), Role::Admin, Uuid::new_v4(), None);
        assert_eq!(claims.exp - claims.iat, k.ttl_secs());
        claims.exp = claims.iat + 10 * 366 * 86_400;
        assert!(k.verify(&k.sign(&claims).unwrap()).is_err());
        claims.exp = claims.iat + k.ttl_secs() + 1;
        assert!(k.verify(&k.sign(&claims).unwrap()).is_err());
        // An old iat with an exp still a lifetime away is too long as well.
        let mut backdated = k.claims(Uuid::new_v4(), Role::Admin, Uuid::new_v4(), None);
        backdated.iat -= 3600;
        backdated.nbf = backdated.iat;
        assert!(k.verify(&k.sign(&backdated).unwrap()).is_err());
    }
}
