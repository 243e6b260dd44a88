//! Signing keys for ID tokens, JWT access tokens and logout tokens: ES256
//! keys made from the injected entropy (every server has them), RS256
//! keys (RSA-2048, made when the first client asks for RS256 ID tokens),
//! their public half as a JWK, their private half sealed for the log, and
//! JWS signing with `jsonwebtoken` over AWS-LC.
//!
//! Where the private key lives: sealed in the `SigningKeyCreated` event,
//! with XChaCha20-Poly1305 under a key derived from the server key
//! (HMAC-SHA256(server key, "authlog:signing-key-seal:v1")), the `kid` as
//! associated data. Not a file beside `server-key`: every replica and every
//! restore from the log then has the same keys with no second secret to
//! copy or lose, the log can be handed to an auditor (without the server
//! key the sealed bytes are noise), and a key's whole life is in the log.
//! Anyone with the server key can already mint tokens' digests, so it
//! guards these keys at the same level.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde::Serialize;
use serde_json::json;

use crate::commands::Env;
use crate::sealed::Sealer;
use crate::secrets::ServerKey;

/// ECDSA P-256 with SHA-256: the default for every token.
pub const ES256: &str = "ES256";
/// RSASSA-PKCS1-v1_5 with SHA-256: for relying parties that registered
/// `id_token_signed_response_alg` `RS256`.
pub const RS256: &str = "RS256";
/// Every algorithm keys are made for, default first.
pub const ALGORITHMS: [&str; 2] = [ES256, RS256];

/// What the seal's key is derived from.
const SEAL_CONTEXT: &str = "authlog:signing-key-seal:v1";

/// Why a key could not be made, opened or used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// No key is active (the server has not provisioned one yet).
    #[error("no signing key is active")]
    NoActiveKey,
    /// The sealed private key did not open: another server key, or damage.
    #[error("signing key {0} cannot be opened with this server key")]
    Unseal(String),
    /// The key is of an algorithm this build does not sign with.
    #[error("signing key {kid} has unsupported algorithm {alg}")]
    Algorithm {
        /// The key.
        kid: String,
        /// Its algorithm.
        alg: String,
    },
    /// The key's private half is not a key of its algorithm.
    #[error("signing key {0} does not parse")]
    Malformed(String),
    /// The JOSE library refused the key or the claims.
    #[error("could not sign with key {kid}")]
    Jws {
        /// The key.
        kid: String,
        /// Why.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

/// A freshly made key, ready for `SigningKeyCreated`.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Key id.
    pub kid: String,
    /// Public JWK (JSON text).
    pub public_jwk: String,
    /// Sealed PKCS#8.
    pub sealed_private_key: Vec<u8>,
}

/// Makes an ES256 key from `env`'s entropy and seals it.
pub fn new_es256(env: &Env) -> NewKey {
    let secret = loop {
        // A uniformly random 32-byte string is a valid P-256 scalar with
        // probability 1 - 2^-32; draw again otherwise.
        if let Ok(secret) = p256::SecretKey::from_slice(&env.bytes()) {
            break secret;
        }
    };
    let kid = URL_SAFE_NO_PAD.encode(&env.bytes()[..12]);
    let point = p256::EncodedPoint::from(secret.public_key());
    let public_jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().expect("an uncompressed point has x")),
        "y": URL_SAFE_NO_PAD.encode(point.y().expect("an uncompressed point has y")),
        "kid": kid,
        "alg": ES256,
        "use": "sig",
    })
    .to_string();
    let pkcs8 = secret
        .to_pkcs8_der()
        .expect("a P-256 key always encodes as PKCS#8");
    NewKey {
        sealed_private_key: seal(env, &kid, pkcs8.as_bytes()),
        kid,
        public_jwk,
    }
}

/// Makes an RS256 key (RSA-2048 from `env`'s entropy source) and seals it.
pub fn new_rs256(env: &Env) -> NewKey {
    let pkcs8 = env.rsa_private_key();
    let kid = URL_SAFE_NO_PAD.encode(&env.bytes()[..12]);
    let pkcs1 = rsa_pkcs1(&kid, &pkcs8).expect("AWS-LC makes well-formed PKCS#8");
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &EncodingKey::from_rsa_der(pkcs1),
        Algorithm::RS256,
    )
    .expect("a fresh RSA key has a public half");
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    NewKey {
        public_jwk: serde_json::to_string(&jwk).expect("a JWK serializes"),
        sealed_private_key: seal(env, &kid, &pkcs8),
        kid,
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`.
fn rsa_pkcs1<'a>(kid: &str, pkcs8: &'a [u8]) -> Result<&'a [u8], SigningError> {
    p256::pkcs8::PrivateKeyInfo::try_from(pkcs8)
        .map(|info| info.private_key)
        .map_err(|_| SigningError::Malformed(kid.to_owned()))
}

/// Seals a private key, with the `kid` as associated data.
fn seal(env: &Env, kid: &str, pkcs8: &[u8]) -> Vec<u8> {
    Sealer::new(&env.digest(SEAL_CONTEXT).0).seal(env.bytes(), kid.as_bytes(), pkcs8)
}

/// A new key of `alg` (one of `ALGORITHMS`).
pub fn new_key(env: &Env, alg: &str) -> NewKey {
    if alg == RS256 {
        new_rs256(env)
    } else {
        new_es256(env)
    }
}

/// Opens a sealed private key (PKCS#8 DER).
pub fn open(key: &ServerKey, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, SigningError> {
    Sealer::new(&key.digest(SEAL_CONTEXT).0)
        .open(kid.as_bytes(), sealed)
        .map(|plain| plain.to_vec())
        .ok_or_else(|| SigningError::Unseal(kid.to_owned()))
}

/// A compact JWS of `claims` under `key` (`typ` as given), opening the key
/// for this one signature.
pub fn sign_once(
    server_key: &ServerKey,
    key: &authlog_projections::SigningKey,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, SigningError> {
    let encoding = encoding_key(server_key, key)?;
    jws(key, &encoding, typ, claims)
}

fn encoding_key(
    server_key: &ServerKey,
    key: &authlog_projections::SigningKey,
) -> Result<EncodingKey, SigningError> {
    let pkcs8 = open(server_key, &key.kid, &key.sealed_private_key)?;
    match algorithm(key)? {
        Algorithm::RS256 => Ok(EncodingKey::from_rsa_der(rsa_pkcs1(&key.kid, &pkcs8)?)),
        _ => Ok(EncodingKey::from_ec_der(&pkcs8)),
    }
}

/// The JWS algorithm of a key.
fn algorithm(key: &authlog_projections::SigningKey) -> Result<Algorithm, SigningError> {
    match key.alg.as_str() {
        ES256 => Ok(Algorithm::ES256),
        RS256 => Ok(Algorithm::RS256),
        other => Err(SigningError::Algorithm {
            kid: key.kid.clone(),
            alg: other.to_owned(),
        }),
    }
}

fn jws(
    key: &authlog_projections::SigningKey,
    encoding: &EncodingKey,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, SigningError> {
    let mut header = Header::new(algorithm(key)?);
    header.kid = Some(key.kid.clone());
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, claims, encoding).map_err(|source| SigningError::Jws {
        kid: key.kid.clone(),
        source,
    })
}

/// Signs with the active key; opened keys are kept (in memory only).
#[derive(Default)]
pub struct Signer {
    opened: Mutex<HashMap<String, EncodingKey>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// A compact JWS of `claims` under `key` (`typ` as given).
    pub fn sign(
        &self,
        server_key: &ServerKey,
        key: &authlog_projections::SigningKey,
        typ: &str,
        claims: &impl Serialize,
    ) -> Result<String, SigningError> {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        if !opened.contains_key(&key.kid) {
            opened.insert(key.kid.clone(), encoding_key(server_key, key)?);
        }
        jws(key, &opened[&key.kid], typ, claims)
    }
}

/// The claims of an ID token this server signed with one of `keys`
/// (published or not), whether or not it has expired: an
/// `id_token_hint` (OpenID Connect RP-Initiated Logout §2 accepts expired
/// ones). `None` for anything else.
pub fn verify_own_id_token(
    keys: &authlog_projections::SigningKeys,
    issuer: &str,
    token: &str,
) -> Option<serde_json::Value> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let key = keys.get(header.kid.as_deref()?)?;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&key.public_jwk).ok()?;
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
    let mut validation = jsonwebtoken::Validation::new(algorithm(key).ok()?);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
        .ok()
        .map(|data| data.claims)
}

/// `base64url(left half of SHA-256(value))`: OpenID Connect's `at_hash`
/// and `c_hash` for ES256 / RS256.
pub fn half_hash(value: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SequentialEntropy;
    use authlog_events::Timestamp;

    /// Signs `{"sub": "x"}` with `made` through a `Signer` and verifies it
    /// with its public JWK alone.
    fn sign_and_verify(
        server_key: &ServerKey,
        made: &NewKey,
        alg: &str,
        algorithm: Algorithm,
    ) -> jsonwebtoken::TokenData<serde_json::Value> {
        let record = authlog_projections::SigningKey {
            kid: made.kid.clone(),
            alg: alg.into(),
            public_jwk: made.public_jwk.clone(),
            sealed_private_key: made.sealed_private_key.clone(),
            created_at: Timestamp(0),
            activated_at: Some(Timestamp(0)),
            retired: None,
        };
        let jws = Signer::default()
            .sign(
                server_key,
                &record,
                "JWT",
                &json!({"sub": "x", "exp": 4_000_000_000u64}),
            )
            .unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&made.public_jwk).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.validate_aud = false;
        let decoded =
            jsonwebtoken::decode::<serde_json::Value>(&jws, &decoding, &validation).unwrap();
        assert_eq!(decoded.header.alg, algorithm);
        decoded
    }

    #[test]
    fn a_sealed_key_opens_only_with_its_server_key_and_kid_and_signs_verifiably() {
        let entropy = SequentialEntropy::default();
        let server_key = ServerKey::from_bytes([3; 32]);
        let env = Env::new(Timestamp(0), &entropy, &server_key);
        let made = new_es256(&env);
        let pkcs8 = open(&server_key, &made.kid, &made.sealed_private_key).unwrap();
        assert!(
            !made
                .sealed_private_key
                .windows(pkcs8.len())
                .any(|w| w == pkcs8.as_slice()),
            "sealed, not copied"
        );
        assert!(open(
            &ServerKey::from_bytes([4; 32]),
            &made.kid,
            &made.sealed_private_key
        )
        .is_err());
        assert!(open(&server_key, "another-kid", &made.sealed_private_key).is_err());

        let decoded = sign_and_verify(&server_key, &made, ES256, Algorithm::ES256);
        assert_eq!(decoded.claims["sub"], "x");
        assert_eq!(decoded.header.kid.as_deref(), Some(made.kid.as_str()));
    }

    #[test]
    fn an_rs256_key_is_sealed_published_without_its_private_half_and_signs_verifiably() {
        let entropy = SequentialEntropy::default();
        let server_key = ServerKey::from_bytes([5; 32]);
        let env = Env::new(Timestamp(0), &entropy, &server_key);
        let made = new_key(&env, RS256);
        let pkcs8 = open(&server_key, &made.kid, &made.sealed_private_key).unwrap();
        // The bytes the integration test looks for in the data directory.
        let rsa_pkcs8_marker = [
            0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
            0x01, 0x01,
        ];
        assert!(pkcs8.windows(16).any(|w| w == rsa_pkcs8_marker));
        assert!(!made
            .sealed_private_key
            .windows(16)
            .any(|w| w == rsa_pkcs8_marker));
        let jwk: serde_json::Value = serde_json::from_str(&made.public_jwk).unwrap();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["kid"], made.kid.as_str());
        assert_eq!(jwk["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{private} published");
        }

        let decoded = sign_and_verify(&server_key, &made, RS256, Algorithm::RS256);
        assert_eq!(decoded.claims["sub"], "x");
        assert_eq!(decoded.header.kid.as_deref(), Some(made.kid.as_str()));
        assert_eq!(decoded.header.alg, Algorithm::RS256);
    }

    #[test]
    fn half_hash_matches_the_openid_example() {
        // OpenID Connect Core, Appendix A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
