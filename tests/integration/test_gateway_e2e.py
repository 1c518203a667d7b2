"""The gateway end to end: the real server in `role = gateway` with the real
hook library and ws-gateway, real workspaces behind it (gateway_e2e.py),
and the OpenSSH client configured the way `ssh alice@gw config` says:
routing and refusals, the jump being end to end, waking once for many
connections."""
import os
import socket
import struct
import subprocess
import threading

import pytest

from conftest import free_port, stop_process, unique
from gateway_e2e import HOST, refusal
from interop_helpers import echo_server, key_fingerprint, ssh_agent, through_forward


def test_alice_reaches_her_workspace_from_stopped_and_nothing_else(gateway):
    assert gateway.control("bob", "start bob") == "bob is running: ssh bob.ws\n"
    assert gateway.control("alice", "start alice") == "alice is running: ssh alice.ws\n"
    gateway.stop_behind_its_back("alice")
    assert gateway.control("alice", "status alice") == "alice stopped\n"
    r = gateway.jump("alice.ws", "echo $USER in $HOME")
    assert (r.returncode, r.stdout) == \
        (0, f"developer in {gateway.workspace_dir('alice', 'home')}\n"), r.stderr
    assert gateway.starts() == ["bob", "alice", "alice"]
    [*_, wake] = gateway.events("gateway_wake")
    assert (wake["user"], wake["workspace"], wake["result"]) == ("alice", "alice", "ok")

    # created on demand: its host key is the one `config` then prints
    seen = gateway.ws.path("known_hosts-seen")
    r = gateway.jump("alice-t1.ws", "echo made", extra=[
        "-o", f"UserKnownHostsFile={seen}", "-o", "StrictHostKeyChecking=accept-new"])
    assert (r.returncode, r.stdout) == (0, "made\n"), r.stderr
    [created] = gateway.events("gateway_create")[-1:]
    assert (created["workspace"], created["result"]) == ("alice-t1", "ok")
    learned = open(seen).read().split()
    gateway.ssh_config("alice", refresh=True)
    assert f"alice-t1.ws {learned[1]} {learned[2]}" in \
        open(gateway.ws.path("known_hosts-alice")).read()
    r = gateway.jump("alice-t1.ws", "echo verified")
    assert (r.returncode, r.stdout) == (0, "verified\n"), r.stderr

    # everything else: the reason as the OpenSSH client prints it
    for dest, reason in [
            ("bob.ws:22", "no workspace 'bob' for alice"),
            ("bob:22", "no workspace 'bob' for alice"),
            ("alice.ws:2222", "only port 22 of a workspace"),
            ("x.example:22", "'x.example' is not a workspace name"),
            ("Alice.ws:22", "'Alice.ws' is not a workspace name"),
            ("127.0.0.1:22", "'127.0.0.1' is not a workspace name"),
            ("localhost:22", "no workspace 'localhost' for alice"),
            ("a" * 100 + ":22", "'" + "a" * 64 + "' is not a workspace name"),
            ("a" * 1000 + ":22", "'" + "a" * 64 + "' is not a workspace name")]:
        r = gateway.gw_ssh("alice", extra=["-W", dest], input="")
        assert r.returncode == 255, (dest, r)
        assert refusal(reason) in r.stderr, (dest, r.stderr)
    assert sorted(os.listdir(gateway.backend_dir)) == ["alice", "alice-t1", "bob", "starts"]
    # the same through ProxyJump, as users meet it
    r = gateway.jump("bob.ws", "true")
    assert r.returncode == 255 and refusal("no workspace 'bob' for alice") in r.stderr, r.stderr
    refused = gateway.events("gateway_route_refused")
    assert {e["reason"] for e in refused} >= {"no workspace 'bob' for alice",
                                              "only port 22 of a workspace"}
    assert gateway.starts() == ["bob", "alice", "alice", "alice-t1"]
    # bob's workspace, running all along, never saw alice
    assert not gateway.workspace_events("bob", "auth")

    # the gateway itself: a listing, never a shell, no sftp
    r = gateway.gw_ssh("alice")
    assert r.returncode == 0, r.stderr
    listed = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[:2]}
    assert listed == {"alice": "running", "alice-t1": "running"}  # not bob's
    assert "ssh NAME.ws" in r.stdout
    r = gateway.gw_ssh("alice", "sh")
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("commands:")
    r = gateway.gw_ssh("alice", "sh -c 'echo shell'")
    assert r.returncode == 2 and r.stdout == "", r
    r = gateway.gw_ssh("alice", extra=["-tt"], input="echo $((6*7))\nexit\n")
    assert "alice-t1" in r.stdout and "42" not in r.stdout
    r = subprocess.run(["sftp", "-F", gateway.bootstrap_config("alice"), "-b", "-",
                        f"alice@{HOST}"], input="ls\n", capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 255 and "subsystem request failed" in r.stderr, r
    assert gateway.control("bob", "list").split()[:2] == ["bob", "running"]

    # rm asks first, then deletes the workspace and its home
    r = gateway.gw_ssh("alice", "rm alice-t1")
    assert r.returncode == 1 and f"ssh alice@{HOST} rm alice-t1 --yes" in r.stderr
    assert gateway.running("alice-t1")
    assert gateway.control("alice", "rm alice-t1 --yes") == "alice-t1 deleted\n"
    assert not os.path.exists(gateway.workspace_dir("alice-t1"))
    [deleted] = gateway.events("gateway_delete")
    assert (deleted["user"], deleted["workspace"]) == ("alice", "alice-t1")
    assert "alice-t1" not in gateway.control("alice", "config")


def test_the_jump_is_end_to_end(gateway):
    """The workspace's own server authenticates alice's key; the gateway
    relays ciphertext: nothing of the session is in its logs."""
    gateway.control("alice", "start alice")
    marker_in, marker_cmd = unique("stdin-marker"), unique("command-marker")
    r = gateway.jump("alice.ws", f"cat > got; echo {marker_cmd}; cat got", input=marker_in + "\n")
    assert (r.returncode, r.stdout) == (0, f"{marker_cmd}\n{marker_in}\n"), r.stderr
    [auth] = gateway.workspace_events("alice", "auth")
    assert auth["key_fp"] == key_fingerprint(gateway.keys["alice"] + ".pub")
    assert auth["user"] == "developer" and auth["method"] == "publickey"
    # (the other connects are the gateway's probes for the banner)
    assert auth["session"] in {e["session"] for e in gateway.workspace_events("alice", "connect")}
    # what the gateway knows: a route and a wake, and no session data
    assert gateway.events("gateway_route")[0]["workspace"] == "alice"
    gateway_logs = open(gateway.log).read() + gateway.server.output()
    assert "gateway_wake" in gateway_logs
    for marker in (marker_in, marker_cmd):
        assert marker not in gateway_logs
        assert marker in open(gateway.workspace_dir("alice", "home", "got")).read() + \
            open(gateway.workspace_dir("alice", "events.log")).read()

    # -A reaches the workspace: its ssh-add lists alice's key from her agent
    with ssh_agent(gateway.ws, gateway.keys["alice"]) as env:
        r = gateway.jump("alice.ws", "ssh-add -l", extra=[
            "-A", "-o", f"IdentityAgent={env['SSH_AUTH_SOCK']}"], env=env)
        assert r.returncode == 0, r.stderr
        assert key_fingerprint(gateway.keys["alice"] + ".pub") in r.stdout
        # at the gateway itself -A gets nothing (test_gateway_e2e_clients.py
        # has the refusal itself): no agent socket in its events
        r = gateway.gw_ssh("alice", "list", env=env, extra=[
            "-A", "-o", f"IdentityAgent={env['SSH_AUTH_SOCK']}"])
        assert r.returncode == 0 and r.stdout.startswith("alice "), r.stderr
    assert not gateway.events("agent_socket")
    assert gateway.workspace_events("alice", "agent_socket")


def test_ten_first_connections_start_it_once(gateway):
    """Ten jumps at once to a stopped workspace: one start, ten sessions."""
    assert gateway.control("alice", "start alice-par").startswith("alice-par is running")
    gateway.ssh_config("alice")  # with alice-par's host key
    gateway.stop_behind_its_back("alice-par")
    results = [None] * 10

    def one(i):
        results[i] = gateway.jump("alice-par.ws", f"echo session {i}")
    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    for i, r in enumerate(results):
        assert (r.returncode, r.stdout) == (0, f"session {i}\n"), r.stderr
    assert gateway.starts() == ["alice-par", "alice-par"]  # the control start, then one
    wakes = gateway.events("gateway_wake")
    assert len(wakes) == 10 and {w["result"] for w in wakes} == {"ok"}
    assert len(gateway.workspace_events("alice-par", "auth")) == 10

    # five first jumps to a name nobody made yet: one create, one start,
    # one host key (the one `config` then prints)
    def first(i):
        known = gateway.ws.path(f"known_hosts-new-{i}")
        results[i] = (known, gateway.jump("alice-new.ws", "echo new", extra=[
            "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=accept-new"]))
    threads = [threading.Thread(target=first, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    gateway.ssh_config("alice", refresh=True)
    for known, r in results[:5]:
        assert (r.returncode, r.stdout) == (0, "new\n"), r.stderr
        [line] = open(known).read().splitlines()
        assert line in open(gateway.ws.path("known_hosts-alice")).read()
    assert gateway.starts().count("alice-new") == 1
    assert [e["workspace"] for e in gateway.events("gateway_create")] == ["alice-par", "alice-new"]


def test_the_gateway_is_no_proxy_and_takes_no_environment(gateway):
    """Besides direct-tcpip to a workspace, nothing: no forward to a Unix
    socket on the gateway's host, no -R, no SOCKS to elsewhere; and the
    client's environment never reaches the control command (USER names
    the user whose workspaces it acts on)."""
    gateway.control("bob", "start bob")
    sock_path = gateway.ws.path("gateway-host.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock_path)
    listener.listen(1)
    lport, dport = free_port(), free_port()
    client = subprocess.Popen(["ssh", "-F", gateway.bootstrap_config("alice"), "-N",
                               "-L", f"{lport}:{sock_path}", "-D", str(dport),
                               f"alice@{HOST}"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert through_forward(lport) is None
        with echo_server() as target:
            with socket.create_connection(("127.0.0.1", dport), timeout=10) as s:
                s.sendall(b"\x05\x01\x00")
                assert s.recv(2) == b"\x05\x00"
                s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1")
                          + struct.pack(">H", target))
                assert s.recv(10)[1:2] != b"\x00"  # the SOCKS connect failed
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing reached the socket
            listener.accept()
    finally:
        stop_process(client)
        listener.close()
    err = client.stderr.read()
    assert refusal("'127.0.0.1' is not a workspace name") in err, err
    r = gateway.gw_ssh("alice", "list", extra=["-R", "0:127.0.0.1:22", "-o",
                                                "ExitOnForwardFailure=yes"])
    assert r.returncode == 255 and "remote port forwarding failed" in r.stderr, r.stderr
    # SetEnv USER=bob: still alice's list, not bob's
    r = gateway.gw_ssh("alice", "list", extra=["-o", "SetEnv=USER=bob WS_GATEWAY_CONFIG=/dev/null"
                                               " SSH_ORIGINAL_COMMAND=rm"])
    assert r.returncode == 0 and r.stdout.startswith("no workspaces for alice"), r
    r = gateway.gw_ssh("alice", "status bob", extra=["-o", "SetEnv=USER=bob"])
    assert r.returncode == 1 and r.stderr == "no workspace 'bob' for alice\n"
