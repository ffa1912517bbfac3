//! Bootstrap tokens: kubeadm's defaults for one, the `[a-z0-9]{6}.[a-z0-9]{16}` check, and
//! generating one.

use bundle::kubeadm::BootstrapToken;

use super::{ConfigError, invalid};

/// kubeadm's bootstrap-token defaults; a token is generated when none is given.
pub(super) fn default_token(mut token: BootstrapToken) -> Result<BootstrapToken, ConfigError> {
    match &token.token {
        Some(t) if !is_token(t) => {
            return Err(invalid(format!("bootstrapTokens.token (--token): `{t}` does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}")));
        }
        Some(_) => {}
        None => token.token = Some(generate_token()),
    }
    if token.expires.is_none() {
        token.ttl.get_or_insert_with(|| "24h0m0s".into());
    }
    token.usages.get_or_insert_with(|| vec!["signing".into(), "authentication".into()]);
    token.groups.get_or_insert_with(|| vec!["system:bootstrappers:kubeadm:default-node-token".into()]);
    Ok(token)
}

/// `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn is_token(token: &str) -> bool {
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    matches!(token.split_once('.'), Some((id, secret)) if ok(id, 6) && ok(secret, 16))
}

/// A random bootstrap token.
pub fn generate_token() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(23);
    let mut bytes = [0u8; 64];
    while out.len() < 23 {
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            continue;
        }
        // Only bytes below 252 = 7 × 36, so every character is equally likely.
        for b in bytes.iter().filter(|b| **b < 252) {
            if out.len() == 6 {
                out.push('.');
            }
            if out.len() < 23 {
                out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}
