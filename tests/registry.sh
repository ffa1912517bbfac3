# Sourced by tests/demo.sh and tests/bench/*.sh. start_registry DIR starts Debian's
# docker-registry on a free 127.0.0.1 port with its storage in DIR, and sets REG (host:port)
# and REG_PID. The caller kills REG_PID when done.
start_registry() {
  local dir=$1
  mkdir -p "$dir"
  cat > "$dir/config.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/data}}
http: {addr: "127.0.0.1:0", secret: airadm}
YAML
  docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 & REG_PID=$!
  for _ in $(seq 200); do grep -q 'listening on' "$dir/log" && break; sleep 0.05; done
  REG=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$dir/log" | awk '{print $3}')
  [ -n "$REG" ] || { echo "docker-registry did not start:" >&2; cat "$dir/log" >&2; return 1; }
}

# start_containerd DIR starts Debian's containerd with the CRI plugin, its root, state and
# sockets in DIR (overlayfs snapshotter, sandbox image pause:3.10), waits until it answers, and
# sets CTD_SOCK and CTD_PID. The caller kills CTD_PID when done.
start_containerd() {
  local c=$1
  rm -rf "$c"; mkdir -p "$c/cni"
  cat > "$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$c/cni"
TOML
  containerd --config "$c/config.toml" > "$c/log" 2>&1 & CTD_PID=$!
  CTD_SOCK=$c/containerd.sock
  for _ in $(seq 200); do ctr --address "$CTD_SOCK" version >/dev/null 2>&1 && return; sleep 0.05; done
  echo "containerd did not start:" >&2; cat "$c/log" >&2; return 1
}
