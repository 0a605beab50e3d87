//! Secrets: API keys (stored as hashes) and OpenPAYGO device keys (sealed with AES-256-GCM at rest).

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A secret that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("MICROPOWER_SECRET_KEY must be 64 hexadecimal characters (32 bytes)")]
    BadSecretKey,
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("a sealed secret does not open with this server's key (was MICROPOWER_SECRET_KEY changed?)")]
    Open,
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(buf)
}

/// A new API key: 32 random bytes, printable.
pub fn new_api_key() -> Result<String, CryptoError> {
    Ok(format!("mp_{}", hex::encode(random_bytes::<32>()?)))
}

/// API keys are long random strings, so one SHA-256 is enough to store them safely (no password stretching
/// needed: there is nothing to guess).
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Seals and opens OpenPAYGO secret keys.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// The key from `MICROPOWER_SECRET_KEY` (hex), or from `<data_dir>/secret.key`, created with owner-only
    /// permissions on first start.
    pub fn load(secret_key_hex: Option<&str>, data_dir: &Path) -> Result<Self, CryptoError> {
        let key = match secret_key_hex {
            Some(text) => decode_key(text).ok_or(CryptoError::BadSecretKey)?,
            None => key_file(&data_dir.join("secret.key"))?,
        };
        Ok(Sealer { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)) })
    }

    /// `base64(nonce ‖ ciphertext)`.
    pub fn seal(&self, plaintext: &str) -> Result<String, CryptoError> {
        let nonce = random_bytes::<12>()?;
        let sealed =
            self.cipher.encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes()).map_err(|_| CryptoError::Open)?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// The plaintext of [`Sealer::seal`].
    pub fn open(&self, sealed: &str) -> Result<String, CryptoError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|_| CryptoError::Open)?;
        if bytes.len() < 12 {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), body).map_err(|_| CryptoError::Open)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Open)
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

fn key_file(path: &Path) -> Result<[u8; 32], CryptoError> {
    let err = |reason: String| CryptoError::KeyFile { path: path.display().to_string(), reason };
    if let Ok(text) = std::fs::read_to_string(path) {
        return decode_key(&text).ok_or_else(|| err("not 64 hexadecimal characters".into()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let key = random_bytes::<32>()?;
    write_owner_only(path, hex::encode(key).as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(key)
}

#[cfg(unix)]
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_and_differ_each_time() {
        let sealer = Sealer::load(Some(&"ab".repeat(32)), Path::new(".")).unwrap();
        let a = sealer.seal("a29ab82edc5fbbc41ec9530f6dac86b1").unwrap();
        let b = sealer.seal("a29ab82edc5fbbc41ec9530f6dac86b1").unwrap();
        assert_ne!(a, b);
        assert_eq!(sealer.open(&a).unwrap(), "a29ab82edc5fbbc41ec9530f6dac86b1");
        let other = Sealer::load(Some(&"cd".repeat(32)), Path::new(".")).unwrap();
        assert!(other.open(&a).is_err());
    }
}
