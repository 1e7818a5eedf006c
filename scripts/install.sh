#!/bin/sh
# install.sh: install tillbox on a Debian or Raspberry Pi OS box, as root.
#
#   sudo scripts/install.sh [--binary PATH]
#
# What goes where (see docs/install.md, "Install on a box"):
#   user and group tillbox   system user, shell nologin, home /var/lib/tillbox;
#                            made only when absent, with the comment
#                            "tillbox agent (created by install.sh)", which
#                            tells uninstall.sh --purge it may remove them
#   /usr/local/bin/tillbox   the binary (--binary PATH; default bin/tillbox of
#                            this checkout, else dist/tillbox-linux-ARCH)
#   /etc/tillbox/            root:tillbox 0750: read-only to the service
#                            (PRODUCT.md); the technician page saves to
#                            /var/lib/tillbox/settings.toml instead
#   /etc/tillbox/tillbox.toml  from `tillbox config example`, only when there
#                            is none: an existing configuration is never
#                            overwritten. root:tillbox 0640, as every file
#                            beside it (secrets): never writable by the
#                            service, never readable by others
#   /var/lib/tillbox/        the data: tillbox:tillbox 0750 (the database,
#                            the page's settings.toml, technician.passwd)
#   /etc/systemd/system/tillbox.service
#   /etc/udev/rules.d/70-tillbox.rules  `tillbox udev-rules`: the configured
#                            scanners, and nothing else, for the group tillbox
# Then, when systemd runs (not in a chroot): daemon-reload, the udev rules
# applied, and `systemctl enable --now tillbox`.
#
# Running it again changes only what differs: it is how the udev rules follow
# a change of the [[scanner]] tables, and how a new binary is installed.
set -eu

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

usage() {
	cat >&2 <<'EOF'
usage: install.sh [--binary PATH]

Installs tillbox: the system user tillbox, /usr/local/bin/tillbox,
/etc/tillbox/tillbox.toml (only when absent), /var/lib/tillbox, the systemd
unit and the udev rules of the configured scanners. Run it as root; running
it again changes only what differs.
EOF
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
binary=
while [ $# -gt 0 ]; do
	case "$1" in
	--binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
	--binary=*) binary=${1#--binary=}; shift ;;
	-h | --help) usage ;;
	*) printf 'install: unknown argument %s\n' "$1" >&2; usage ;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root (it creates a system user and writes to /etc and /usr/local): sudo $0${binary:+ --binary $binary}"

USER_NAME=tillbox
# The comment (GECOS) of a user install.sh made: uninstall.sh --purge
# removes only such a user.
CREATED_BY_US="tillbox agent (created by install.sh)"
BIN=/usr/local/bin/tillbox
ETC=/etc/tillbox
CONFIG=$ETC/tillbox.toml
DATA=/var/lib/tillbox
UNIT=/etc/systemd/system/tillbox.service
RULES=/etc/udev/rules.d/70-tillbox.rules
UNIT_SRC=$here/systemd/tillbox.service

# The binary: the one named, or this checkout's, or the release binary for
# this machine's architecture.
if [ -z "$binary" ]; then
	case "$(uname -m)" in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	armv7l | armv7* | armv8l) arch=armv7 ;;
	*) arch=$(uname -m) ;;
	esac
	for b in "$top/bin/tillbox" "$top/dist/tillbox-linux-$arch" "$here/tillbox-linux-$arch"; do
		if [ -f "$b" ]; then binary=$b; break; fi
	done
	[ -n "$binary" ] || die "no tillbox binary: build one (make build, or make release for dist/tillbox-linux-$arch) or name it with --binary PATH"
fi
[ -f "$binary" ] || die "--binary $binary: no such file"
"$binary" version >/dev/null 2>&1 || die "$binary does not run on this machine ($(uname -m)): use the release binary for it (make release: dist/tillbox-linux-amd64, -arm64 or -armv7)"
[ -f "$UNIT_SRC" ] || die "$UNIT_SRC is missing: run the install.sh of a tillbox checkout"

changed=0
note_change() { changed=1; say "$*"; }

# put SRC DEST MODE: install SRC as DEST (root:root) unless it is the same.
put() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		fix "$2" root root "$3"
		say "$2: unchanged"
	else
		mkdir -p "$(dirname "$2")"
		tmp=$(mktemp "$2.XXXXXX")
		cat "$1" >"$tmp"
		chown root:root "$tmp"
		chmod "$3" "$tmp"
		existed=$([ -e "$2" ] && echo updated || echo installed)
		mv -f "$tmp" "$2"
		note_change "$2: $existed"
	fi
}

# fix PATH OWNER GROUP MODE: set ownership and mode where they differ.
fix() {
	cur=$(stat -c '%U:%G %a' "$1")
	want="$2:$3 $(printf '%o' "0$4")"
	if [ "$cur" != "$want" ]; then
		chown "$2:$3" "$1"
		chmod "$4" "$1"
		note_change "$1: was $cur, now $want"
	fi
}

# The system user and its group.
if ! getent group "$USER_NAME" >/dev/null; then
	groupadd --system "$USER_NAME"
	note_change "created the system group $USER_NAME"
fi
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin
if ! getent passwd "$USER_NAME" >/dev/null; then
	useradd --system --gid "$USER_NAME" --home-dir "$DATA" --no-create-home \
		--shell "$nologin" --comment "$CREATED_BY_US" "$USER_NAME"
	note_change "created the system user $USER_NAME (no login, home $DATA)"
else
	entry=$(getent passwd "$USER_NAME")
	home=$(echo "$entry" | cut -d: -f6)
	shell=$(echo "$entry" | cut -d: -f7)
	gid=$(echo "$entry" | cut -d: -f4)
	if [ "$home" != "$DATA" ] || [ "$shell" != "$nologin" ] || [ "$gid" != "$(getent group "$USER_NAME" | cut -d: -f3)" ]; then
		usermod --home "$DATA" --shell "$nologin" --gid "$USER_NAME" "$USER_NAME"
		note_change "user $USER_NAME: home $DATA, shell $nologin, group $USER_NAME (were $home, $shell, gid $gid)"
	fi
fi

# The binary.
put "$binary" "$BIN" 0755

# The configuration's folder, and the configuration only when absent: both
# read-only to the service (the technician page saves to the data folder).
if [ ! -d "$ETC" ]; then
	install -d -o root -g "$USER_NAME" -m 0750 "$ETC"
	note_change "created $ETC (root:$USER_NAME 750)"
fi
fix "$ETC" root "$USER_NAME" 0750
if [ -e "$CONFIG" ]; then
	say "$CONFIG: kept as it is (never overwritten)"
else
	tmp=$(mktemp "$CONFIG.XXXXXX")
	"$BIN" config example >"$tmp"
	chown "root:$USER_NAME" "$tmp"
	chmod 0640 "$tmp"
	mv "$tmp" "$CONFIG"
	note_change "$CONFIG: written from \`tillbox config example\` (it runs against tillbox sim; edit it for real payments)"
fi
# The configuration and the secrets beside it: root's, readable by the
# service (group tillbox), never writable by it, never readable by others.
for f in "$ETC"/* "$ETC"/.[!.]*; do
	if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
	case "$f" in *.toml.??????) continue ;; esac # a rewrite in progress
	fix "$f" root "$USER_NAME" 0640
done

# The data.
if [ ! -d "$DATA" ]; then
	install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$DATA"
	note_change "created $DATA ($USER_NAME:$USER_NAME 750)"
fi
fix "$DATA" "$USER_NAME" "$USER_NAME" 0750
data_dir=$(sed -n 's/^[[:space:]]*data_dir[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$CONFIG" | tail -1)
if [ -n "$data_dir" ] && [ "$data_dir" != "$DATA" ]; then
	say "warning: box.data_dir is $data_dir, but the unit lets tillbox write only to $DATA (ReadWritePaths)"
fi

# The unit and the udev rules of the configured scanners.
put "$UNIT_SRC" "$UNIT" 0644
rules=$(mktemp)
trap 'rm -f "$rules"' EXIT
"$BIN" udev-rules --config "$CONFIG" --group "$USER_NAME" >"$rules" ||
	die "cannot make the udev rules from $CONFIG (above); fix it (tillbox config check $CONFIG) and run install.sh again"
put "$rules" "$RULES" 0644

# Tell systemd and udev, when they run.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	if command -v udevadm >/dev/null; then
		udevadm control --reload
		udevadm trigger --action=change --subsystem-match=tty --subsystem-match=usb
		udevadm settle || true
	fi
	was_active=$(systemctl is-active tillbox 2>/dev/null || true)
	systemctl enable --now tillbox
	if [ "$was_active" = active ] && [ "$changed" = 1 ]; then
		if "$BIN" busy --config "$CONFIG" >/dev/null 2>&1; then
			systemctl restart tillbox
			say "restarted tillbox (no payment was in flight)"
		else
			say "tillbox runs the previous installation: restart it when no payment is in flight: tillbox busy && systemctl restart tillbox"
		fi
	fi
	say "tillbox is $(systemctl is-active tillbox || true); its log: journalctl -u tillbox"
else
	say "systemd is not running here (a chroot or a container?): skipped daemon-reload, the udev trigger and systemctl enable --now tillbox"
	say "on the booted box run: systemctl daemon-reload && udevadm trigger && systemctl enable --now tillbox"
fi
if [ "$changed" = 0 ]; then
	say "nothing to change: tillbox was already installed like this"
else
	say "done. Next: edit $CONFIG (tillbox config check $CONFIG), run tillbox doctor, and install.sh again after changing scanners"
fi
