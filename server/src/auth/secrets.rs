//! Random bearer secrets (refresh tokens, enrolment codes) and how they are stored.

use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// Random bytes in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;
/// Characters of an enrolment code (16 of a 32-letter alphabet: 80 bits).
const ENROLLMENT_CODE_CHARS: usize = 16;
/// Unambiguous letters and digits (no I, L, O, U) for codes people may type.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Implements `Debug` for a struct, showing its secret fields as `<redacted>` so that a
/// logged or panicking value never prints a password or token. Every field must be named,
/// shown or secret: a field added later fails to compile until it is sorted.
macro_rules! debug_redacted {
    ($type:ident { $($shown:ident),* $(,)? } secret { $($secret:ident),* $(,)? }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $type { $($shown,)* $($secret: _,)* } = self;
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($shown), $shown))*
                    $(.field(stringify!($secret), &format_args!("<redacted>")))*
                    .finish()
            }
        }
    };
}
pub(crate) use debug_redacted;

/// A new refresh token (base64url, 256 random bits).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new enrolment code, `XXXX-XXXX-XXXX-XXXX`.
pub fn new_enrollment_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut code = String::with_capacity(ENROLLMENT_CODE_CHARS + 3);
    for i in 0..ENROLLMENT_CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char);
    }
    code
}

/// What is stored in place of a bearer secret. Codes are compared without dashes, spaces
/// or case, so a code typed from a printout still works.
pub fn token_hash(secret: &str) -> [u8; 32] {
    let normalised: String = secret
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normalised.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_however_typed() {
        let code = new_enrollment_code();
        assert_eq!(code.len(), 19);
        assert_eq!(
            token_hash(&code),
            token_hash(&code.to_lowercase().replace('-', " "))
        );
        assert_ne!(new_refresh_token(), new_refresh_token());
    }
}
