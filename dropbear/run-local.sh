#!/bin/sh
# Start a local workspace server on 127.0.0.1 (`make run`).
#
# Everything lives in .run/ (ignored by git): the host key, a client key, the
# workspace user's home and the hook library's config.  The workspace user is
# "developer" (WS_USER), provided through nss_wrapper so that nothing on the
# machine changes; the server never runs as root:
#   - run as a normal user: the server runs as you;
#   - run as root: it runs as WS_RUN_UID, else $SUDO_UID, else the first uid
#     from 1000 up that has no passwd entry, and .run/ is chowned to it.
# Settings: WS_PORT (2222), WS_USER (developer), WS_RUN_UID.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${WS_BUILD:-$top/build}
run=${WS_RUN_DIR:-$top/.run}
port=${WS_PORT:-2222}
user=${WS_USER:-developer}

die() { echo "make run: $*" >&2; exit 1; }

nss_wrapper=$(ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so 2>/dev/null | head -n 1 || true)
missing=""
[ -n "$nss_wrapper" ] || missing="$missing libnss-wrapper"
command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
command -v setpriv >/dev/null 2>&1 || missing="$missing util-linux"
[ -z "$missing" ] || die "missing:$missing. Install with: apt-get install -y$missing"
for f in "$build/bin/dropbear" "$build/bin/dropbearkey" "$build/lib/ssh-workspace-hooks.so"; do
	[ -x "$f" ] || [ -f "$f" ] || die "$f is not built: run 'make' first"
done
case $user in *[!a-z0-9_-]*|"") die "WS_USER must be a plain lower-case name" ;; esac

if [ "$(id -u)" -ne 0 ]; then
	uid=$(id -u); gid=$(id -g); as_user=""
else
	uid=${WS_RUN_UID:-${SUDO_UID:-}}
	if [ -z "$uid" ] || [ "$uid" = 0 ]; then
		uid=1000
		while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
	fi
	gid=${SUDO_GID:-$uid}
	[ "$gid" != 0 ] || gid=$uid
	as_user="setpriv --reuid=$uid --regid=$gid --clear-groups --inh-caps=-all"
	echo "make run: running as root, so the server runs as unprivileged uid $uid (gid $gid), not root."
fi

mkdir -p "$run/home/.ssh" "$run/server"
chmod 0755 "$run"
chmod 0700 "$run/home" "$run/home/.ssh"
[ -f "$run/hostkey_ed25519" ] || "$build/bin/dropbearkey" -t ed25519 -f "$run/hostkey_ed25519" >/dev/null
[ -f "$run/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$user@ssh-workspace-local" -f "$run/id_ed25519"
cp "$run/id_ed25519.pub" "$run/home/.ssh/authorized_keys"
chmod 0600 "$run/home/.ssh/authorized_keys"
hostpub=$("$build/bin/dropbearkey" -y -f "$run/hostkey_ed25519" | grep '^ssh-')
echo "[127.0.0.1]:$port ${hostpub% *}" > "$run/known_hosts"
printf '%s:x:%s:%s:workspace user:%s:/bin/bash\n' "$user" "$uid" "$gid" "$run/home" > "$run/passwd"
printf '%s:x:%s:\n' "$user" "$gid" > "$run/group"
[ -f "$run/hooks.conf" ] || printf '# ssh-workspace hook library config (see README.md)\nevent_log = stderr\n' > "$run/hooks.conf"
if [ -n "$as_user" ]; then
	chown -R "$uid:$gid" "$run/home" "$run/server" "$run/hostkey_ed25519" "$run/hooks.conf"
fi

cat <<EOF

  ssh-workspace server: 127.0.0.1:$port, user $user, home $run/home
  Log in with:

    ssh -i $run/id_ed25519 -o UserKnownHostsFile=$run/known_hosts -p $port $user@127.0.0.1

  Ctrl-C stops the server.  Events (JSON) and the server log follow.

EOF
# The server must be started by absolute path: it re-executes itself per connection.
exec env LD_PRELOAD="$nss_wrapper" NSS_WRAPPER_PASSWD="$run/passwd" NSS_WRAPPER_GROUP="$run/group" \
	$as_user "$build/bin/dropbear" -F -E -w -p "127.0.0.1:$port" -r "$run/hostkey_ed25519" \
	-P "$run/server/dropbear.pid" --hook="$build/lib/ssh-workspace-hooks.so" --hook-config="$run/hooks.conf"
