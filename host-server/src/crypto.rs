//! API keys (stored as SHA-256 hashes) and secrets sealed at rest with AES-256-GCM: OpenPAYGO device keys and
//! provider signing secrets. Which key seals them, and how a server proves it holds that key, is
//! `crate::secrets`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
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
    #[error(
        "a secret of {slot} is sealed under key {sealed_with}, but this server holds key {held} (was the key \
         rotated while this server ran? restart it with the current key)"
    )]
    OtherKey { slot: String, sealed_with: String, held: String },
    #[error("the secret of {slot} does not open with this server's key (damaged, or copied from another row)")]
    Open { slot: String },
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

/// Where a sealed secret is stored. It is the associated data of the seal, so a sealed value copied into
/// another row or column (by someone who can write the database but does not hold the key) does not open
/// there: device A's key cannot be made to sign device B's tokens.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a str,
}

impl<'a> Slot<'a> {
    /// `devices.openpaygo_key_sealed` of the device with this canonical serial.
    pub fn openpaygo_key(serial: &'a str) -> Self {
        Slot { table: "devices", column: "openpaygo_key_sealed", row: serial }
    }

    /// `providers.secret_sealed` of the provider with this id.
    pub fn provider_secret(provider_id: &'a str) -> Self {
        Slot { table: "providers", column: "secret_sealed", row: provider_id }
    }

    fn associated_data(&self) -> String {
        format!("micropower:{}.{}:{}", self.table, self.column, self.row)
    }
}

impl std::fmt::Display for Slot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} of {:?}", self.table, self.column, self.row)
    }
}

/// The prefix of values sealed with a key id and a [`Slot`]; values without it are the first format
/// (`base64(nonce ‖ ciphertext)`, no associated data), which `crate::secrets` re-seals at start. Base64 has no
/// `:`, so the two cannot be confused.
const SEALED_PREFIX: &str = "mp2:";

/// The 32-byte key that seals secrets at rest.
pub struct SealingKey([u8; 32]);

impl SealingKey {
    /// A key from 64 hexadecimal characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<Self> {
        hex::decode(text.trim()).ok()?.try_into().ok().map(SealingKey)
    }

    /// A new random key.
    pub fn generate() -> Result<Self, CryptoError> {
        random_bytes::<32>().map(SealingKey)
    }

    /// The key as 64 hexadecimal characters, for its file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        // HMAC with the key: derived values reveal nothing about the key, and the two labels keep the id (in
        // every sealed value) and the check value (in the database) independent.
        match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mut mac) => {
                mac.update(label);
                mac.finalize().into_bytes().into()
            }
            // HMAC takes keys of any length; this arm cannot run.
            Err(_) => [0; 32],
        }
    }

    /// A short public name of the key (16 hex characters), carried by every value it seals.
    pub fn id(&self) -> String {
        hex::encode(self.derive(b"micropower sealing key id").get(..8).unwrap_or_default())
    }

    /// The key-check value stored in the database at first start: a server holding another key sees that it
    /// differs before it seals or opens anything.
    pub fn check_value(&self) -> String {
        hex::encode(self.derive(b"micropower sealing key check"))
    }
}

/// Seals and opens secrets with one [`SealingKey`].
pub struct Sealer {
    cipher: Aes256Gcm,
    key_id: String,
}

impl Sealer {
    pub fn new(key: &SealingKey) -> Self {
        Sealer { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.0)), key_id: key.id() }
    }

    /// The id of the key this sealer holds.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `mp2:<key id>:base64(nonce ‖ ciphertext)`, the slot as associated data.
    pub fn seal(&self, slot: Slot<'_>, plaintext: &str) -> Result<String, CryptoError> {
        let nonce = random_bytes::<12>()?;
        let aad = slot.associated_data();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() })
            .map_err(|_| CryptoError::Open { slot: slot.to_string() })?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(format!("{SEALED_PREFIX}{}:{}", self.key_id, base64::engine::general_purpose::STANDARD.encode(out)))
    }

    /// The plaintext of [`Sealer::seal`], only in the slot it was sealed for.
    pub fn open(&self, slot: Slot<'_>, sealed: &str) -> Result<String, CryptoError> {
        let bad = || CryptoError::Open { slot: slot.to_string() };
        let (key_id, body) =
            sealed.strip_prefix(SEALED_PREFIX).and_then(|rest| rest.split_once(':')).ok_or_else(bad)?;
        if key_id != self.key_id {
            return Err(CryptoError::OtherKey {
                slot: slot.to_string(),
                sealed_with: key_id.to_owned(),
                held: self.key_id.clone(),
            });
        }
        self.decrypt(body, slot.associated_data().as_bytes()).ok_or_else(bad)
    }

    /// Whether `sealed` is in the first format (no key id, no slot), which [`Sealer::open_first_format`] opens.
    pub fn is_first_format(sealed: &str) -> bool {
        !sealed.starts_with(SEALED_PREFIX)
    }

    /// The plaintext of a value sealed by the first format, to re-seal it with [`Sealer::seal`].
    pub fn open_first_format(&self, slot: Slot<'_>, sealed: &str) -> Result<String, CryptoError> {
        self.decrypt(sealed, b"").ok_or_else(|| CryptoError::Open { slot: slot.to_string() })
    }

    fn decrypt(&self, body: &str, aad: &[u8]) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad }).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PLAIN: &str = "a29ab82edc5fbbc41ec9530f6dac86b1";

    fn sealer_of(byte: &str) -> Sealer {
        Sealer::new(&SealingKey::from_hex(&byte.repeat(32)).unwrap())
    }

    #[test]
    fn sealed_keys_open_in_their_slot_only_and_differ_each_time() {
        let sealer = sealer_of("ab");
        let a = sealer.seal(Slot::openpaygo_key("A1"), PLAIN).unwrap();
        let b = sealer.seal(Slot::openpaygo_key("A1"), PLAIN).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("mp2:{}:", sealer.key_id())), "{a}");
        assert_eq!(sealer.open(Slot::openpaygo_key("A1"), &a).unwrap(), PLAIN);
        assert!(matches!(sealer.open(Slot::openpaygo_key("A2"), &a), Err(CryptoError::Open { .. })));
        assert!(matches!(sealer.open(Slot::provider_secret("A1"), &a), Err(CryptoError::Open { .. })));
        assert!(matches!(sealer_of("cd").open(Slot::openpaygo_key("A1"), &a), Err(CryptoError::OtherKey { .. })));
    }

    #[test]
    fn key_ids_and_check_values_differ_between_keys() {
        let (a, b) = (SealingKey::from_hex(&"ab".repeat(32)).unwrap(), SealingKey::from_hex(&"cd".repeat(32)).unwrap());
        assert_eq!(a.id().len(), 16);
        assert_ne!(a.id(), b.id());
        assert_ne!(a.check_value(), b.check_value());
        assert!(!a.check_value().contains(&a.to_hex()));
    }
}
