//! `upload-certs` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/uploadcerts.go): the
//! control plane's CAs and keys, AES-GCM-encrypted, in the `kubeadm-certs` Secret.

use super::InitData;
use crate::kubeadm::{api, config};
use crate::phases::client::retrying;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<InitData> {
    super::api(
        "upload-certs",
        Phase::new("upload-certs", "Upload certificates to kubeadm-certs")
            .long("Upload control plane certificates to the kubeadm-certs Secret")
            .inherit(&["config", "kubeconfig", "upload-certs", "certificate-key", "skip-certificate-key-print", "dry-run"]),
    )
    .run(|data: &mut InitData| Box::pin(run(data)))
}

/// kubeadm's `runUploadCerts`: in the whole workflow, only with `--upload-certs`.
async fn run(data: &mut InitData) -> anyhow::Result<()> {
    if !data.options.upload_certs && data.options.phase.is_none() {
        return data.say(vec!["[upload-certs] Skipping phase. Please see --upload-certs".into()]);
    }
    let client = data.client().await?;
    let (cfg, root, now) = (&data.cfg, &data.root, data.now);
    let key = cfg.certificate_key.clone().unwrap_or_else(api::create_certificate_key);
    let token = config::generate_token();
    let lines = retrying(cfg, || api::upload_certs(&client, cfg, root, &key, &token, now)).await?;
    data.certificate_key = Some(key);
    data.say(lines)
}
