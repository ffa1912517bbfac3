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
    let verified = bundle::verify_stream(BufReader::with_capacity(1 << 20, input), &keys, &mut bundle::Discard)
        .with_context(|| format!("`{}`", args.bundle.display()))?;
    let m = &verified.manifest;
    writeln!(
        std::io::stdout().lock(),
        "{}: OK: Kubernetes {} {}/{}, {} images, {} entries, signed by key {}",
        args.bundle.display(), m.kubernetes_version, m.os, m.arch, m.images.len(), m.entries.len() + 2, verified.signer
    )?;
    Ok(())
}
