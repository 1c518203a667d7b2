#!/bin/sh
# Runs a command as the workspace's unprivileged uid, from root, inside a
# mount namespace the caller made (`unshare --mount --propagation private`):
#
#   as-workspace-user.sh UID GID [--passwd FILE] [--group FILE]
#                        [--reach PATH]... [--private-tmp] -- COMMAND [ARG...]
#
#   --passwd, --group  bind FILE over /etc/passwd (/etc/group): a copy of the
#                      machine's with the workspace user added, so that the
#                      server and every program its sessions run (sftp-server,
#                      scp, id, git) see the user while nothing on the machine
#                      changes
#   --reach PATH       the uid must reach PATH (the build, the run directory)
#                      even when a directory above it is closed to others (a
#                      checkout under /root, mode 0700): the highest such
#                      directory is covered with a tmpfs that holds only the
#                      way down to PATH, and PATH is bound back at its own
#                      path.  Nothing else of that directory is visible.
#   --private-tmp      a fresh tmpfs /tmp (as an emptyDir of medium Memory in a
#                      pod); the --reach paths under /tmp stay visible
#
# The command is exec'd (setpriv, then COMMAND), so its pid is the caller's.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 UID GID [options] -- COMMAND [ARG...]" >&2; exit 2; }
uid=$1 gid=$2
shift 2
reach="" private_tmp=no
while [ $# -gt 0 ]; do
	case $1 in
	--passwd) mount --bind "$2" /etc/passwd; shift 2 ;;
	--group) mount --bind "$2" /etc/group; shift 2 ;;
	--reach) reach="$reach $(realpath -m "$2")"; shift 2 ;;
	--private-tmp) private_tmp=yes; shift ;;
	--) shift; break ;;
	*) echo "$0: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "$0: no command" >&2; exit 2; }
umask 022

# closed_above PATH: the highest directory above PATH that others cannot
# enter (no x for others), or nothing
closed_above() {
	d="" rest=${1#/}
	while [ "${rest#*/}" != "$rest" ]; do
		d="$d/${rest%%/*}"
		rest=${rest#*/}
		case $(stat -c %A "$d") in
		*x | *t) ;;
		*) echo "$d"; return ;;
		esac
	done
}

# cover DIR MODE: a fresh tmpfs of MODE on DIR; the --reach paths under DIR
# are bound back at their own paths (the old DIR is seen through /mnt while
# they are)
cover() {
	mount --bind "$1" /mnt
	mount -t tmpfs -o "mode=$2" tmpfs "$1"
	for p in $reach; do
		case $p in "$1"/*)
			mkdir -p "$p"
			mount --bind "/mnt/${p#"$1"/}" "$p" ;;
		esac
	done
	umount -l /mnt
}

for p in $reach; do
	closed=$(closed_above "$p")
	[ -z "$closed" ] || cover "$closed" 0755
done
[ $private_tmp = no ] || cover /tmp 1777

exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all -- "$@"
