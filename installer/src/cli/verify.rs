//! `airadm verify`: one streaming pass over a bundle; exit 0 only if everything checks out.

use std::io::{BufReader, Read, Write as _};
use std::path::Path;

use anyhow::Context as _;

use super::VerifyArgs;
use crate::trusted_keys;

/// Runs `airadm verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let keys = trusted_keys::load(&args.trusted_keys, Path::new(trusted_keys::TRUSTED_KEYS_DIR))?;
    let input: Box<dyn Read> = match args.bundle.to_str() {
        Some("-") => Box::new(std::io::stdin().lock()),
        _ => Box::new(fs_err::File::open(&args.bundle)?),
    };
    let file_signature = crate::bundle_file::detached_signature(&args.bundle, args.signature.as_deref())?;
    let verified = bundle::verify_stream(BufReader::with_capacity(1 << 20, input), &keys, file_signature.as_deref(), &mut bundle::Discard)
        .with_context(|| format!("`{}`", args.bundle.display()))?;
    let m = &verified.manifest;
    writeln!(
        std::io::stdout().lock(),
        "{}: OK: Kubernetes {} {}/{}, {} images, {} entries, signed by key {}{}",
        args.bundle.display(),
        m.kubernetes_version,
        m.os,
        m.arch,
        m.images.len(),
        m.entries.len() + 2,
        verified.signer,
        if file_signature.is_some() {
            ", detached signature OK"
        } else {
            " (no detached .minisig found: content checked by the embedded signature)"
        }
    )?;
    Ok(())
}
