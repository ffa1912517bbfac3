//! The files beside a bundle: its detached signature, read with a bound before it is trusted.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use bundle::manifest::MAX_SIGNATURE_SIZE;

/// `--signature`, else `<bundle>.minisig` when it exists; never a file beside stdin (`-`). The
/// file is not trusted yet, so at most a minisign signature's worth of it is read.
pub fn detached_signature(bundle: &Path, flag: Option<&Path>) -> anyhow::Result<Option<String>> {
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
