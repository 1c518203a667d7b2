"""Clients through the gateway's jump (gateway_e2e.py): sftp, scp, -L,
the VS Code Remote-SSH flow, PuTTY's own jump (plink -nc as the proxy
command) and a library client (paramiko) that opens the direct-tcpip
channel itself and runs a second SSH transport inside it."""
import base64
import os
import socket
import struct
import subprocess

import paramiko
import pytest
from paramiko.common import cMSG_CHANNEL_REQUEST

from conftest import free_port, stop_process, unique
from gateway_e2e import TIMEOUT
from interop_helpers import (echo_server, key_fingerprint_of_line, random_file, recv_until,
                             sha256_file, through_forward)


@pytest.fixture
def alice(gateway):
    """The gateway with alice's workspace created, and her client config."""
    gateway.control("alice", "start alice")
    gateway.ssh_config("alice")
    return gateway


def host_key_line(gateway, name):
    """The workspace's public host key as `config` prints it."""
    with open(gateway.ws.path("known_hosts-alice")) as f:
        for line in f:
            if line.startswith(f"{name}.ws "):
                return line.split(None, 1)[1].strip()
    raise AssertionError(f"no known_hosts line for {name}")


def test_sftp_and_scp_through_the_jump(alice):
    cfg = alice.ssh_config("alice")
    local = alice.ws.path("upload.bin")
    digest = random_file(local)
    back = alice.ws.path("download.bin")
    r = subprocess.run(["sftp", "-F", cfg, "-b", "-", "alice.ws"], capture_output=True,
                       text=True, timeout=TIMEOUT,
                       input=f"put {local} up.bin\nget up.bin {back}\n")
    assert r.returncode == 0, r.stderr
    assert sha256_file(alice.workspace_dir("alice", "home", "up.bin")) == digest
    assert sha256_file(back) == digest
    # scp over sftp (the default) and the legacy protocol (-O)
    for flag, name in ((), "scp.bin"), (("-O",), "scp-legacy.bin"):
        r = subprocess.run(["scp", "-F", cfg, *flag, local, f"alice.ws:{name}"],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        assert sha256_file(alice.workspace_dir("alice", "home", name)) == digest
        copy = alice.ws.path("copy-" + name)
        r = subprocess.run(["scp", "-F", cfg, *flag, f"alice.ws:{name}", copy],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0 and sha256_file(copy) == digest, r.stderr


def test_a_local_forward_is_the_workspaces(alice):
    """-L through the jump: the workspace's server connects to the
    destination; the gateway saw one route, to the workspace's port 22."""
    lport = free_port()
    with echo_server() as target:
        client = subprocess.Popen(["ssh", "-F", alice.ssh_config("alice"), "-N",
                                   "-L", f"{lport}:127.0.0.1:{target}", "alice.ws"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert through_forward(lport) == b"PING THROUGH THE TUNNEL\n"
        finally:
            stop_process(client)
    assert [(e["host"], e["port"]) for e in alice.events("gateway_route")] == [("alice.ws", 22)]
    assert not alice.events("gateway_route_refused")


def socks_connect(port, target_port):
    """A SOCKS5 CONNECT to 127.0.0.1:target_port through port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", target_port))
    reply = s.recv(10)
    assert reply[:2] == b"\x05\x00", reply
    return s


def test_the_vs_code_remote_ssh_flow(alice):
    """What VS Code's Remote-SSH runs: `ssh -T -D PORT HOST bash`, a script
    on stdin that reports where its server listens, then connections
    through the SOCKS port to it."""
    dport = free_port()
    marker = unique("vscode")
    with echo_server() as target:
        client = subprocess.Popen(["ssh", "-F", alice.ssh_config("alice"), "-T", "-D", str(dport),
                                   "alice.ws", "bash"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            client.stdin.write(f'echo "{marker}: $USER in $PWD"\n'
                               f'echo "listeningOn=={target}=="\n')
            client.stdin.flush()
            assert client.stdout.readline() == \
                f"{marker}: developer in {alice.workspace_dir('alice', 'home')}\n"
            assert client.stdout.readline() == f"listeningOn=={target}==\n"
            with socks_connect(dport, target) as s:
                s.sendall(b"through socks\n")
                assert recv_until(s.recv, b"\n") == b"THROUGH SOCKS\n"
            client.stdin.write("exit 3\n")
            client.stdin.close()
            assert client.wait(timeout=TIMEOUT) == 3
        finally:
            stop_process(client)


def test_putty_jumps_with_its_own_tools(alice):
    """plink through `plink -nc` (PuTTY's -W) as its proxy command, both
    host keys pinned: the gateway's and the one `config` printed."""
    ppk = alice.ws.path("id_alice.ppk")
    subprocess.run(["puttygen", alice.keys["alice"], "-O", "private", "-o", ppk], check=True,
                   capture_output=True, timeout=TIMEOUT)
    gw_fp = key_fingerprint_of_line(alice.ws.hostpub, alice.ws.path("gw-hostkey.pub"))
    ws_fp = key_fingerprint_of_line(host_key_line(alice, "alice"), alice.ws.path("ws-hostkey.pub"))
    proxy = (f"plink -batch -noagent -i {ppk} -hostkey {gw_fp} -P {alice.server.port} "
             f"alice@127.0.0.1 -nc %host:%port")
    r = subprocess.run(["plink", "-batch", "-noagent", "-i", ppk, "-hostkey", ws_fp,
                        "-proxycmd", proxy, "developer@alice.ws", "echo via putty $USER"],
                       capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout) == (0, "via putty developer\n"), r.stderr
    # a host key that is not the workspace's: refused, so the pin is checked
    wrong = key_fingerprint_of_line(alice.ws.hostpub, alice.ws.path("gw-hostkey2.pub"))
    r = subprocess.run(["plink", "-batch", "-noagent", "-i", ppk, "-hostkey", wrong,
                        "-proxycmd", proxy, "developer@alice.ws", "true"],
                       capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "via putty" not in r.stdout


def agent_request_accepted(chan):
    """auth-agent-req@openssh.com with want_reply set (paramiko's own
    request_forward_agent() does not ask for one): the server's answer."""
    m = paramiko.Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("auth-agent-req@openssh.com")
    m.add_boolean(True)
    chan._event_pending()
    chan.transport._send_user_message(m)
    try:
        chan._wait_for_event()
        return True
    except paramiko.SSHException:
        return False


def check_host_key(transport, line):
    keytype, keydata = line.split()[:2]
    key = transport.get_remote_server_key()
    assert (key.get_name(), key.asbytes()) == (keytype, base64.b64decode(keydata))


def test_a_library_client_opens_the_jump_itself(alice, caplog):
    """paramiko: a direct-tcpip channel through the gateway's transport,
    and the workspace's SSH inside it; refusals arrive as channel open
    failures on a transport that goes on, even for a 10 KB name."""
    caplog.set_level("ERROR", logger="paramiko.transport")
    key = paramiko.Ed25519Key(filename=alice.keys["alice"])
    gw = paramiko.Transport(("127.0.0.1", alice.server.port))
    try:
        gw.start_client(timeout=TIMEOUT)
        check_host_key(gw, alice.ws.hostpub)
        gw.auth_publickey("alice", key)
        # the gateway takes no agent for itself
        session = gw.open_session(timeout=TIMEOUT)
        assert not agent_request_accepted(session)

        for dest, reason in [(("alice.ws", 0), "only port 22 of a workspace"),
                             (("a" * 10240, 22), "'" + "a" * 64 + "' is not a workspace name"),
                             (("bob.ws", 22), "no workspace 'bob' for alice")]:
            with pytest.raises(paramiko.ChannelException) as refused:
                gw.open_channel("direct-tcpip", dest, ("127.0.0.1", 1), timeout=TIMEOUT)
            assert refused.value.code == 1  # administratively prohibited
            assert f"open FAILED: {reason}" in caplog.text
            assert gw.is_active()

        chan = gw.open_channel("direct-tcpip", ("alice.ws", 22), ("127.0.0.1", 1),
                               timeout=TIMEOUT)
        inner = paramiko.Transport(chan)
        try:
            inner.start_client(timeout=TIMEOUT)
            check_host_key(inner, host_key_line(alice, "alice"))
            inner.auth_publickey("developer", key)
            ws_session = inner.open_session(timeout=TIMEOUT)
            assert agent_request_accepted(ws_session)  # the workspace takes it
            ws_session.exec_command("echo from paramiko $USER")
            ws_session.settimeout(TIMEOUT)
            assert recv_until(ws_session.recv) == b"from paramiko developer\n"
            assert ws_session.recv_exit_status() == 0
        finally:
            inner.close()
    finally:
        gw.close()
    refused = {e["reason"] for e in alice.events("gateway_route_refused")}
    assert "'" + "a" * 64 + "' is not a workspace name" in refused
    assert "a" * 300 not in open(alice.log).read()  # the event's host is capped
    assert os.path.exists(alice.workspace_dir("alice", "events.log"))
