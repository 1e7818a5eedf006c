#!/bin/sh
# uninstall.sh: remove what scripts/install.sh installed, as root.
#
#   sudo scripts/uninstall.sh [--purge]
#
# Stops and disables the service, removes the unit, the udev rules and the
# binary. The configuration (/etc/tillbox), the data (/var/lib/tillbox: the
# database of sales) and the user tillbox stay, unless --purge: then they go
# too; the user and its group only when install.sh made them (its comment,
# "tillbox agent (created by install.sh)", says so): a user tillbox made by
# hand stays. Running it again is harmless.
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
# The comments (GECOS) install.sh gives the user it makes; the second is
# that of install.sh before it recorded this.
CREATED_BY_US="tillbox agent (created by install.sh)"
CREATED_BY_US_OLD="tillbox till box agent"
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
	ours=0
	if entry=$(getent passwd "$USER_NAME"); then
		gecos=$(echo "$entry" | cut -d: -f5)
		if [ "$gecos" = "$CREATED_BY_US" ] || [ "$gecos" = "$CREATED_BY_US_OLD" ]; then
			ours=1
			userdel "$USER_NAME"
			removed=1
			say "removed the user $USER_NAME"
		else
			say "kept the user $USER_NAME: install.sh did not make it (its comment is \"$gecos\"); userdel $USER_NAME removes it"
		fi
	else
		ours=1 # gone already: its group is the leftover of ours
	fi
	# The group goes with the user install.sh made, unless another user
	# belongs to it.
	if [ $ours = 1 ] && group=$(getent group "$USER_NAME"); then
		gid=$(echo "$group" | cut -d: -f3)
		members=$(echo "$group" | cut -d: -f4)
		if [ -z "$members" ] && ! getent passwd | cut -d: -f4 | grep -qx "$gid"; then
			groupdel "$USER_NAME"
			removed=1
			say "removed the group $USER_NAME"
		else
			say "kept the group $USER_NAME: other users belong to it"
		fi
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
