# Sourced by tests/demo.sh and tests/bench/*.sh: start_registry DIR starts Debian's
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
