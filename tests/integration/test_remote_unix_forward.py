"""Remote unix-socket forwards (ssh -R /path:host:port) never remove what is
at their path: not a file, not another connection's socket; at the end a
connection removes only the socket it bound."""
import os
import socket
import stat
import subprocess

import pytest

from conftest import stop_process, wait_for
from interop_helpers import echo_server, recv_until


def remote_unix_forward(server, path, dest, verbose=False):
    """`ssh -N -R path:127.0.0.1:dest` that exits if the server refuses it."""
    return subprocess.Popen(server.ssh_args(options=["ExitOnForwardFailure=yes"]) +
                            (["-v"] if verbose else []) +
                            ["-N", "-R", f"{path}:127.0.0.1:{dest}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def through_unix_socket(path, payload=b"ping through the socket\n"):
    """What the echo server behind the forwarded socket at path answers (None
    if nothing answers there)."""
    try:
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(10)
            c.connect(path)
            c.sendall(payload)
            return recv_until(c.recv, b"\n") or None
    except OSError:
        return None


def forwarding(path):
    """Waits (bounded) until the forwarded socket at path answers."""
    return wait_for(lambda: through_unix_socket(path) == b"PING THROUGH THE SOCKET\n",
                    timeout=15)


def live_forward(server, path, dest):
    """remote_unix_forward() once its socket at path answers; the test
    fails, with the client's stderr if it has exited, when it never does."""
    proc = remote_unix_forward(server, path, dest)
    if not forwarding(path):
        err = proc.poll() is not None and proc.stderr.read()
        stop_process(proc)
        raise AssertionError(f"the forward at {path} never answered: {err}")
    return proc


def refused(proc, timeout=15):
    """The client's exit status and stderr once ExitOnForwardFailure ended it
    (None if it is still running: the server accepted the forward)."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return proc.returncode, proc.stderr.read()


def disconnects(server):
    return sum(1 for e in server.events() if e["event"] == "disconnect")


REFUSED_LOG = "refused: the path exists, not removing it"


def test_a_remote_forward_onto_an_existing_file_fails_and_leaves_it(start_server, workspace):
    """Upstream unlinked whatever was at the path: here authorized_keys itself."""
    ak = os.path.join(workspace.home, ".ssh", "authorized_keys")
    with open(ak, "rb") as f:
        before = f.read()
    s = start_server().wait_ready()
    with echo_server() as dest:
        proc = remote_unix_forward(s, ak, dest, verbose=True)
        try:
            got = refused(proc)
        finally:
            stop_process(proc)
    assert got, "the forward onto authorized_keys was accepted"
    status, err = got
    assert status != 0
    assert f"remote port forwarding failed for listen path {ak}" in err, err
    # the reason reaches the client too, as an SSH_MSG_DEBUG (shown with -v)
    assert f"Remote: streamlocal forward {ak} refused: the path exists" in err, err
    with open(ak, "rb") as f:
        assert f.read() == before
    assert stat.S_ISREG(os.lstat(ak).st_mode)
    lines = [line for line in s.output().splitlines() if REFUSED_LOG in line]
    assert len(lines) == 1 and ak in lines[0], s.output()
    # and the key still logs in
    assert s.ssh("true").returncode == 0


def test_a_second_connection_cannot_take_over_a_forwarded_socket(start_server, workspace):
    path = os.path.join(workspace.home, "fwd.sock")
    s = start_server().wait_ready()
    with echo_server() as dest:
        a = live_forward(s, path, dest)
        try:
            inode = os.lstat(path).st_ino
            b = remote_unix_forward(s, path, dest)
            try:
                got = refused(b)
            finally:
                stop_process(b)
            assert got, "a second connection took over the forwarded socket"
            assert got[0] != 0 and f"listen path {path}" in got[1], got
            assert wait_for(lambda: disconnects(s) == 1, timeout=10), s.output()
            # B has left: A's socket is still there and still forwards
            assert os.lstat(path).st_ino == inode
            assert forwarding(path)
            assert a.poll() is None
        finally:
            stop_process(a)
    assert sum(REFUSED_LOG in line for line in s.output().splitlines()) == 1, s.output()


@pytest.mark.parametrize("replacement", ["socket", "file"])
def test_cleanup_removes_only_the_socket_the_forward_bound(start_server, workspace, replacement):
    path = os.path.join(workspace.home, "fwd.sock")
    s = start_server().wait_ready()
    with echo_server() as dest:
        # the forward's own socket goes when its connection ends
        stop_process(live_forward(s, path, dest))
        assert wait_for(lambda: not os.path.lexists(path), timeout=10), s.output()
        # replaced while the connection lives: the replacement stays
        a = live_forward(s, path, dest)
        other = None
        try:
            os.unlink(path)
            if replacement == "socket":
                other = socket.socket(socket.AF_UNIX)
                other.bind(path)
            else:
                with open(path, "w") as f:
                    f.write("not a socket\n")
            inode = os.lstat(path).st_ino
        finally:
            stop_process(a)
        try:
            assert wait_for(lambda: disconnects(s) == 2, timeout=10), s.output()
            assert os.path.lexists(path), "the replacement was removed"
            assert os.lstat(path).st_ino == inode
            assert stat.S_ISSOCK(os.lstat(path).st_mode) is (replacement == "socket")
            assert "no longer our socket, not removing it" in s.output()
        finally:
            if other:
                other.close()
