#!/bin/sh
# uninstall.sh: remove what scripts/install.sh installed, as root.
#
#   sudo scripts/uninstall.sh [--purge]
#
# Stops and disables the service, removes the unit, the udev rules and the
# binary. The configuration (/etc/tillbox), the data (/var/lib/tillbox: the
# database of sales) and the user tillbox stay, unless --purge: then they go
# too. Running it again is harmless.
set -eu

say() { printf 'uninstall: %s\n' "$*"; }
die() { printf 'uninstall: %s\n' "$*" >&2; exit 1; }

purge=0
while [ $# -gt 0 ]; do
	case "$1" in
	--purge) purge=1; shift ;;
	-h | --help)
		cat >&2 <<'EOF'
usage: uninstall.sh [--purge]

Stops and disables tillbox and removes the unit, the udev rules and
/usr/local/bin/tillbox. Keeps /etc/tillbox, /var/lib/tillbox (the database)
and the user tillbox unless --purge.
EOF
		exit 2 ;;
	*) printf 'uninstall: unknown argument %s (only --purge)\n' "$1" >&2; exit 2 ;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root: sudo $0$([ $purge = 1 ] && echo ' --purge')"

USER_NAME=tillbox
BIN=/usr/local/bin/tillbox
ETC=/etc/tillbox
DATA=/var/lib/tillbox
UNIT=/etc/systemd/system/tillbox.service
WANTS=/etc/systemd/system/multi-user.target.wants/tillbox.service
RULES=/etc/udev/rules.d/70-tillbox.rules

removed=0
rm_file() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		rm -f "$1"
		removed=1
		say "removed $1"
	fi
}

running=0
[ -d /run/systemd/system ] && running=1
if [ $running = 1 ] && [ -e "$UNIT" ]; then
	systemctl disable --now tillbox || true
	say "stopped and disabled tillbox"
fi
rm_file "$WANTS"
rm_file "$UNIT"
rm_file "$RULES"
rm_file "$BIN"
if [ $running = 1 ]; then
	systemctl daemon-reload
	systemctl reset-failed tillbox 2>/dev/null || true
	if command -v udevadm >/dev/null; then
		udevadm control --reload
		udevadm trigger --action=change --subsystem-match=tty --subsystem-match=usb
	fi
elif [ $removed = 1 ]; then
	say "systemd is not running here (a chroot or a container?): skipped systemctl and udevadm"
fi

if [ $purge = 1 ]; then
	for d in "$ETC" "$DATA"; do
		if [ -e "$d" ]; then
			rm -rf "$d"
			removed=1
			say "removed $d"
		fi
	done
	if getent passwd "$USER_NAME" >/dev/null; then
		userdel "$USER_NAME"
		removed=1
		say "removed the user $USER_NAME"
	fi
	if getent group "$USER_NAME" >/dev/null; then
		groupdel "$USER_NAME"
		removed=1
		say "removed the group $USER_NAME"
	fi
else
	kept=
	keep() { kept="${kept:+$kept, }$1"; }
	[ ! -e "$ETC" ] || keep "$ETC (the configuration)"
	[ ! -e "$DATA" ] || keep "$DATA (the database: back it up before --purge)"
	! getent passwd "$USER_NAME" >/dev/null || keep "the user $USER_NAME"
	[ -z "$kept" ] || say "kept $kept; uninstall.sh --purge removes them"
fi
[ $removed = 1 ] || say "nothing to remove: no unit, udev rules or binary of tillbox here"
