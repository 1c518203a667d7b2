"""Forwarding policy: local TCP and unix-socket forwards on by default and
off with -j, remote forwards bound to loopback unless -a, and the
authorized_keys options that limit forwarding."""
import os
import socket
import subprocess

import pytest

from conftest import free_port, wait_for
from interop_helpers import echo_server, through_forward


def forward_reply(server, spec_flag, spec, port):
    proc = subprocess.Popen(server.ssh_args(options=["ExitOnForwardFailure=yes"]) +
                            ["-N", spec_flag, spec], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        return through_forward(port)
    finally:
        proc.kill()
        proc.wait()


def test_local_tcp_forwarding_is_on_by_default_and_off_with_j(start_server):
    with echo_server() as dest:
        on = start_server().wait_ready()
        lport = free_port()
        assert forward_reply(on, "-L", f"{lport}:127.0.0.1:{dest}", lport) == \
            b"PING THROUGH THE TUNNEL\n"
        off = start_server(extra_args=["-j"]).wait_ready()
        lport = free_port()
        assert forward_reply(off, "-L", f"{lport}:127.0.0.1:{dest}", lport) is None


def unix_echo_server(path):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o777)
    srv.listen(4)

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.sendall(conn.recv(4096).upper())
    import threading
    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_unix_socket_forwarding_is_on_by_default_and_off_with_j(start_server, workspace):
    for args, works in (([], True), (["-j"], False)):
        path = workspace.path(f"echo-{len(args)}.sock")
        srv = unix_echo_server(path)
        try:
            s = start_server(extra_args=args).wait_ready()
            lport = free_port()
            got = forward_reply(s, "-L", f"{lport}:{path}", lport)
            assert (got == b"PING THROUGH THE TUNNEL\n") is works, (args, got)
        finally:
            srv.close()


def remote_listen_address(server, extra_args=()):
    rport = free_port()
    proc = subprocess.Popen(server.ssh_args(options=["ExitOnForwardFailure=yes"]) +
                            ["-N", "-R", f"0.0.0.0:{rport}:127.0.0.1:9"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def bound():
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if local.endswith(f":{rport:04X}") and state == "0A":
                        return local.split(":")[0]
            return None
        return wait_for(bound, timeout=10)
    finally:
        proc.kill()
        proc.wait()


def test_remote_forwarding_binds_loopback_only_unless_a(start_server):
    assert remote_listen_address(start_server().wait_ready()) == "0100007F"  # 127.0.0.1
    assert remote_listen_address(start_server(extra_args=["-a"]).wait_ready()) == "00000000"


@pytest.mark.parametrize("options, allowed", [
    ('permitopen="127.0.0.1:{dest}"', True),
    ('permitopen="127.0.0.1:1"', False),
    ("restrict", False),
    ("no-port-forwarding", False),
])
def test_authorized_keys_options_limit_forwarding(start_server, workspace, options, allowed):
    with echo_server() as dest:
        ak = os.path.join(workspace.home, ".ssh", "authorized_keys")
        with open(ak) as f:
            key = f.read()
        with open(ak, "w") as f:
            f.write(options.format(dest=dest) + " " + key)
        s = start_server().wait_ready()
        lport = free_port()
        got = forward_reply(s, "-L", f"{lport}:127.0.0.1:{dest}", lport)
        assert (got == b"PING THROUGH THE TUNNEL\n") is allowed, got
