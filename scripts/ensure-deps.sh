#!/usr/bin/env bash
# ensure-deps.sh: make sure every outside tool the test suite needs is here.
#
# Each line of NEEDS is "command debian-package" (or "/path debian-package"
# for a package without a command). A missing command is
# installed with apt-get when we run as root; otherwise the script stops and
# says what to install. Nothing is skipped in silence.
set -euo pipefail

NEEDS=(
  "go golang (install Go 1.26 from go.dev: the Debian package is too old)"
  "gcc gcc"
  "file file"
  "readelf binutils"
  "git git"
  # The hardware-in-the-loop test (scripts/hil): the static arm64 build with
  # cgo, the emulated arm64 box, and the relay of its network to the host's
  # loopback. Its arm64 kernel and busybox come from scripts/hil/fetch.sh.
  "aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu"
  "/usr/aarch64-linux-gnu/lib/libc.a libc6-dev-arm64-cross"
  "qemu-system-aarch64 qemu-system-arm"
  "socat socat"
  "dpkg-deb dpkg"
  # make release and its check in make test: static cross builds for
  # armv7 (arm64 above), their checksums, and qemu-user to start the arm
  # binaries on this machine.
  "arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf"
  "/usr/arm-linux-gnueabihf/lib/libc.a libc6-dev-armhf-cross"
  "qemu-aarch64-static qemu-user-static"
  "sha256sum coreutils"
  # make test verifies the systemd unit in scripts/systemd.
  "systemd-analyze systemd"
  # scripts/installtest runs install.sh in a Debian root it makes with
  # debootstrap (its udevadm and systemd-analyze come inside that root).
  "debootstrap debootstrap"
  "/usr/share/keyrings/debian-archive-keyring.gpg debian-archive-keyring"
  "chroot coreutils"
  # The customer display's tests drive a real headless Chromium (chromedp)
  # and screenshot its screens with the box's font.
  "chromium chromium"
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf fonts-dejavu-core"
  # agent/posapi's TestTypeScriptClient: a POS in TypeScript typed from
  # openapi.yaml (openapi-typescript, openapi-fetch, tsc from the npm
  # registry, pinned by its package-lock.json), run with Node.js (18 or later).
  "node nodejs"
  "npm npm"
  "npx npm"
  # The chain tests (cmd/tillbox-hq/internal/pgtest): PostgreSQL's server
  # and initdb, which Debian keeps off PATH, run as the postgres user the
  # package creates.
  "/usr/lib/postgresql/*/bin/postgres postgresql"
  "/usr/lib/postgresql/*/bin/initdb postgresql"
)

missing_pkgs=()
missing_cmds=()
for line in "${NEEDS[@]}"; do
  cmd=${line%% *}
  pkg=${line#* }
  case "$cmd" in
    *'*'*) present() { compgen -G "$1" >/dev/null; } ;;
    /*) present() { [ -e "$1" ]; } ;;
    *) present() { command -v "$1" >/dev/null 2>&1; } ;;
  esac
  if ! present "$cmd"; then
    missing_cmds+=("$cmd")
    case "$pkg" in
      *" "*) echo "ensure-deps: '$cmd' is missing: $pkg" >&2; exit 1 ;;
      *) missing_pkgs+=("$pkg") ;;
    esac
  fi
done

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-deps: missing ${missing_cmds[*]}; run as root, or: sudo apt-get install -y ${missing_pkgs[*]}" >&2
    exit 1
  fi
  echo "ensure-deps: installing ${missing_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"
fi

# PostgreSQL refuses to run as root: pgtest runs it as the postgres user.
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "ensure-deps: PostgreSQL's postgres and initdb are not in /usr/lib/postgresql/*/bin after installing postgresql" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "ensure-deps: the postgres user is missing (the postgresql package creates it): the tests run PostgreSQL as that user" >&2
  exit 1
fi

# The Vipps MobilePay specs the tests validate against live beside the checkout.
specs="${TILLBOX_SPECS:-$(cd "$(dirname "$0")/.." && pwd)/../shared/specs}"
for f in epayment-api.yaml access-token-api.yaml webhooks-api.yaml order-management-api.yaml qr-api.yaml; do
  if [ ! -f "$specs/$f" ]; then
    echo "ensure-deps: $specs/$f is missing: the tests check the client and simulator against the official specs in ../shared/specs (or set TILLBOX_SPECS)" >&2
    exit 1
  fi
done
echo "ensure-deps: all tools present"
