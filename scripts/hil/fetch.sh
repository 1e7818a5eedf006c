#!/usr/bin/env bash
# fetch.sh: the arm64 parts of the hardware-in-the-loop rig that are not in
# the repository: Debian's arm64 kernel (with its modules) and arm64
# busybox-static, downloaded with apt-get and unpacked into a cache outside
# the checkout:
#
#   ${TILLBOX_HIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tillbox-hil}
#
# apt-get runs with its own package lists for arm64 under the cache, so the
# machine's architectures and lists are left alone and root is not needed.
# Once unpacked, nothing is fetched again (set TILLBOX_HIL_REFRESH=1 to fetch
# the newest kernel). On success it prints, one per line:
#
#   kernel=PATH   the kernel image (vmlinuz)
#   modules=DIR   the kernel's modules (DIR/kernel/...)
#   busybox=PATH  the static arm64 busybox
set -euo pipefail

cache="${TILLBOX_HIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tillbox-hil}"
current="$cache/current"

if [ -f "$current" ] && [ -z "${TILLBOX_HIL_REFRESH:-}" ]; then
  ok=1
  while IFS='=' read -r _ path; do
    [ -e "$path" ] || ok=
  done <"$current"
  if [ -n "$ok" ]; then
    cat "$current"
    exit 0
  fi
fi

for cmd in apt-get apt-cache dpkg-deb; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "hil/fetch.sh: '$cmd' is missing: the rig downloads Debian's arm64 kernel and busybox-static with apt (a Debian or Ubuntu machine)" >&2
    exit 1
  fi
done

apt="$cache/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$cache/debs"
opts=(
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Dir::State::Lists="$apt/lists" -o Dir::Cache::Archives="$apt/archives"
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)"
)
echo "hil/fetch.sh: updating the arm64 package lists in $apt" >&2
if ! apt-get -qq "${opts[@]}" update >&2; then
  echo "hil/fetch.sh: apt-get update for arm64 failed: the rig needs Debian's package mirror (see above)" >&2
  exit 1
fi
# linux-image-arm64 depends on the current kernel, linux-image-VERSION-arm64.
kpkg=$(apt-cache "${opts[@]}" depends linux-image-arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\)$/\1/p' | head -1)
if [ -z "$kpkg" ]; then
  echo "hil/fetch.sh: cannot tell the current arm64 kernel: 'apt-cache depends linux-image-arm64' names no linux-image-*-arm64" >&2
  exit 1
fi
kver=${kpkg#linux-image-}
echo "hil/fetch.sh: downloading $kpkg and busybox-static (arm64)" >&2
(cd "$cache/debs" && rm -f ./*.deb && apt-get -qq "${opts[@]}" download "$kpkg" busybox-static >&2)

root="$cache/arm64-$kver"
rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for deb in "$cache"/debs/*.deb; do
  dpkg-deb -x "$deb" "$root.tmp"
done
for f in "boot/vmlinuz-$kver" "lib/modules/$kver/kernel" bin/busybox; do
  if [ ! -e "$root.tmp/$f" ]; then
    echo "hil/fetch.sh: $f is not in the downloaded packages" >&2
    exit 1
  fi
done
rm -rf "$root"
mv "$root.tmp" "$root"
rm -rf "$cache/debs"
printf 'kernel=%s\nmodules=%s\nbusybox=%s\n' \
  "$root/boot/vmlinuz-$kver" "$root/lib/modules/$kver" "$root/bin/busybox" >"$current.tmp"
mv "$current.tmp" "$current"
cat "$current"
