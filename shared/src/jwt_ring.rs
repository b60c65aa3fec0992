//! jsonwebtoken's cryptography on ring, which TLS links already. Its `rust_crypto` provider
//! brought RustCrypto's RSA, elliptic-curve and Ed25519 crates (about 0.25 MB of agent-api)
//! to verify one RS256 signature per request. Only what the API accepts is here: HS256/384/512
//! (local tokens) and RSA PKCS#1 v1.5 and PSS (RS*, PS*); any other algorithm is refused as
//! unsupported, which `auth` does before it gets here anyway.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::{digest, hmac, rand, rsa, signature as sig};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        ed_pub_components_from_private_key: |_, _: &EllipticCurve| {
            Err(ErrorKind::InvalidAlgorithm.into())
        },
        compute_digest,
    },
};

/// Makes this the process's provider; call before the first token is made or checked.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only fails when one is installed already, which is then the one in use.
        let _ = PROVIDER.install_default();
    });
}

fn hmac_alg(a: Algorithm) -> Option<hmac::Algorithm> {
    match a {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn rsa_verify_alg(a: Algorithm) -> Option<&'static sig::RsaParameters> {
    match a {
        Algorithm::RS256 => Some(&sig::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Some(&sig::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Some(&sig::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Some(&sig::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Some(&sig::RSA_PSS_2048_8192_SHA512),
        _ => None,
    }
}

fn rsa_sign_alg(a: Algorithm) -> Option<&'static dyn sig::RsaEncoding> {
    match a {
        Algorithm::RS256 => Some(&sig::RSA_PKCS1_SHA256),
        Algorithm::RS384 => Some(&sig::RSA_PKCS1_SHA384),
        Algorithm::RS512 => Some(&sig::RSA_PKCS1_SHA512),
        Algorithm::PS256 => Some(&sig::RSA_PSS_SHA256),
        Algorithm::PS384 => Some(&sig::RSA_PSS_SHA384),
        Algorithm::PS512 => Some(&sig::RSA_PSS_SHA512),
        _ => None,
    }
}

struct HmacKey(Algorithm, hmac::Key);

impl Signer<Vec<u8>> for HmacKey {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.1, msg).as_ref().to_vec())
    }
}

impl Verifier<Vec<u8>> for HmacKey {
    fn verify(&self, msg: &[u8], s: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        hmac::verify(&self.1, msg, s).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for HmacKey {
    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

impl JwtVerifier for HmacKey {
    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

/// An RSA key pair (PKCS#1 or PKCS#8 DER, as `EncodingKey::from_rsa_pem` leaves it).
fn rsa_key_pair(der: &[u8]) -> Result<sig::RsaKeyPair> {
    sig::RsaKeyPair::from_der(der)
        .or_else(|_| sig::RsaKeyPair::from_pkcs8(der))
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()).into())
}

struct RsaSigner(Algorithm, &'static dyn sig::RsaEncoding, sig::RsaKeyPair);

impl Signer<Vec<u8>> for RsaSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut out = vec![0; self.2.public().modulus_len()];
        self.2
            .sign(self.1, &rand::SystemRandom::new(), msg, &mut out)
            .map_err(|_| signature::Error::new())?;
        Ok(out)
    }
}

impl JwtSigner for RsaSigner {
    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

struct RsaVerifier(Algorithm, &'static sig::RsaParameters, DecodingKey);

impl Verifier<Vec<u8>> for RsaVerifier {
    fn verify(&self, msg: &[u8], s: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let ok = match self.2.kind() {
            DecodingKeyKind::SecretOrDer(der) => {
                sig::UnparsedPublicKey::new(self.1, der).verify(msg, s)
            }
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                sig::RsaPublicKeyComponents { n, e }.verify(self.1, msg, s)
            }
        };
        ok.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RsaVerifier {
    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

fn new_signer(a: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if let Some(h) = hmac_alg(*a) {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        return Ok(Box::new(HmacKey(*a, hmac::Key::new(h, key.as_bytes()))));
    }
    if let Some(enc) = rsa_sign_alg(*a) {
        if key.family() != AlgorithmFamily::Rsa {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        return Ok(Box::new(RsaSigner(*a, enc, rsa_key_pair(key.as_bytes())?)));
    }
    Err(ErrorKind::InvalidAlgorithm.into())
}

fn new_verifier(a: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if let Some(h) = hmac_alg(*a) {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        return Ok(Box::new(HmacKey(
            *a,
            hmac::Key::new(h, key.try_get_as_bytes()?),
        )));
    }
    if let Some(params) = rsa_verify_alg(*a) {
        if key.family() != AlgorithmFamily::Rsa {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        return Ok(Box::new(RsaVerifier(*a, params, key.clone())));
    }
    Err(ErrorKind::InvalidAlgorithm.into())
}

fn rsa_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = rsa_key_pair(der)?;
    let c: rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
    Ok((c.n, c.e))
}

fn compute_digest(data: &[u8], h: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match h {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_round_trips_and_a_changed_byte_fails() {
        install();
        let key = EncodingKey::from_secret(b"s3cret");
        let s = jsonwebtoken::crypto::sign(b"a.b", &key, Algorithm::HS256).unwrap();
        let dk = DecodingKey::from_secret(b"s3cret");
        assert!(jsonwebtoken::crypto::verify(&s, b"a.b", &dk, Algorithm::HS256).unwrap());
        assert!(!jsonwebtoken::crypto::verify(&s, b"a.c", &dk, Algorithm::HS256).unwrap());
        let other = DecodingKey::from_secret(b"other");
        assert!(!jsonwebtoken::crypto::verify(&s, b"a.b", &other, Algorithm::HS256).unwrap());
    }

    #[test]
    fn algorithms_the_api_never_accepts_are_refused() {
        install();
        let dk = DecodingKey::from_secret(b"s3cret");
        assert!(jsonwebtoken::crypto::verify("AAAA", b"a.b", &dk, Algorithm::EdDSA).is_err());
        assert!(jsonwebtoken::crypto::verify("AAAA", b"a.b", &dk, Algorithm::ES256).is_err());
        // An HMAC key is no RSA key.
        assert!(jsonwebtoken::crypto::verify("AAAA", b"a.b", &dk, Algorithm::RS256).is_err());
    }
}
