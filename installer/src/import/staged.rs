//! CRI-O and cri-dockerd: the verified OCI layout is staged in a directory, then handed to
//! skopeo (containers-storage) or the Docker Engine (`POST /images/load`).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use bundle::EntrySink;

use super::sink::{StagingSink, WithBinaries};
use super::{ImportError, ImportOptions, ImportReport, ImportedImage, check_visible, checked, drop_in_fix, open_bundle, sandbox_advice};
use crate::runtime::cri::Cri;

/// CRI-O and cri-dockerd: verify while staging the OCI layout, then copy each image into
/// containers-storage (CRI-O) or load them all into the Docker Engine (cri-dockerd). The staging
/// directory is removed whatever happens; nothing reaches the runtime before the whole bundle
/// checked out.
pub(super) async fn import(mut options: ImportOptions) -> Result<ImportReport, ImportError> {
    let docker = options.runtime.as_deref() == Some("docker");
    // CRI-O's configured sandbox image, read before anything is staged: a config file CRI-O
    // would refuse stops the import here.
    let crio_pause = if docker {
        None
    } else {
        crate::runtime::crio::preflight()?;
        Some(crate::runtime::crio::pause_image(&options.crio_config_dir)?)
    };
    fs_err::create_dir_all(&options.staging_dir)?;
    let staging = tempfile::Builder::new().prefix("airadm-staging-").tempdir_in(&options.staging_dir)?;
    let (file, reading) = open_bundle(&options)?;
    let mut sink = StagingSink { dir: staging.path().to_owned(), gate: options.gate(), configs: BTreeMap::new() };
    let (keys, signature, bundle_path, dry_run) =
        (options.keys.clone(), options.file_signature.clone(), options.bundle.clone(), options.dry_run);
    let binaries = options.binaries.take();
    let (manifest, sink, binaries) = tokio::task::spawn_blocking(move || {
        let mut discard = sink.gate.clone();
        let target: &mut dyn EntrySink = if dry_run { &mut discard } else { &mut sink };
        let mut both = WithBinaries { sink: target, binaries };
        let verified = bundle::verify_stream(io::BufReader::with_capacity(1 << 20, file), &keys, signature.as_deref(), &mut both);
        let binaries = both.binaries;
        (verified, sink, binaries)
    })
    .await
    .map_err(|e| ImportError::Join(e.to_string()))?;
    let manifest = checked(manifest, &reading, bundle_path)?.manifest;
    if docker && !dry_run {
        let (socket, layout, images) = (options.docker_socket.clone(), staging.path().join("oci"), manifest.images.clone());
        tokio::task::spawn_blocking(move || -> Result<(), crate::runtime::docker::DockerError> {
            crate::runtime::docker::load(&socket, &layout, &images)?;
            let missing: Vec<&str> = images
                .iter()
                .filter(|i| !i.name.contains('@'))
                .filter(|i| !crate::runtime::docker::has_image(&socket, &i.name).unwrap_or(false))
                .map(|i| i.name.as_str())
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(crate::runtime::docker::DockerError::Load(format!("not present after loading: {}", missing.join(", "))))
            }
        })
        .await
        .map_err(|e| ImportError::Join(e.to_string()))??;
    }
    let mut images = Vec::new();
    for image in &manifest.images {
        if !dry_run && !docker {
            let (layout, name, arch) = (staging.path().join("oci"), image.name.clone(), manifest.arch.clone());
            tokio::task::spawn_blocking(move || crate::runtime::crio::copy_image(&layout, &name, &arch))
                .await
                .map_err(|e| ImportError::Join(e.to_string()))??;
        }
        let status = if dry_run { "would import" } else { "imported" };
        images.push(ImportedImage { name: image.name.clone(), digest: image.digest, size: image.size, status: status.into() });
    }
    // What the kubelet sees, when the CRI socket answers (not when the runtime was named with
    // --runtime and is not running).
    let mut cri_checked = false;
    if !dry_run
        && !options.socket.as_os_str().is_empty()
        && let Ok(channel) = containerd_client::connect(&options.socket).await
    {
        check_visible(&mut Cri::new(channel), &manifest).await?;
        cri_checked = true;
    }
    let sandbox = if docker {
        // Only a running cri-dockerd tells (by its command line).
        crate::runtime::docker::cri_dockerd_pause_image(Path::new("/proc")).and_then(|configured| {
            sandbox_advice("cri-dockerd", configured, true, &manifest, |bundle| {
                format!("start cri-dockerd with --pod-infra-container-image={bundle} (its systemd unit's ExecStart) and restart it")
            })
        })
    } else {
        let configured = crio_pause.flatten();
        sandbox_advice("CRI-O", configured, true, &manifest, |_| {
            drop_in_fix(&sink.configs, "configs/crio/10-airadm.conf", "save this as /etc/crio/crio.conf.d/10-airadm.conf and restart CRI-O")
        })
    };
    Ok(ImportReport { images, sandbox, cri_checked, binaries })
}
