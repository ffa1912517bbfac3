//! Pulling through a mirror: `--mirror HOST[:PORT][/PREFIX]` and where each image is pulled
//! from with it.

use std::str::FromStr;

use oci_client::Reference;

/// A pull-through location for images: `HOST[:PORT][/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    host: String,
    prefix: Option<String>,
}

impl FromStr for Mirror {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains("://") {
            return Err(format!("`{s}`: give HOST[:PORT][/PREFIX] without a scheme (add --plain-http for a mirror without TLS)"));
        }
        let s = s.trim_end_matches('/');
        let (host, prefix) = match s.split_once('/') {
            Some((host, prefix)) => (host, Some(prefix.to_owned())),
            None => (s, None),
        };
        if host.is_empty() || prefix.as_deref() == Some("") {
            return Err(format!("`{s}` is not HOST[:PORT][/PREFIX]"));
        }
        Ok(Self { host: host.to_owned(), prefix })
    }
}

/// Where to pull `name` (a reference as the cluster names it) from: the name itself, or with a
/// mirror, the mirror plus the path below `image_repository` (for catalog images) or below the
/// registry host (for extra images).
pub fn pull_reference(name: &str, image_repository: &str, mirror: Option<&Mirror>) -> Result<Reference, String> {
    let parsed: Reference = name.parse().map_err(|e| format!("image reference `{name}` is invalid: {e}"))?;
    let Some(mirror) = mirror else { return Ok(parsed) };
    let repository = format!("{}/{}", parsed.registry(), parsed.repository());
    let path = repository.strip_prefix(&format!("{}/", image_repository.trim_end_matches('/'))).unwrap_or(parsed.repository());
    let path = match &mirror.prefix {
        Some(prefix) => format!("{prefix}/{path}"),
        None => path.to_owned(),
    };
    Ok(match (parsed.tag(), parsed.digest()) {
        (Some(tag), Some(digest)) => Reference::with_tag_and_digest(mirror.host.clone(), path, tag.to_owned(), digest.to_owned()),
        (None, Some(digest)) => Reference::with_digest(mirror.host.clone(), path, digest.to_owned()),
        (tag, None) => Reference::with_tag(mirror.host.clone(), path, tag.unwrap_or("latest").to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_replaces_the_image_repository() {
        let m: Mirror = "127.0.0.1:5000".parse().unwrap();
        let r = pull_reference("registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io", Some(&m)).unwrap();
        assert_eq!(r.whole(), "127.0.0.1:5000/coredns/coredns:v1.11.3");
        let m: Mirror = "mirror.example/k8s/".parse().unwrap();
        let r = pull_reference("registry.k8s.io/pause:3.10", "registry.k8s.io", Some(&m)).unwrap();
        assert_eq!(r.whole(), "mirror.example/k8s/pause:3.10");
    }

    #[test]
    fn mirror_keeps_the_repository_path_of_extra_images() {
        let m: Mirror = "127.0.0.1:5000".parse().unwrap();
        let r = pull_reference("docker.io/calico/node:v3.28.0", "registry.k8s.io", Some(&m)).unwrap();
        assert_eq!(r.whole(), "127.0.0.1:5000/calico/node:v3.28.0");
    }

    #[test]
    fn without_mirror_the_name_is_pulled() {
        let r = pull_reference("registry.k8s.io/pause:3.10", "registry.k8s.io", None).unwrap();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("registry.k8s.io", "pause", Some("3.10")));
    }

    #[test]
    fn mirror_refuses_a_scheme() {
        assert!("http://127.0.0.1:5000".parse::<Mirror>().unwrap_err().contains("--plain-http"));
        assert!("".parse::<Mirror>().is_err());
    }
}
