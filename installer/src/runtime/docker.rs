//! cri-dockerd: images are loaded into the Docker Engine behind it through its API
//! (`POST /images/load` on `/var/run/docker.sock`). Docker 20.10 loads only the docker-archive
//! format, so the verified, staged OCI layout is converted on the fly: `manifest.json`, each
//! config as `<hex>.json`, each layer blob (gzip as it is: docker decompresses) as
//! `<hex>/layer.tar`, streamed with chunked encoding; nothing is written to disk for it.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use bundle::Image;

/// Loading into Docker failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The Engine socket does not answer.
    #[error("Docker Engine socket `{}` does not answer: is dockerd running? (choose another with --docker-socket)", socket.display())]
    Connect {
        /// The socket.
        socket: std::path::PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The load failed.
    #[error("Docker refused the images: {0}")]
    Load(String),
    /// Reading the staged layout or talking to the socket failed.
    #[error("failed to stream the images to Docker")]
    Io(#[from] io::Error),
}

/// Loads `images` from the staged OCI layout at `layout` into the Engine at `socket`.
pub fn load(socket: &Path, layout: &Path, images: &[Image]) -> Result<(), DockerError> {
    let stream = UnixStream::connect(socket).map_err(|source| DockerError::Connect { socket: socket.to_owned(), source })?;
    let mut request = stream.try_clone()?;
    write!(
        request,
        "POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Chunked(io::BufWriter::with_capacity(1 << 20, request));
    write_archive(&mut body, layout, images)?;
    body.finish()?;
    let mut response = String::new();
    (&stream).read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).unwrap_or_default().to_owned();
    if status != "200" || response.contains("\"errorDetail\"") {
        let detail = response.lines().rev().find(|l| l.contains("error")).unwrap_or(&response).trim().to_owned();
        return Err(DockerError::Load(format!("HTTP {status}: {detail}")));
    }
    Ok(())
}

/// Asks the Engine whether it has image `name` (`GET /images/{name}/json`).
pub fn has_image(socket: &Path, name: &str) -> Result<bool, DockerError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| DockerError::Connect { socket: socket.to_owned(), source })?;
    write!(stream, "GET /images/{name}/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.split_whitespace().nth(1) == Some("200"))
}

fn write_archive(out: &mut impl Write, layout: &Path, images: &[Image]) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written = BTreeSet::new();
    let mut manifest = Vec::new();
    for image in images {
        let config = format!("{}.json", image.config.hex());
        let layers: Vec<String> = image.layers.iter().map(|l| format!("{}/layer.tar", l.hex())).collect();
        for (name, digest) in std::iter::once((&config, &image.config)).chain(layers.iter().zip(&image.layers)) {
            if written.insert(name.clone()) {
                let path = layout.join("blobs/sha256").join(digest.hex());
                let mut file = fs_err::File::open(&path)?;
                let mut header = tar::Header::new_gnu();
                header.set_size(file.metadata()?.len());
                header.set_mode(0o644);
                tar.append_data(&mut header, name, &mut file)?;
            }
        }
        // docker-archive tags cannot carry a digest; such images load untagged.
        let tags: Vec<&str> = if image.name.contains('@') { vec![] } else { vec![image.name.as_str()] };
        manifest.push(serde_json::json!({"Config": config, "RepoTags": tags, "Layers": layers}));
    }
    let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "manifest.json", &manifest[..])?;
    tar.into_inner()?.flush()
}

/// HTTP/1.1 chunked transfer encoding.
struct Chunked<W: Write>(W);

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !buf.is_empty() {
            write!(self.0, "{:x}\r\n", buf.len())?;
            self.0.write_all(buf)?;
            self.0.write_all(b"\r\n")?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Chunked<W> {
    fn finish(mut self) -> io::Result<()> {
        self.0.write_all(b"0\r\n\r\n")?;
        self.0.flush()
    }
}

/// What a running cri-dockerd uses as its sandbox image: `Some(Some(image))` from its
/// `--pod-infra-container-image`, `Some(None)` when it runs without the flag (its built-in default
/// applies), `None` when no cri-dockerd process is found under `proc` (normally `/proc`).
pub fn cri_dockerd_pause_image(proc: &Path) -> Option<Option<String>> {
    let processes = fs_err::read_dir(proc).ok()?;
    for process in processes.filter_map(Result::ok) {
        let comm = fs_err::read_to_string(process.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != "cri-dockerd" {
            continue;
        }
        let cmdline = fs_err::read(process.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let flag = "--pod-infra-container-image";
        let image = args.iter().enumerate().find_map(|(i, arg)| match arg.strip_prefix(flag) {
            Some(rest) if rest.starts_with('=') => Some(rest[1..].to_owned()),
            Some("") => args.get(i + 1).cloned(),
            _ => None,
        });
        return Some(image);
    }
    None
}

#[cfg(test)]
mod tests {
    fn process(proc: &std::path::Path, pid: u32, comm: &str, args: &[&str]) {
        let dir = proc.join(pid.to_string());
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        fs_err::write(dir.join("cmdline"), args.iter().map(|a| format!("{a}\0")).collect::<String>()).unwrap();
    }

    #[test]
    fn cri_dockerd_sandbox_image_comes_from_its_command_line() {
        let proc = tempfile::tempdir().unwrap();
        process(proc.path(), 1, "systemd", &["/sbin/init"]);
        assert_eq!(super::cri_dockerd_pause_image(proc.path()), None);
        process(proc.path(), 7, "cri-dockerd", &["/usr/bin/cri-dockerd", "--container-runtime-endpoint", "fd://"]);
        assert_eq!(super::cri_dockerd_pause_image(proc.path()), Some(None));
        process(proc.path(), 7, "cri-dockerd", &["/usr/bin/cri-dockerd", "--pod-infra-container-image=registry.k8s.io/pause:3.10"]);
        assert_eq!(super::cri_dockerd_pause_image(proc.path()), Some(Some("registry.k8s.io/pause:3.10".into())));
        process(proc.path(), 7, "cri-dockerd", &["/usr/bin/cri-dockerd", "--pod-infra-container-image", "example.com/pause:1"]);
        assert_eq!(super::cri_dockerd_pause_image(proc.path()), Some(Some("example.com/pause:1".into())));
    }
}
