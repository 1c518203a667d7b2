#!/bin/sh
# ssh-workspace entrypoint: prepares /run and the home volume, then execs the
# server.  Works on a read-only root filesystem as any non-root uid/gid; only
# /run, /tmp and the home directory are written.  Inputs (environment, mounted
# files) are documented in container-image/README.md.  Extra arguments are
# passed to dropbear.
#
# Exit status: 0 never (the server replaces this script), 1 with one line
# "ssh-workspace: ..." naming what to fix.
set -eu

# The role: a workspace (default), or a gateway (WS_ROLE=gateway, or the
# first argument `gateway`): many users, jumps to workspace containers it
# runs through a podman socket (docs/gateway.md, "Running a gateway").
role=${WS_ROLE:-workspace}
if [ "${1:-}" = gateway ]; then
	role=gateway
	shift
fi
case $role in
workspace)
	user=${WS_USER:-developer}
	home=${WS_HOME:-/home/$user} ;;
gateway)
	# the server's uid; gateway users are not system users
	user=${WS_USER:-gateway}
	home=/run/ssh-workspace/home ;;
*)
	echo "ssh-workspace: WS_ROLE='$role' is neither workspace nor gateway" >&2
	exit 1 ;;
esac
listen=${WS_LISTEN:-2222}
keys_default=/etc/ssh-workspace/authorized-keys/authorized_keys
keys_file=${WS_AUTHORIZED_KEYS:-$keys_default}
host_key=${WS_HOST_KEY:-/etc/ssh-workspace/host-key/hostkey}
hook_config=${WS_HOOK_CONFIG:-/etc/ssh-workspace/hooks/hooks.conf}
hook_lib=/usr/lib/ssh-workspace/ssh-workspace-hooks.so
share=/usr/share/ssh-workspace
run=/run/ssh-workspace
marker=.ssh-workspace-initialized
version=$(cat "$share/version" 2>/dev/null || echo unknown)

say() { echo "ssh-workspace: $*" >&2; }
die() { say "$*"; exit 1; }

# Succeeds if $1 is on a read-only mount: the last-mounted of the longest
# mount points in /proc/self/mountinfo that hold its real path.
on_ro_mount() {
	awk -v p="$(readlink -f "$1")" '
		{
			m = $5
			gsub(/\\040/, " ", m)
			if (p == m || m == "/" || index(p, m "/") == 1)
				if (length(m) >= best) { best = length(m); ro = ($6 ~ /(^|,)ro(,|$)/) }
		}
		END { exit !ro }' /proc/self/mountinfo
}

# Prints $1, or the first directory above it, that this uid could change --
# writable now, or its own on a writable mount (it could chmod it) -- and
# succeeds; fails if there is none.
changeable_up() {
	_d=$1
	while :; do
		if [ -w "$_d" ] || { [ "$(stat -L -c %u "$_d")" = "$uid" ] && ! on_ro_mount "$_d"; }; then
			echo "$_d"
			return 0
		fi
		[ "$_d" != / ] || return 1
		_d=$(dirname "$_d")
	done
}

# The same for every step to the file $1: the path itself, each symlink's
# target in turn (kubelet: authorized_keys -> ..data/authorized_keys, ..data
# -> ..<timestamp>), and the fully resolved path.
changeable_on_path() {
	_p=$1
	_hops=0
	while :; do
		changeable_up "$_p" && return 0
		[ -L "$_p" ] || break
		_hops=$((_hops + 1))
		[ "$_hops" -le 40 ] || { echo "$_p (too many symlinks)"; return 0; }
		_t=$(readlink "$_p")
		case $_t in /*) _p=$_t ;; *) _p=${_p%/*}/$_t ;; esac
	done
	changeable_up "$(readlink -f "$1")"
}

# host_key_ready FALLBACK: sets host_key to the mounted key (converted into
# /run if it is not in Dropbear's format), else to FALLBACK, generated if
# missing; logs the fingerprint.
host_key_ready() {
	if [ -e "$host_key" ]; then
		[ -r "$host_key" ] || die "cannot read the host key $host_key as uid $uid gid $gid"
		# Dropbear's own format, or an OpenSSH/PEM key (ssh-keygen, Helm's
		# genPrivateKey) converted into /run: the mounted file stays as it is
		if ! dropbearkey -y -f "$host_key" > "$run/hostkey.pub" 2>/dev/null; then
			rm -f "$run/hostkey_converted" "$run/hostkey_openssh"
			src=$host_key
			# A PKCS#8 PEM key ("BEGIN PRIVATE KEY": Helm's genPrivateKey
			# "ed25519", openssl genpkey) is first rewritten by ssh-keygen in
			# OpenSSH's format, which dropbearconvert reads.
			if grep -q '^-----BEGIN PRIVATE KEY-----' "$host_key" 2>/dev/null; then
				(umask 077 && cp "$host_key" "$run/hostkey_openssh") &&
					ssh-keygen -q -p -N '' -P '' -f "$run/hostkey_openssh" >/dev/null 2>&1 &&
					src=$run/hostkey_openssh
			fi
			dropbearconvert openssh dropbear "$src" "$run/hostkey_converted" >/dev/null 2>&1 &&
				dropbearkey -y -f "$run/hostkey_converted" > "$run/hostkey.pub" 2>/dev/null ||
				die "$host_key is neither a Dropbear nor an OpenSSH/PEM private key (make one with: dropbearkey -t ed25519 -f FILE, or ssh-keygen -t ed25519 -f FILE)"
			rm -f "$run/hostkey_openssh"
			host_key=$run/hostkey_converted
		fi
	else
		# one in /run is ephemeral: a new one at every start
		case $1 in "$run"/*) rm -f "$1" ;; esac
		if [ ! -s "$1" ]; then
			rm -f "$1"
			(umask 077 && dropbearkey -t ed25519 -f "$1" >/dev/null 2>&1) ||
				die "could not generate a host key $1"
			case $1 in
			"$run"/*) say "WARNING: no host key mounted at ${WS_HOST_KEY:-/etc/ssh-workspace/host-key/hostkey}: generated an ephemeral one; clients will see a new host key after every restart" ;;
			*) say "no host key mounted at ${WS_HOST_KEY:-/etc/ssh-workspace/host-key/hostkey}: generated $1 (kept in the volume)" ;;
			esac
		fi
		host_key=$1
		dropbearkey -y -f "$host_key" > "$run/hostkey.pub" || die "$host_key is not a Dropbear host key"
	fi
	say "host key $(sed -n 's/^Fingerprint: //p' "$run/hostkey.pub")"
}

# The gateway role: checks its mounts, writes its hook config (unless one is
# mounted) and execs the server with every session forced to the control
# command.  Inputs: container-image/README.md, "The gateway role".
gateway_role() {
	users_dir=${WS_GATEWAY_USERS_DIR:-/etc/ssh-workspace/gateway-users}
	state=${WS_GATEWAY_STATE_DIR:-/var/lib/ws-gateway}
	WS_PODMAN_URL=${WS_PODMAN_URL:-unix:///run/podman/podman.sock}
	WS_GATEWAY_IMAGE=${WS_GATEWAY_IMAGE:-localhost/ssh-workspace:$version}
	export WS_PODMAN_URL WS_GATEWAY_IMAGE
	nl='
'
	for v in "$users_dir" "$state" "$WS_PODMAN_URL" "$WS_GATEWAY_IMAGE" "${WS_GATEWAY_HOST:-}" \
		"${WS_GATEWAY_BACKEND:-}" \
		"${WS_GATEWAY_CREATE:-}" "${WS_GATEWAY_IDLE_STOP:-}" "${WS_GATEWAY_MAX_PER_USER:-}" \
		"${WS_GATEWAY_WAKE_TIMEOUT:-}" "${WS_GATEWAY_GRANTS:-}" "${WS_GATEWAY_SUFFIX:-}"; do
		case $v in *"$nl"* | *"#"*) die "a WS_GATEWAY_* setting holds a line break or '#': '$v'" ;; esac
	done
	case $users_dir in /*) ;; *) die "WS_GATEWAY_USERS_DIR='$users_dir' must be an absolute path" ;; esac
	case $state in /*) ;; *) die "WS_GATEWAY_STATE_DIR='$state' must be an absolute path" ;; esac
	[ -d "$users_dir" ] ||
		die "no gateway users: $users_dir is not a directory; mount a Secret (one file per user, named after the user, holding that user's authorized_keys lines) at $users_dir"
	if changed=$(changeable_up "$users_dir"); then
		die "uid $uid can change $changed, on the way to the gateway users $users_dir: mount them read-only (a Secret volume is)"
	fi
	mkdir -p "$state" 2>/dev/null || true
	[ -d "$state" ] && [ -w "$state" ] ||
		die "gateway state $state is missing or not writable by uid $uid gid $gid: mount a volume there (locks, stop reasons, the workspaces' keys and host keys)"
	chmod 0700 "$state" 2>/dev/null || true
	backend=${WS_GATEWAY_BACKEND:-podman}
	case $backend in
	podman) backend_prog=/usr/bin/ws-gateway-podman engine="podman $WS_PODMAN_URL, workspace image $WS_GATEWAY_IMAGE" ;;
	kube)
		backend_prog=/usr/bin/ws-gateway-kube
		engine="Kubernetes API ${WS_KUBE_API:-https://${KUBERNETES_SERVICE_HOST:-?}:${KUBERNETES_SERVICE_PORT:-?}}"
		token=${WS_KUBE_TOKEN_FILE:-/var/run/secrets/kubernetes.io/serviceaccount/token}
		[ -r "$token" ] ||
			die "no ServiceAccount token at $token: the kube backend needs one (automountServiceAccountToken: true on the gateway's pod) or WS_KUBE_TOKEN_FILE"
		[ -n "${WS_KUBE_MANAGED:-}" ] ||
			die "WS_KUBE_MANAGED is not set: the label value that marks this gateway's workspaces (the chart sets it)" ;;
	*) die "WS_GATEWAY_BACKEND='$backend' is neither podman nor kube" ;;
	esac
	[ "$backend" = kube ] || case $WS_PODMAN_URL in
	unix://*)
		sock=${WS_PODMAN_URL#unix://}
		[ -S "$sock" ] ||
			die "no podman socket at $sock: mount the podman service's socket there (podman system service --time=0 unix://PATH; docs/gateway.md) or set WS_PODMAN_URL"
		[ -r "$sock" ] && [ -w "$sock" ] ||
			die "uid $uid cannot use the podman socket $sock: give the socket to this uid only (chown UID PATH; chmod 0600 PATH)" ;;
	esac
	mkdir -p "$home"
	chmod 0700 "$home"
	export HOME="$home"

	host_key_ready "$state/gateway_hostkey"

	if [ -n "${WS_HOOK_CONFIG:-}" ] || [ -e /etc/ssh-workspace/hooks/gateway.conf ]; then
		hook_config=${WS_HOOK_CONFIG:-/etc/ssh-workspace/hooks/gateway.conf}
		[ -e "$hook_config" ] || die "WS_HOOK_CONFIG=$hook_config does not exist"
		say "hook config $hook_config"
	else
		hook_config=$run/gateway.conf
		{
			echo "# written by the entrypoint from the WS_GATEWAY_* settings"
			echo "role = gateway"
			echo "event_log = stderr"
			echo "gateway_users_dir = $users_dir"
			echo "gateway_state_dir = $state"
			echo "gateway_backend = $backend_prog"
			echo "gateway_program = /usr/bin/ws-gateway"
			echo "gateway_create = ${WS_GATEWAY_CREATE:-off}"
			echo "gateway_idle_stop = ${WS_GATEWAY_IDLE_STOP:-off}"
			[ -z "${WS_GATEWAY_HOST:-}" ] || echo "gateway_host = $WS_GATEWAY_HOST"
			[ -z "${WS_GATEWAY_MAX_PER_USER:-}" ] || echo "gateway_max_per_user = $WS_GATEWAY_MAX_PER_USER"
			[ -z "${WS_GATEWAY_WAKE_TIMEOUT:-}" ] || echo "gateway_wake_timeout = $WS_GATEWAY_WAKE_TIMEOUT"
			[ -z "${WS_GATEWAY_GRANTS:-}" ] || echo "gateway_grants = $WS_GATEWAY_GRANTS"
			[ -z "${WS_GATEWAY_SUFFIX:-}" ] || echo "gateway_suffix = $WS_GATEWAY_SUFFIX"
		} > "$run/gateway.conf.tmp"
		chmod 0644 "$run/gateway.conf.tmp"
		mv -f "$run/gateway.conf.tmp" "$hook_config"
	fi
	say "gateway (uid $uid), users from $users_dir, state $state, $engine"
	cd "$home"
	# -k: no remote forwarding; -c: every session is the control command;
	# -e: sessions (the control command and the backend it runs) get
	# WS_PODMAN_URL and WS_GATEWAY_IMAGE; -s, -w: keys only, never root.
	exec /usr/sbin/dropbear -F -E -s -w -k -e -p "$listen" -r "$host_key" \
		-c '/usr/bin/ws-gateway control' -P "$run/dropbear.pid" \
		--hook="$hook_lib" --hook-config="$hook_config" "$@"
}

# --- who we are ---
uid=$(id -u)
gid=$(id -g)
[ "$uid" -ne 0 ] || die "refusing to run as uid 0: run as a non-root uid (Kubernetes: securityContext.runAsUser, e.g. 1000)"
case $user in
[a-z_]*) ;;
*) die "WS_USER='$user' is not a valid user name (lower-case letters, digits, '_' and '-', starting with a letter or '_')" ;;
esac
case $user in *[!a-z0-9_-]*) die "WS_USER='$user' is not a valid user name (lower-case letters, digits, '_' and '-')" ;; esac
case $home in /*) ;; *) die "WS_HOME='$home' must be an absolute path" ;; esac
case $keys_file in /*) ;; *) die "WS_AUTHORIZED_KEYS='$keys_file' must be an absolute path" ;; esac

# --- /run: passwd and group entries for this uid ---
# glibc finds them through libnss-extrausers (/var/lib/extrausers is a
# symlink to $run), after /etc/passwd, so every program -- the server, the
# session's shell, ssh, git, podman -- sees the workspace user, whatever uid
# the pod was given.
mkdir -p "$run" 2>/dev/null && [ -w "$run" ] ||
	die "/run is not writable by uid $uid: mount a writable volume (emptyDir or tmpfs) at /run"
chmod 0755 "$run"
taken=$(awk -F: -v n="$user" -v u="$uid" '$1 == n && $3 != u { print $3 }' /etc/passwd)
[ -z "$taken" ] || die "WS_USER='$user' is a system account of the image (uid $taken): choose another name"
printf '%s:x:%s:%s:workspace user:%s:/bin/bash\n' "$user" "$uid" "$gid" "$home" > "$run/passwd.tmp"
# A gid the image already names (e.g. 0 under OpenShift) keeps its name.
: > "$run/group.tmp"
awk -F: -v g="$gid" '$3 == g { found = 1 } END { exit !found }' /etc/group ||
	printf '%s:x:%s:\n' "$user" "$gid" > "$run/group.tmp"
chmod 0644 "$run/passwd.tmp" "$run/group.tmp"
mv -f "$run/passwd.tmp" "$run/passwd"
mv -f "$run/group.tmp" "$run/group"

[ "$role" = workspace ] || gateway_role "$@"

# --- home: must be writable; initialised once (marker file) ---
mkdir -p "$home" 2>/dev/null || true
[ -d "$home" ] && [ -w "$home" ] ||
	die "home $home is missing or not writable by uid $uid gid $gid: mount a writable volume there (Kubernetes: a PVC or emptyDir, with securityContext.fsGroup = $gid)"
if [ ! -e "$home/$marker" ]; then
	# Files already in the home (a pre-filled volume) are kept, not replaced.
	cp -R --update=none /etc/skel/. "$home/" || die "could not copy /etc/skel into $home"
	mkdir -p "$home/.ssh"
	chmod 0700 "$home/.ssh"
	printf 'home initialised by the ssh-workspace image %s on %s\n' \
		"$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$home/$marker"
	say "initialised home $home"
fi

# --- authorized keys: from the mounted Secret, re-read at every login ---
[ -e "$keys_file" ] ||
	die "no authorized keys: $keys_file does not exist; mount a Secret with the key 'authorized_keys' at $(dirname "$keys_file") (or set WS_AUTHORIZED_KEYS)"
[ -r "$keys_file" ] || die "cannot read $keys_file as uid $uid gid $gid (Secret defaultMode 0644?)"
# Every line is checked as the server will read it, with the same rule as
# the Helm chart's render-time check (helm/ssh-workspace/templates/_keys.tpl):
# blank lines and '#' comments, else '[options] TYPE BASE64 [comment]' with
# options the server knows and a key type it accepts.  A bad line is skipped and logged (line number and
# reason, never key text beyond the type), and the server starts while one
# valid key remains: keys are re-read at every login, so refusing the whole
# file at the next restart would lock everyone out over one typo.  Only a
# file without a single valid key is refused.
# The awk pass checks the structure the server's parser needs (options up to
# the first white space outside double quotes, one space after the type);
# ssh-keygen -l then decodes each key and checks it is of its stated type.
keytypes="ssh-ed25519 sk-ssh-ed25519@openssh.com ecdsa-sha2-nistp256 ecdsa-sha2-nistp384 ecdsa-sha2-nistp521 sk-ecdsa-sha2-nistp256@openssh.com ssh-rsa"
nkeys=0
skipped=0
checked=$(awk -v types="$keytypes" '
	BEGIN {
		n = split(types, t, " ")
		for (i = 1; i <= n; i++) known[t[i]] = 1
		n = split("no-port-forwarding no-agent-forwarding no-x11-forwarding no-pty restrict no-touch-required verify-required", f, " ")
		for (i = 1; i <= n; i++) flag[f[i]] = 1
	}
	function skip(why) { print "skip line " NR " skipped: it " why }
	function private_block(last) {
		print "skip lines " inpriv "-" last " skipped: they are a private key block: remove it, and replace that key (it has been exposed)"
		inpriv = 0
	}
	# "" if the server accepts these options, else why not (an option name
	# is printed only when it is a plain word)
	function badopts(o,    i, c, q, e, cur, list, m, name) {
		m = 0; cur = ""; q = 0; e = 0
		for (i = 1; i <= length(o); i++) {
			c = substr(o, i, 1)
			if (c == "," && !q) { list[++m] = cur; cur = ""; e = 0; continue }
			cur = cur c
			if (!e && c == "\"") q = !q
			e = (!e && c == "\\")
		}
		if (q) return "has options with an unterminated quote"
		list[++m] = cur
		for (i = 1; i <= m; i++) {
			name = tolower(list[i])
			if (name in flag) continue
			if (name ~ /^(command|permitopen|permitlisten)=".*"$/) continue
			sub(/=.*/, "", name)
			if (name ~ /^[a-z][a-z0-9-]*$/ && length(name) <= 30)
				return "has the option " name ", which the server does not support"
			return "has malformed options"
		}
		return ""
	}
	{
		line = $0
		# a private key block is named once, by its lines, never shown
		if (inpriv) {
			if (line ~ /-----END [A-Z0-9 ]*PRIVATE KEY-----/) private_block(NR)
			next
		}
		if (line ~ /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/) {
			inpriv = NR
			if (line ~ /-----END [A-Z0-9 ]*PRIVATE KEY-----/) {
				skip("holds private key text: remove it, and replace that key (it has been exposed)")
				inpriv = 0
			}
			next
		}
		if (line ~ /^[ \t]*$/ || line ~ /^[ \t]*#/) next
		if (NR > 300) { skip("is past line 300, which the server never reads"); next }
		if (length(line) > 3000) { skip("is longer than 3000 characters, which the server ignores"); next }
		if (line ~ /^[ \t]/) { skip("starts with white space"); next }
		rest = line
		type = rest; sub(/[ \t].*/, "", type)
		if (!(type in known)) {
			# options: up to the first white space outside double quotes
			q = 0; e = 0
			for (i = 1; i <= length(rest); i++) {
				c = substr(rest, i, 1)
				if (!q && (c == " " || c == "\t")) break
				if (!e && c == "\"") q = !q
				e = (!e && c == "\\")
			}
			opts = substr(rest, 1, i - 1)
			rest = substr(rest, i + 1)
			type = rest; sub(/[ \t].*/, "", type)
			if (!(type in known)) {
				if (opts ~ /^(ssh-dss|[a-z0-9-]+-cert-v01@openssh\.com)$/)
					skip("has the key type " opts ", which the server does not accept (it accepts " types ")")
				else if (type ~ /^(ssh-dss|[a-z0-9-]+-cert-v01@openssh\.com)$/)
					skip("has the key type " type ", which the server does not accept (it accepts " types ")")
				else if (line ~ /^[A-Za-z0-9+\/=]+$/)
					skip("is base64 text without a key type (a fragment of a key?)")
				else
					skip("has no known key type: expected [options] TYPE BASE64 [comment], TYPE one of " types)
				next
			}
			why = badopts(opts)
			if (why != "") { skip(why); next }
		}
		rest = substr(rest, length(type) + 1)
		if (rest !~ /^ [^ ]/) { skip("has no key data after the key type " type " (one space, then base64)"); next }
		b64 = substr(rest, 2); sub(/ .*/, "", b64)
		if (b64 !~ /^[A-Za-z0-9+\/]+=*$/ || length(b64) % 4 != 0) { skip("has key data that is not base64 after the key type " type); next }
		print "key " NR " " type " " b64
	}
	END { if (inpriv) private_block(NR) }' "$keys_file") || die "could not read $keys_file"
while read -r what n rest; do
	case $what in
	key)
		# "TYPE BASE64" only: the awk pass has checked the options
		if printf '%s\n' "$rest" | ssh-keygen -l -f - >/dev/null 2>&1; then
			nkeys=$((nkeys + 1))
			continue
		fi
		rest="line $n skipped: it has key data that is not a valid ${rest%% *} key"
		;;
	skip) rest="$n $rest" ;;
	*) continue ;;
	esac
	say "$keys_file $rest"
	skipped=$((skipped + 1))
done <<END_OF_LINES
$checked
END_OF_LINES
if [ "$nkeys" -eq 0 ]; then
	[ "$skipped" -gt 0 ] || die "no authorized keys: $keys_file has no key lines"
	die "no authorized keys: none of the $skipped key line(s) in $keys_file is valid (each is named above); expected '[options] TYPE BASE64 [comment]'"
fi
# The sessions run as this uid, and so does the server.  If the uid could
# change anything on the way to the keys (the file, a directory, a link), a
# session could put its own key there and keep logging in after its key is
# removed from the Secret.  A Secret volume is a read-only mount of
# root-owned files, so nothing on its path is.
if changed=$(changeable_on_path "$keys_file"); then
	die "uid $uid can change $changed, on the way to the authorized keys $keys_file, so a session could replace them: mount them read-only and owned by another uid (a Secret volume is)"
fi
# The server reads <-D dir>/authorized_keys again at every login (so the
# kubelet's atomic ..data swap is seen at the next one) and first checks
# that every directory of that path, up to /, is owned by root or the user
# and not writable by group or others.  A Secret volume's own directory is
# mode 1777 (a read-only mount, so no one can write it, but the check looks
# at the mode), so for the default path the server is given the image's
# directory $share/authorized-keys, whose authorized_keys is a root-owned
# link to $keys_default, fixed when the image was built.
if [ "$keys_file" = "$keys_default" ]; then
	keys_dir=$share/authorized-keys
else
	case $keys_file in
	*/authorized_keys) ;;
	*) die "WS_AUTHORIZED_KEYS=$keys_file: the file must be called authorized_keys (the server reads DIR/authorized_keys)" ;;
	esac
	keys_dir=${keys_file%/*}
	[ -n "$keys_dir" ] || keys_dir=/
	_d=$keys_dir
	while :; do
		_st=$(stat -L -c '%u %a' "$_d")
		if { [ "${_st% *}" != 0 ] && [ "${_st% *}" != "$uid" ]; } || [ $((0${_st#* } & 022)) -ne 0 ]; then
			die "WS_AUTHORIZED_KEYS=$keys_file: the server would refuse every key, $_d (owner uid ${_st% *}, mode ${_st#* }) must be owned by root or uid $uid and not writable by group or others (a Secret volume's directory is mode 1777: mount it at $(dirname "$keys_default"))"
		fi
		[ "$_d" != / ] || break
		_d=$(dirname "$_d")
	done
fi
say "user $user (uid $uid, gid $gid), home $home, $nkeys authorized key(s) from $keys_file$([ "$skipped" -eq 0 ] || echo ", $skipped line(s) skipped")"

# --- host key: mounted, or an ephemeral one in /run ---
host_key_ready "$run/hostkey_ed25519"

# --- hook library config: optional mounted file ---
if [ -e "$hook_config" ]; then
	set -- --hook="$hook_lib" --hook-config="$hook_config" "$@"
	say "hook config $hook_config"
elif [ -n "${WS_HOOK_CONFIG:-}" ]; then
	die "WS_HOOK_CONFIG=$hook_config does not exist"
else
	set -- --hook="$hook_lib" "$@"
fi

cd "$home"
# -F foreground, -E log to stderr, -s no password logins (compiled out too).
# The server must be started by absolute path: it re-executes itself.
exec /usr/sbin/dropbear -F -E -s -p "$listen" -r "$host_key" \
	-D "$keys_dir" -P "$run/dropbear.pid" "$@"
