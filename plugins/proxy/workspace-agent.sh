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
set -eu
KEYS_DIR=${KEYS_DIR:-/keys}
AGENT_DIR=${AGENT_DIR:-/run/agent-private}
LISTEN=${LISTEN:-/run/workspace-agent/agent.sock}
ALLOW_UID=${ALLOW_UID:-1000}

mkdir -p "$AGENT_DIR" "$(dirname "$LISTEN")"
chmod 0700 "$AGENT_DIR"
agent_sock=$AGENT_DIR/agent.sock
rm -f "$agent_sock"
ssh-agent -D -a "$agent_sock" >/dev/null &
agent_pid=$!
trap 'kill $agent_pid 2>/dev/null' EXIT INT TERM
tries=0
while [ ! -S "$agent_sock" ]; do
	tries=$((tries + 1))
	[ $tries -le 100 ] || { echo "workspace-agent: ssh-agent did not start" >&2; exit 1; }
	sleep 0.05
done
loaded=0
for key in "$KEYS_DIR"/*; do
	[ -f "$key" ] || continue
	case $key in *.pub) continue ;; esac
	if SSH_AUTH_SOCK=$agent_sock ssh-add -q "$key" </dev/null; then
		loaded=$((loaded + 1))
	else
		echo "workspace-agent: could not load $key" >&2
	fi
done
echo "workspace-agent: $loaded key(s) loaded from $KEYS_DIR" >&2
[ $loaded -gt 0 ] || { echo "workspace-agent: no keys in $KEYS_DIR" >&2; exit 1; }
ws-agent-proxy --listen "$LISTEN" --agent "$agent_sock" --allow-uid "$ALLOW_UID" &
proxy_pid=$!
trap 'kill $agent_pid $proxy_pid 2>/dev/null' EXIT INT TERM
wait $proxy_pid
