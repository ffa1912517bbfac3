#!/usr/bin/env bash
# Makes, once per machine, a minimal root of an older Debian release with debootstrap (Debian's
# package, from Debian's mirror) and prints its directory: the old userland the static release
# airadm is proven to run in (tests/e2e/tests/it/release.rs).
#
#   tests/reference/oldroot.sh [SUITE]        (default bullseye: Debian 11, glibc 2.31)
#
# Cache: $AIRADM_OLDROOT_CACHE, default ~/.cache/airadm/roots/SUITE; made in a temp dir beside it
# and renamed into place whole, so an interrupted run leaves nothing to reuse. The mirror is
# $AIRADM_DEBIAN_MIRROR, else deb.debian.org, else archive.debian.org (where a release goes once
# its long-term support ends).
set -euo pipefail
SUITE=${1:-bullseye}
CACHE=${AIRADM_OLDROOT_CACHE:-${HOME:-/root}/.cache/airadm/roots}
ROOT=$CACHE/$SUITE
command -v debootstrap >/dev/null || { echo "oldroot: debootstrap not found: apt-get install debootstrap (or run .ci/deps.sh)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "oldroot: debootstrap needs root" >&2; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.$SUITE.lock"
flock 9
if [ ! -x "$ROOT/bin/sh" ]; then
  for mirror in ${AIRADM_DEBIAN_MIRROR:-http://deb.debian.org/debian http://archive.debian.org/debian}; do
    tmp=$(mktemp -d "$CACHE/.$SUITE.XXXXXX")
    echo "oldroot: debootstrap --variant=minbase $SUITE from $mirror into $ROOT (once per machine)" >&2
    if debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" > "$tmp.log" 2>&1; then
      rm -f "$tmp.log"
      rm -rf "$ROOT"
      mv "$tmp" "$ROOT"
      break
    fi
    echo "oldroot: debootstrap from $mirror failed:" >&2
    tail -5 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
  done
  [ -x "$ROOT/bin/sh" ] || { echo "oldroot: no mirror served $SUITE" >&2; exit 1; }
fi
echo "$ROOT"
