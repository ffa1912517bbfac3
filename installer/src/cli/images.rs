//! `airadm images import|list|check`.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use indicatif::HumanBytes;

use super::{ImagesCheckArgs, ImagesImportArgs, ImagesListArgs};
use crate::import::{self, ImportOptions};
use crate::runtime::{self, cri, cri::Cri};
use crate::trusted_keys;

/// `airadm images import`.
pub async fn import(args: ImagesImportArgs) -> anyhow::Result<()> {
    let keys = trusted_keys::load(&args.trusted_keys, Path::new(trusted_keys::TRUSTED_KEYS_DIR))?;
    let socket = match args.runtime.as_deref() {
        Some("cri-o" | "docker") => runtime::socket_path(args.cri_socket.as_deref(), Path::new("/")).unwrap_or_default(),
        _ => runtime::socket_path(args.cri_socket.as_deref(), Path::new("/"))?,
    };
    let file_signature = crate::bundle_file::detached_signature(&args.bundle, args.signature.as_deref())?;
    let arch = args.arch.clone().unwrap_or_else(|| import::node_arch().to_owned());
    let dry_run = args.dry_run;
    let options = ImportOptions {
        bundle: args.bundle,
        opened: None,
        expected: None,
        file_signature,
        keys,
        socket,
        snapshotter: args.snapshotter,
        arch,
        dry_run: args.dry_run,
        runtime: args.runtime,
        staging_dir: args.staging_dir,
        quiet: args.quiet,
        docker_socket: args.docker_socket,
        crio_config_dir: args.crio_config_dir,
        binaries: None,
    };
    let report = import::import(options).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<56} {:<71} {:>10}  STATUS", "IMAGE", "DIGEST", "SIZE")?;
    for image in &report.images {
        writeln!(out, "{:<56} {:<71} {:>10}  {}", image.name, image.digest.to_string(), HumanBytes(image.size).to_string(), image.status)?;
    }
    if let Some(advice) = &report.sandbox {
        let configured = advice.configured_words();
        writeln!(
            out,
            "\nwarning: {}'s sandbox image {configured}, the bundle's is {}: the first pod would try to pull it.\nTo fix it, {}",
            advice.runtime, advice.bundle, advice.fix
        )?;
    }
    if !report.cri_checked && !dry_run {
        writeln!(
            out,
            "\nnote: no CRI socket answered, so the images were not checked as the kubelet sees them: run `airadm images check` once the runtime is up"
        )?;
    }
    Ok(())
}

/// `airadm images list`: what the bundle holds (read without checking the signature).
pub fn list(args: ImagesListArgs) -> anyhow::Result<()> {
    let manifest = super::manifest_unverified(&args.bundle)?;
    let mut out = std::io::stdout().lock();
    for image in &manifest.images {
        writeln!(
            out,
            "{:<56} {}  {:>10}  {}/{}",
            image.name,
            image.digest,
            HumanBytes(image.size).to_string(),
            image.platform.os,
            image.platform.architecture
        )?;
    }
    Ok(())
}

/// `airadm images check`: whether the runtime holds each bundle image (by image id, over CRI);
/// fails if one is missing or another image has its name.
pub async fn check(args: ImagesCheckArgs) -> anyhow::Result<()> {
    let manifest = super::manifest_verified(&args.bundle, &args.trusted_keys)?;
    let socket = runtime::socket_path(args.cri_socket.as_deref(), Path::new("/"))?;
    let channel = containerd_client::connect(&socket)
        .await
        .with_context(|| format!("container runtime socket `{}` does not answer", socket.display()))?;
    let mut cri = Cri::new(channel);
    let answers = cri::held(&mut cri, &manifest.images).await?;
    let mut out = std::io::stdout().lock();
    for (image, held) in &answers {
        let status = match held {
            cri::Held::Same => "present".to_owned(),
            cri::Held::Missing => "MISSING".to_owned(),
            cri::Held::Other(id) => format!("NOT MATCHING: the runtime's is {id}, the bundle's {}", image.config),
        };
        writeln!(out, "{:<56} {status}", image.name)?;
    }
    let not_held = cri::not_held(&answers);
    anyhow::ensure!(
        not_held.is_empty(),
        "the runtime does not hold {not_held} as the bundle has them: run `airadm images import --bundle {}`",
        args.bundle.display()
    );
    Ok(())
}
