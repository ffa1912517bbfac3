//! minisign keys and signatures, byte-compatible with the `minisign` CLI.
//!
//! Signing is done here rather than by the `minisign` crate because its signatures mix random
//! noise into Ed25519, and bundles must be byte-identical build after build, signature included.
//! Pure RFC 8032 Ed25519 over the BLAKE2b-512 prehash (minisign's default `ED` algorithm) is
//! deterministic and verifies with every minisign implementation. Key generation and decryption of
//! password-protected keys use the `minisign` crate; verification uses `minisign-verify`.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::prelude::*;
use blake2::{Blake2b512, Digest as _};

/// Length of the BLAKE2b prehash minisign signs.
pub const PREHASH_LEN: usize = 64;

/// The 8-byte key id minisign stores in keys and signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyId([u8; 8]);

impl fmt::Display for KeyId {
    /// As the minisign CLI prints it: the little-endian u64 in upper-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A key file or signature that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading the file failed.
    #[error("failed to read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not a minisign secret key.
    #[error("`{0}` is not a minisign secret key (expected the two-line file `minisign -G` or `airbundle keygen` writes)")]
    NotSecretKey(String),
    /// Not a minisign public key.
    #[error("`{0}` is not a minisign public key (expected the `.pub` file `minisign -G` or `airbundle keygen` writes)")]
    NotPublicKey(String),
    /// Encrypted key, no password given.
    #[error("`{0}` is password-protected: pass the password with --password-file")]
    PasswordNeeded(String),
    /// Decryption failed.
    #[error("`{0}` could not be decrypted: wrong password, or a corrupted key")]
    Decrypt(String),
    /// The key material is inconsistent.
    #[error("`{0}` is corrupted: its secret and public halves do not match")]
    Corrupted(String),
    /// Key generation failed.
    #[error("failed to generate a minisign key pair: {0}")]
    Generate(String),
}

/// A minisign secret key, decrypted and ready to sign.
pub struct SigningKey {
    key_id: KeyId,
    public: [u8; 32],
    pair: Ed25519KeyPair,
}

// Layout of a decoded minisign secret key (minisign's `SecretKey`):
// sig_alg 2 | kdf_alg 2 | chk_alg 2 | salt 32 | opslimit 8 | memlimit 8 | keynum 8 | sk 64 | chk 32
const SK_LEN: usize = 158;
const SK_KEYNUM: std::ops::Range<usize> = 54..62;
const SK_SEED: std::ops::Range<usize> = 62..94;
const SK_PUBLIC: std::ops::Range<usize> = 94..126;

impl SigningKey {
    /// Reads a minisign secret key file; `password` is needed when it is encrypted.
    pub fn from_file(path: &Path, password: Option<&str>) -> Result<Self, KeyError> {
        let text = read_text(path)?;
        Self::from_text(&text, password, &path.display().to_string())
    }

    /// Parses the text of a minisign secret key file; `origin` names it in errors.
    pub fn from_text(text: &str, password: Option<&str>, origin: &str) -> Result<Self, KeyError> {
        let not_key = || KeyError::NotSecretKey(origin.to_owned());
        let line = text.lines().nth(1).ok_or_else(not_key)?;
        let raw = BASE64_STANDARD.decode(line.trim()).map_err(|_| not_key())?;
        if raw.len() != SK_LEN || &raw[..2] != b"Ed" {
            return Err(not_key());
        }
        let raw = match &raw[2..4] {
            // `minisign -G -W` and unencrypted `airbundle keygen` keys. The CLI leaves the
            // checksum zeroed for these, so consistency is checked through the key pair below.
            [0, 0] => raw,
            b"Sc" => {
                let password = password.ok_or_else(|| KeyError::PasswordNeeded(origin.to_owned()))?;
                let decrypted = minisign::SecretKeyBox::from_string(text)
                    .and_then(|b| b.into_secret_key(Some(password.to_owned())))
                    .map_err(|_| KeyError::Decrypt(origin.to_owned()))?;
                decrypted.to_bytes()
            }
            _ => return Err(not_key()),
        };
        let pair =
            Ed25519KeyPair::from_seed_and_public_key(&raw[SK_SEED], &raw[SK_PUBLIC]).map_err(|_| KeyError::Corrupted(origin.to_owned()))?;
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&raw[SK_KEYNUM]);
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        Ok(Self { key_id: KeyId(key_id), public, pair })
    }

    /// The key id signatures will carry.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_parts(self.key_id, self.public)
    }

    /// Signs everything `data` yields; returns the `.minisig` file's text.
    pub fn sign(&self, data: impl Read, trusted_comment: &str) -> io::Result<String> {
        let mut prehasher = Prehasher::new(io::sink());
        io::copy(&mut { data }, &mut prehasher)?;
        Ok(self.sign_prehashed(&prehasher.finish().0, trusted_comment))
    }

    /// Signs a BLAKE2b-512 prehash computed elsewhere (see [`Prehasher`]).
    pub fn sign_prehashed(&self, prehash: &[u8; PREHASH_LEN], trusted_comment: &str) -> String {
        // One line only: a newline would end the comment early and break the format.
        let trusted_comment = trusted_comment.replace(['\n', '\r'], " ");
        let signature = self.pair.sign(prehash);
        let mut global = signature.as_ref().to_vec();
        global.extend_from_slice(trusted_comment.as_bytes());
        let global_signature = self.pair.sign(&global);
        let mut sig_box = b"ED".to_vec();
        sig_box.extend_from_slice(&self.key_id.0);
        sig_box.extend_from_slice(signature.as_ref());
        format!(
            "untrusted comment: signature from airbundle secret key {}\n{}\ntrusted comment: {}\n{}\n",
            self.key_id,
            BASE64_STANDARD.encode(sig_box),
            trusted_comment,
            BASE64_STANDARD.encode(global_signature.as_ref()),
        )
    }
}

/// A writer that computes minisign's BLAKE2b-512 prehash of what passes through it, so a
/// bundle is signed while it is written instead of being read a second time.
pub struct Prehasher<W> {
    inner: W,
    hasher: Blake2b512,
}

impl<W: Write> Prehasher<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Blake2b512::new() }
    }

    /// The prehash of everything written, and the inner writer.
    pub fn finish(self) -> ([u8; PREHASH_LEN], W) {
        (self.hasher.finalize().into(), self.inner)
    }
}

impl<W: Write> Write for Prehasher<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A trusted minisign public key.
#[derive(Clone)]
pub struct PublicKey {
    key_id: KeyId,
    text: String,
    inner: minisign_verify::PublicKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id)
    }
}

/// A signature that does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// Not minisign's signature format.
    #[error("is not a minisign signature")]
    Malformed,
    /// Signed with a key nobody trusts.
    #[error("is signed by key {found}, which is not a trusted key (trusted: {trusted}): pass the signer's public key with --trusted-key")]
    UntrustedKey {
        /// The signer.
        found: KeyId,
        /// The keys that were tried.
        trusted: String,
    },
    /// Right key, wrong bytes.
    #[error("does not verify with trusted key {0}: the data was modified after signing")]
    Invalid(KeyId),
    /// Not prehashed (legacy minisign), which we refuse.
    #[error("uses minisign's legacy non-prehashed algorithm, which is refused")]
    Legacy,
}

impl PublicKey {
    fn from_parts(key_id: KeyId, public: [u8; 32]) -> Self {
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&key_id.0);
        raw.extend_from_slice(&public);
        let line = BASE64_STANDARD.encode(raw);
        // `line` is exactly what minisign-verify parses.
        #[allow(clippy::expect_used)]
        let inner = minisign_verify::PublicKey::from_base64(&line).expect("well-formed public key");
        let text = format!("untrusted comment: minisign public key {key_id}\n{line}\n");
        Self { key_id, text, inner }
    }

    /// Reads a `.pub` file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = read_text(path)?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// Parses a `.pub` file's text, or just its base64 line.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, KeyError> {
        let not_key = || KeyError::NotPublicKey(origin.to_owned());
        let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("untrusted comment:")).ok_or_else(not_key)?;
        let raw = BASE64_STANDARD.decode(line).map_err(|_| not_key())?;
        if raw.len() != 42 || &raw[..2] != b"Ed" {
            return Err(not_key());
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&raw[2..10]);
        let mut public = [0u8; 32];
        public.copy_from_slice(&raw[10..]);
        Ok(Self::from_parts(KeyId(key_id), public))
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// A streaming verifier of `signature` (prehashed only), fed with `update` as bytes pass.
    pub fn stream_verifier<'a>(
        &'a self,
        signature: &'a minisign_verify::Signature,
    ) -> Result<minisign_verify::StreamVerifier<'a>, SignatureError> {
        self.inner.verify_stream(signature).map_err(|e| match e {
            minisign_verify::Error::UnexpectedKeyId => SignatureError::Invalid(self.key_id),
            _ => SignatureError::Legacy,
        })
    }

    /// The `.pub` file text (`untrusted comment` line + base64 line).
    pub fn to_text(&self) -> &str {
        &self.text
    }

    /// Verifies `signature` (a `.minisig` text) over `data` with the trusted key whose id it
    /// names; returns that key and the verified trusted comment.
    pub fn verify_with<'k>(keys: &'k [PublicKey], data: &[u8], signature: &str) -> Result<(&'k PublicKey, String), SignatureError> {
        let sig = minisign_verify::Signature::decode(signature).map_err(|_| SignatureError::Malformed)?;
        let found = signature_key_id(signature).ok_or(SignatureError::Malformed)?;
        let key = keys.iter().find(|k| k.key_id == found).ok_or_else(|| SignatureError::UntrustedKey {
            found,
            trusted: keys.iter().map(|k| k.key_id.to_string()).collect::<Vec<_>>().join(", "),
        })?;
        match key.inner.verify(data, &sig, false) {
            Ok(()) => Ok((key, sig.trusted_comment().to_owned())),
            Err(minisign_verify::Error::UnexpectedAlgorithm) => Err(SignatureError::Legacy),
            Err(_) => Err(SignatureError::Invalid(found)),
        }
    }
}

/// The key id a `.minisig` text names, if it is well formed.
pub fn signature_key_id(signature: &str) -> Option<KeyId> {
    let raw = BASE64_STANDARD.decode(signature.lines().nth(1)?.trim()).ok()?;
    let id: [u8; 8] = raw.get(2..10)?.try_into().ok()?;
    (raw.len() == 74).then_some(KeyId(id))
}

/// A freshly generated key pair, as the text of its two files.
pub struct GeneratedKeyPair {
    /// The `.pub` file.
    pub public: String,
    /// The `.key` file (encrypted when a password was given).
    pub secret: String,
    /// Its id.
    pub key_id: KeyId,
}

/// Generates a key pair in minisign's format; `password: None` gives an unencrypted secret key
/// (what `minisign -G -W` makes).
pub fn generate_key_pair(password: Option<&str>, comment: &str) -> Result<GeneratedKeyPair, KeyError> {
    let generate = |e: minisign::PError| KeyError::Generate(e.to_string());
    let pair = match password {
        None => minisign::KeyPair::generate_unencrypted_keypair().map_err(generate)?,
        Some(pw) => minisign::KeyPair::generate_encrypted_keypair(Some(pw.to_owned())).map_err(generate)?,
    };
    let public = pair.pk.to_box().map_err(generate)?.to_string();
    let secret = pair.sk.to_box(Some(comment)).map_err(generate)?.to_string();
    let key_id = PublicKey::from_text(&public, "generated key")?.key_id;
    Ok(GeneratedKeyPair { public, secret, key_id })
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    fs_err::read_to_string(path).map_err(|source| KeyError::Read { path: path.display().to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (SigningKey, GeneratedKeyPair) {
        let pair = generate_key_pair(None, "test").unwrap();
        (SigningKey::from_text(&pair.secret, None, "test.key").unwrap(), pair)
    }

    #[test]
    fn signatures_are_deterministic_and_verify() {
        let (sk, pair) = key();
        let a = sk.sign(&b"hello"[..], "airbundle test").unwrap();
        assert_eq!(a, sk.sign(&b"hello"[..], "airbundle test").unwrap());
        let pk = PublicKey::from_text(&pair.public, "test.pub").unwrap();
        assert_eq!(pk.key_id(), sk.key_id());
        let keys = [pk];
        let (used, comment) = PublicKey::verify_with(&keys, b"hello", &a).unwrap();
        assert_eq!((used.key_id(), comment.as_str()), (sk.key_id(), "airbundle test"));
        assert_eq!(PublicKey::verify_with(&keys, b"hellO", &a).unwrap_err(), SignatureError::Invalid(sk.key_id()));
    }

    #[test]
    fn tampered_trusted_comment_fails() {
        let (sk, pair) = key();
        let sig = sk.sign(&b"x"[..], "kubernetes=v1.31.2").unwrap().replace("v1.31.2", "v1.31.3");
        let keys = [PublicKey::from_text(&pair.public, "p").unwrap()];
        assert!(matches!(PublicKey::verify_with(&keys, b"x", &sig), Err(SignatureError::Invalid(_))));
    }

    #[test]
    fn other_key_is_untrusted_and_named() {
        let (sk, _) = key();
        let (_, other) = key();
        let keys = [PublicKey::from_text(&other.public, "p").unwrap()];
        let err = PublicKey::verify_with(&keys, b"x", &sk.sign(&b"x"[..], "c").unwrap()).unwrap_err();
        assert!(err.to_string().contains(&sk.key_id().to_string()), "{err}");
    }

    #[test]
    fn encrypted_key_needs_the_right_password() {
        let pair = generate_key_pair(Some("s3cret"), "enc").unwrap();
        assert!(matches!(SigningKey::from_text(&pair.secret, None, "k"), Err(KeyError::PasswordNeeded(_))));
        assert!(matches!(SigningKey::from_text(&pair.secret, Some("nope"), "k"), Err(KeyError::Decrypt(_))));
        let sk = SigningKey::from_text(&pair.secret, Some("s3cret"), "k").unwrap();
        assert_eq!(sk.key_id(), pair.key_id);
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(matches!(SigningKey::from_text("hello\nworld\n", None, "k"), Err(KeyError::NotSecretKey(_))));
        assert!(matches!(PublicKey::from_text("hello\n", "p"), Err(KeyError::NotPublicKey(_))));
    }
}
