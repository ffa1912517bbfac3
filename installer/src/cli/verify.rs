//! `airadm verify`: one streaming pass over a bundle; exit 0 only if everything checks out.

use std::io::{BufReader, Read, Write as _};
use std::path::Path;

use anyhow::Context as _;
use bundle::manifest::MAX_SIGNATURE_SIZE;

use super::VerifyArgs;
use crate::trusted_keys;

/// Runs `airadm verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let keys = trusted_keys::load(&args.trusted_keys, Path::new(trusted_keys::TRUSTED_KEYS_DIR))?;
    let input: Box<dyn Read> = match args.bundle.to_str() {
        Some("-") => Box::new(std::io::stdin().lock()),
        _ => Box::new(fs_err::File::open(&args.bundle)?),
    };
    let file_signature = detached_signature(&args.bundle, args.signature.as_deref())?;
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

/// `--signature`, else `<bundle>.minisig` when it exists; never a file beside stdin (`-`). The
/// file is not trusted yet, so at most a minisign signature's worth of it is read.
pub(crate) fn detached_signature(bundle: &Path, flag: Option<&Path>) -> anyhow::Result<Option<String>> {
    let path = match flag {
        Some(path) => path.to_owned(),
        None if bundle == Path::new("-") => return Ok(None),
        None => {
            let mut path = bundle.to_owned().into_os_string();
            path.push(".minisig");
            let path = std::path::PathBuf::from(path);
            if !path.is_file() {
                return Ok(None);
            }
            path
        }
    };
    let mut text = String::new();
    fs_err::File::open(&path)?.take(MAX_SIGNATURE_SIZE + 1).read_to_string(&mut text).with_context(|| format!("`{}`", path.display()))?;
    if text.len() as u64 > MAX_SIGNATURE_SIZE {
        let size = fs_err::metadata(&path)?.len();
        anyhow::bail!(
            "detached signature `{}` is {size} bytes, more than the {MAX_SIGNATURE_SIZE} a minisign signature takes: replace it with the bundle's own .minisig",
            path.display()
        );
    }
    Ok(Some(text))
}
