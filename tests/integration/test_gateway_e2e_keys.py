"""The keys a workspace accepts follow the gateway's sources: a grant lets
the grantee into the workspace itself (not only past the gateway's check),
and a key taken out of the gateway stops opening the workspace at its next
start.  Real servers and the OpenSSH client (gateway_e2e.py)."""
import os
import subprocess

from conftest import keygen, listening, wait_for
from gateway_e2e import TIMEOUT


def direct_ssh(gateway, name, key, command):
    """Straight to the workspace's own server, past the gateway: what a
    key opens there is the workspace's own decision."""
    with open(gateway.workspace_dir(name, "port")) as f:
        port = f.read().strip()
    # the backend's start returns once the server runs, maybe before it
    # listens; the gateway waits for that, a client going past it must too
    assert wait_for(lambda: listening(int(port)), timeout=TIMEOUT), f"{name} is not listening"
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-p", port, "-i", key, "-o", "IdentitiesOnly=yes",
         "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "developer@127.0.0.1", command],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def test_a_grant_lets_the_grantee_into_the_workspace(gateway_factory, workspace):
    grants = workspace.write("grants", "bob alice\n", 0o644)
    gateway = gateway_factory(gateway_grants=grants)
    gateway.control("alice", "start alice")
    r = gateway.jump("alice.ws", "echo bob is in", user="bob")
    assert (r.returncode, r.stdout) == (0, "bob is in\n"), r.stderr
    # and alice's other workspaces stay hers alone
    gateway.control("alice", "start alice-solo")
    assert direct_ssh(gateway, "alice-solo", gateway.keys["bob"], "true").returncode == 255


def test_a_key_taken_out_stops_opening_the_workspace_at_its_next_start(gateway, workspace):
    gateway.control("alice", "start alice")
    old = gateway.keys["alice"]
    assert direct_ssh(gateway, "alice", old, "echo old").stdout == "old\n"
    new = keygen(workspace.path("id_alice_new"))
    with open(new + ".pub") as f:
        gateway.add_user("alice", f.read())  # the old key is gone from the gateway
    gateway.keys["alice"] = new
    os.unlink(gateway.bootstrap_config("alice"))  # its client configs name the key
    gateway.client_configs.pop("alice", None)
    gateway.control("alice", "stop alice")
    gateway.control("alice", "start alice")
    r = direct_ssh(gateway, "alice", old, "echo old")
    assert r.returncode == 255 and "Permission denied" in r.stderr, r.stderr
    assert direct_ssh(gateway, "alice", new, "echo new").stdout == "new\n"
    r = gateway.jump("alice.ws", "echo through")
    assert (r.returncode, r.stdout) == (0, "through\n"), r.stderr
