//! `airadm version [-o short|json|yaml]`, shaped as `kubeadm version` (`bundle::build_info`).

use std::io::Write as _;

/// Prints this binary's `bundle::build_info::Info` as `-o` asks: kubeadm's `&version.Info{…}`
/// line by default, its YAML as kubeadm writes YAML.
pub fn run(output: Option<&str>) -> anyhow::Result<()> {
    let text = bundle::build_info!().render("airadm", output, crate::kubeadm::yaml::to_yaml).map_err(anyhow::Error::msg)?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
