#!/bin/sh
# The workspace agent sidecar: holds deploy keys in ssh-agent's memory and
# offers them to the workspace user through ws-agent-proxy, so sessions can
# sign with them (git push) while the key files are never readable there.
#
#   KEYS_DIR   directory of private keys to load (default /keys)
#   AGENT_DIR  private directory for ssh-agent's own socket (default /run/agent-private)
#   LISTEN     the socket the workspace uses (default /run/workspace-agent/agent.sock);
#              the workspace's hook config says agent_workspace_socket = $LISTEN
#   ALLOW_UID  uid(s) that may use it, comma-separated (default 1000)
#   RETRY      seconds between attempts while no key loads, and between
#              checks that ssh-agent and the proxy still run (default 30)
#
# It never exits on its own (only on SIGTERM/SIGINT): a sidecar that exits
# restarts, crash-loops and takes the pod -- a healthy SSH server -- out of
# its Service.  Problems are logged here instead, and while no key is loaded
# nothing listens on $LISTEN, so each session's connection logs an
# agent_problem (workspace_socket: no such socket) in the server's log.
# Keys are retried every $RETRY seconds: a fixed Secret is picked up without
# a restart.
set -u
KEYS_DIR=${KEYS_DIR:-/keys}
AGENT_DIR=${AGENT_DIR:-/run/agent-private}
LISTEN=${LISTEN:-/run/workspace-agent/agent.sock}
ALLOW_UID=${ALLOW_UID:-1000}
RETRY=${RETRY:-30}

say() { echo "workspace-agent: $*" >&2; }

agent_sock=$AGENT_DIR/agent.sock
agent_pid=
proxy_pid=
loaded=0
last_report=
trap 'kill $agent_pid $proxy_pid 2>/dev/null; exit 0' INT TERM

if ! mkdir -p "$AGENT_DIR" "$(dirname "$LISTEN")" || ! chmod 0700 "$AGENT_DIR"; then
	say "cannot create $AGENT_DIR or $(dirname "$LISTEN"): no agent for the workspace (mount writable volumes there)"
	# nothing else to do, but staying up keeps the pod Ready
	while :; do sleep 3600 & wait $!; done
fi

start_agent() {
	rm -f "$agent_sock"
	ssh-agent -D -a "$agent_sock" >/dev/null &
	agent_pid=$!
	_tries=0
	while [ ! -S "$agent_sock" ]; do
		_tries=$((_tries + 1))
		if [ $_tries -gt 100 ] || ! kill -0 "$agent_pid" 2>/dev/null; then
			say "ssh-agent did not start; retrying in ${RETRY}s"
			kill "$agent_pid" 2>/dev/null
			agent_pid=
			return 1
		fi
		sleep 0.05
	done
	loaded=0
}

# Why ssh-add could not load a key, in words, from what it printed ($1; it
# names the file, never the key's contents).  Not from ssh-keygen: that needs
# a passwd entry for this uid, which a pod's sidecar has none of.
why_not() {
	case $1 in
	*passphrase*) echo "it is protected by a passphrase, which the sidecar cannot enter: store the deploy key without one (ssh-keygen -p -N '' -f KEY)" ;;
	*"too open"*) echo "it belongs to this uid and others may read it, so ssh-add ignores it (Secret defaultMode 0400 or 0440)" ;;
	*"invalid format"* | *"Error loading key"*) echo "it is not a private key ssh-add can read" ;;
	*) echo "ssh-add refused it" ;;
	esac
}

load_keys() {
	_n=0
	_report=
	for _key in "$KEYS_DIR"/*; do
		[ -f "$_key" ] || continue
		case $_key in *.pub) continue ;; esac
		# no terminal and no askpass: a passphrase prompt fails at once
		if _out=$(SSH_AUTH_SOCK=$agent_sock SSH_ASKPASS_REQUIRE=never ssh-add -q "$_key" </dev/null 2>&1); then
			_n=$((_n + 1))
		else
			_report="$_report
could not load $_key: $(why_not "$_out")"
		fi
	done
	if [ $_n -eq 0 ]; then
		_report="$_report
no key loaded from $KEYS_DIR: sessions get no workspace agent (the server logs agent_problem workspace_socket); retrying every ${RETRY}s"
	else
		_report="$_report
$_n key(s) loaded from $KEYS_DIR"
	fi
	# the same problem is said once, not every $RETRY seconds
	if [ "$_report" != "$last_report" ]; then
		printf '%s\n' "$_report" | sed '/^$/d; s/^/workspace-agent: /' >&2
		last_report=$_report
	fi
	loaded=$_n
}

while :; do
	if [ -z "$agent_pid" ] || ! kill -0 "$agent_pid" 2>/dev/null; then
		[ -z "$agent_pid" ] || say "ssh-agent (pid $agent_pid) exited; starting it again"
		if [ -n "$proxy_pid" ]; then
			kill "$proxy_pid" 2>/dev/null
			wait "$proxy_pid" 2>/dev/null
			proxy_pid=
		fi
		last_report=
		start_agent || { sleep "$RETRY" & wait $!; continue; }
	fi
	[ $loaded -gt 0 ] || load_keys
	if [ $loaded -gt 0 ] && { [ -z "$proxy_pid" ] || ! kill -0 "$proxy_pid" 2>/dev/null; }; then
		[ -z "$proxy_pid" ] || say "ws-agent-proxy (pid $proxy_pid) exited; starting it again"
		ws-agent-proxy --listen "$LISTEN" --agent "$agent_sock" --allow-uid "$ALLOW_UID" &
		proxy_pid=$!
	fi
	# in the background, so SIGTERM is acted on at once
	sleep "$RETRY" &
	wait $!
done
