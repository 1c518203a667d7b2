#!/bin/sh
# Start a local workspace server on 127.0.0.1 (`make run`).
#
# Everything lives in .run/ (ignored by git): the host key, a client key, the
# workspace user's home and the hook library's config.  The workspace user is
# "developer" (WS_USER), named for the server and every program its sessions
# run (sftp-server, scp, id, git) while nothing on the machine changes; the
# server never runs as root:
#   - run as a normal user: the server runs as you, and nss_wrapper names your
#     uid (the server passes its environment, which holds nothing else, on to
#     sessions: -e);
#   - run as root: it runs as WS_RUN_UID, else $SUDO_UID, else the first uid
#     from 1000 up that has no passwd entry, .run/ is chowned to it, and the
#     server runs in a private mount namespace whose /etc/passwd and
#     /etc/group name it (as-workspace-user.sh, with no_new_privs), where the
#     build and .run/ are reachable even from a checkout under a directory
#     closed to that uid.
# Settings: WS_PORT (2222), WS_USER (developer), WS_RUN_UID.
set -eu
# Real paths: as root, the server's uid may reach them only through the
# binds as-workspace-user.sh makes at the real paths.
top=$(cd "$(dirname "$0")/.." && pwd -P)
build=$(realpath -m "${WS_BUILD:-$top/build}")
run=$(realpath -m "${WS_RUN_DIR:-$top/.run}")
port=${WS_PORT:-2222}
user=${WS_USER:-developer}

me="make run"
. "$top/dropbear/run-lib.sh"

run_need
for f in "$build/bin/dropbear" "$build/bin/dropbearkey" "$build/lib/ssh-workspace-hooks.so"; do
	[ -x "$f" ] || [ -f "$f" ] || die "$f is not built: run 'make' first"
done
case $user in *[!a-z0-9_-]*|"") die "WS_USER must be a plain lower-case name" ;; esac

run_ids "make run" server

mkdir -p "$run/home/.ssh" "$run/server"
chmod 0755 "$run"
chmod 0700 "$run/home" "$run/home/.ssh"
run_passwd "$user" "workspace user" /bin/bash
[ -f "$run/hostkey_ed25519" ] || "$build/bin/dropbearkey" -t ed25519 -f "$run/hostkey_ed25519" >/dev/null
# (ssh-keygen wants a name for its uid, which a normal user may not have)
[ -f "$run/id_ed25519" ] || LD_PRELOAD="$nss_wrapper" NSS_WRAPPER_PASSWD="$run/passwd" \
	NSS_WRAPPER_GROUP="$run/group" ssh-keygen -q -t ed25519 -N '' -C "$user@ssh-workspace-local" -f "$run/id_ed25519"
cp "$run/id_ed25519.pub" "$run/home/.ssh/authorized_keys"
chmod 0600 "$run/home/.ssh/authorized_keys"
hostpub=$("$build/bin/dropbearkey" -y -f "$run/hostkey_ed25519" | grep '^ssh-')
echo "[127.0.0.1]:$port ${hostpub% *}" > "$run/known_hosts"
[ -f "$run/hooks.conf" ] || printf '# ssh-workspace hook library config (see docs/hook-config.md)\nevent_log = stderr\n' > "$run/hooks.conf"
if [ $as_root = yes ]; then
	chown -R "$uid:$gid" "$run/home" "$run/server" "$run/hostkey_ed25519" "$run/hooks.conf"
fi

# The ssh line as the shell reads it back (shell_quote; and ssh_config
# reads blanks in UserKnownHostsFile as a list).
known=$run/known_hosts
case $known in *[[:space:]]*) known="\"$known\"" ;; esac
login="ssh -i $(shell_quote "$run/id_ed25519") -o $(shell_quote "UserKnownHostsFile=$known") -p $port $user@127.0.0.1"

cat <<EOF

  ssh-workspace server: 127.0.0.1:$port, user $user, home $run/home
  Log in with:

    $login

  Ctrl-C stops the server.  Events (JSON) and the server log follow.

EOF
# The server must be started by absolute path: it re-executes itself per
# connection.  Its environment is only what it needs, since sessions see it
# (XDG_RUNTIME_DIR: the hook library puts the agent there if it is the
# server's own, else in /tmp/ssh-workspace-agent-UID).
set -- "$build/bin/dropbear" -F -E -w -p "127.0.0.1:$port" -r "$run/hostkey_ed25519" \
	-P "$run/server/dropbear.pid" --hook="$build/lib/ssh-workspace-hooks.so" \
	--hook-config="$run/hooks.conf"
if [ $as_root = no ]; then
	exec env -i PATH="$PATH" ${LANG:+LANG="$LANG"} ${XDG_RUNTIME_DIR:+XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR"} \
		LD_PRELOAD="$nss_wrapper" NSS_WRAPPER_PASSWD="$run/passwd" NSS_WRAPPER_GROUP="$run/group" \
		"$@" -e
fi
exec env -i PATH="$PATH" ${LANG:+LANG="$LANG"} ${XDG_RUNTIME_DIR:+XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR"} \
	"$top/dropbear/as-workspace-user.sh" "$uid" "$gid" --passwd "$run/passwd" --group "$run/group" \
	--reach "$build" --reach "$run" -- "$@"
