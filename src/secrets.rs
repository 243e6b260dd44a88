//! Secrets and tokens: generation (256-bit CSPRNG values with a readable
//! prefix), the server key, and HMAC-SHA256 digests. Raw values exist only
//! in the response that hands them out; the log and projections hold
//! digests, compared in constant time.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use authlog_events::Digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::entropy::{Entropy, SystemEntropy};

/// What a generated value is for; decides its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// `alat_`
    AccessToken,
    /// `alrt_`
    RefreshToken,
    /// `alcs_`
    ClientSecret,
    /// `alra_`
    RegistrationAccessToken,
    /// `alac_`
    AuthorizationCode,
    /// `aldc_`
    DeviceCode,
}

impl SecretKind {
    /// The readable prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::AccessToken => "alat_",
            SecretKind::RefreshToken => "alrt_",
            SecretKind::ClientSecret => "alcs_",
            SecretKind::RegistrationAccessToken => "alra_",
            SecretKind::AuthorizationCode => "alac_",
            SecretKind::DeviceCode => "aldc_",
        }
    }
}

/// A fresh secret: prefix + base64url(256 random bits from `entropy`).
pub fn generate(entropy: &dyn Entropy, kind: SecretKind) -> String {
    format!(
        "{}{}",
        kind.prefix(),
        URL_SAFE_NO_PAD.encode(entropy.bytes())
    )
}

/// A secret value handed out once and the digest the log keeps of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Minted {
    /// The value, for the response that hands it out.
    pub value: String,
    /// `HMAC-SHA256(server key, value)`.
    pub digest: Digest,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Minted(..)")
    }
}

/// A key (the server key, the audit key) could not be loaded or created.
#[derive(Debug, Error)]
pub enum KeyError {
    /// File trouble.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file or configured key is not 32 base64url bytes.
    #[error("key {0} is not 32 bytes of base64url")]
    Malformed(String),
    /// The key file can be read by others.
    #[error("key file {0} is readable by group or others (mode must be 0600)")]
    Exposed(PathBuf),
}

/// The HMAC key behind every digest.
#[derive(Clone)]
pub struct ServerKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

fn decode_key(text: &str, origin: &str) -> Result<[u8; 32], KeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| KeyError::Malformed(origin.to_owned()))?;
    bytes
        .try_into()
        .map_err(|_| KeyError::Malformed(origin.to_owned()))
}

/// Writes `contents` to a new file readable by the owner only; fails if it exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A 32-byte key: `configured` (base64url, named `origin` in errors) when
/// given, else `<data_dir>/<file_name>`, created owner-only on first use.
/// An existing file that group or others can read is refused.
pub fn load_or_create_key(
    data_dir: &Path,
    file_name: &str,
    configured: Option<&str>,
    origin: &str,
) -> Result<[u8; 32], KeyError> {
    if let Some(text) = configured {
        return decode_key(text, origin);
    }
    let path = data_dir.join(file_name);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    if !path.exists() {
        let bytes = SystemEntropy.bytes();
        write_private_file(&path, URL_SAFE_NO_PAD.encode(bytes).as_bytes()).map_err(io)?;
        return Ok(bytes);
    }
    read_key_file(&path)
}

/// Reads an existing key file, refusing one that group or others can read.
pub fn read_key_file(path: &Path) -> Result<[u8; 32], KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed(path.to_owned()));
        }
    }
    let text = fs::read_to_string(path).map_err(io)?;
    decode_key(&text, &path.display().to_string())
}

impl ServerKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ServerKey {
            mac: Hmac::<Sha256>::new_from_slice(&bytes).expect("HMAC takes keys of any length"),
        }
    }

    /// The configured key (base64url), or `<data>/server-key`, created on first start.
    pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> Result<Self, KeyError> {
        load_or_create_key(data_dir, "server-key", configured, "AUTHLOG_SERVER_KEY")
            .map(Self::from_bytes)
    }

    /// A fresh HMAC-SHA256 under this key, for inputs too long to hold
    /// at once (projection snapshots).
    pub fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }

    /// A fresh secret of `kind` and its digest.
    pub fn mint(&self, entropy: &dyn Entropy, kind: SecretKind) -> Minted {
        let value = generate(entropy, kind);
        Minted {
            digest: self.digest(&value),
            value,
        }
    }

    /// HMAC-SHA256(key, value).
    pub fn digest(&self, value: &str) -> Digest {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        Digest(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_their_prefix_and_256_bits() {
        let s = generate(&SystemEntropy, SecretKind::ClientSecret);
        assert!(s.starts_with("alcs_"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&s[5..]).unwrap().len(), 32);
        assert_ne!(s, generate(&SystemEntropy, SecretKind::ClientSecret));
    }

    #[test]
    fn digests_depend_on_the_key() {
        let a = ServerKey::from_bytes([1; 32]);
        let b = ServerKey::from_bytes([2; 32]);
        assert_eq!(a.digest("x"), a.digest("x"));
        assert_ne!(a.digest("x"), b.digest("x"));
        assert_ne!(a.digest("x"), a.digest("y"));
    }

    #[test]
    fn the_key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = ServerKey::load_or_create(dir.path(), None).unwrap();
        let k2 = ServerKey::load_or_create(dir.path(), None).unwrap();
        assert_eq!(k1.digest("t"), k2.digest("t"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join("server-key");
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                ServerKey::load_or_create(dir.path(), None),
                Err(KeyError::Exposed(_))
            ));
        }
    }
}
