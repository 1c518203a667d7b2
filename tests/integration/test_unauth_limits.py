"""Limits on unauthenticated connections: a burst of real logins, an idle
flood, --max-unauth and --max-unauth-per-address (which connection is closed
to make room), the banner for a probe that half-closes, the listener's
progress pipes, and the auth timeout."""
import concurrent.futures
import os
import socket
import time

import pytest

from conftest import wait_for
from interop_helpers import recv_until


def parallel_logins(server, n, options=("ConnectTimeout=60",)):
    def one(_):
        return server.ssh("true", options=options, timeout=180).returncode
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_a_burst_of_200_parallel_logins_from_one_address_all_succeed(server):
    start = time.monotonic()
    results = parallel_logins(server, 200)
    elapsed = time.monotonic() - start
    print(f"200 parallel logins: {results.count(0)} succeeded in {elapsed:.1f}s")
    assert results.count(0) == 200, {rc: results.count(rc) for rc in set(results)}


def idle_connections(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
    return socks


def test_an_idle_flood_cannot_starve_a_real_login_with_the_default_limits(server):
    flood = idle_connections(server.port, 300)  # more than --max-unauth's 256
    try:
        # The silent connections get their processes after the park's grace,
        # a few at a time, until the table is full: the login comes then,
        # however slow the machine, and needs the oldest closed for room.
        assert wait_for(lambda: server.output().count("Child connection from") >= 256, 30)
        r = server.ssh("echo in")
        assert r.returncode == 0 and r.stdout == "in\n", r.stderr
        assert "--max-unauth" in server.output()
    finally:
        for s in flood:
            s.close()


def test_the_per_address_limit_closes_the_oldest_unauthenticated_connection(start_server):
    s = start_server(extra_args=["--max-unauth=50", "--max-unauth-per-address=3"]).wait_ready()
    flood = idle_connections(s.port, 4)
    try:
        # the first one was closed to make room for the fourth
        flood[0].settimeout(10)
        # closed, perhaps before it sent its banner; a timeout fails the test
        recv_until(flood[0].recv)
        assert s.ssh("true").returncode == 0
        assert "--max-unauth-per-address reached" in s.output()
    finally:
        for c in flood:
            c.close()


def test_a_full_table_closes_the_connection_that_has_come_least_far(start_server):
    """With room for two, a connection that sent its version line first
    outlives a newer one that has sent nothing: the newcomer closes the
    one that has come least far, not the oldest."""
    s = start_server(extra_args=["--max-unauth=2"]).wait_ready()
    spoke = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    spoke.sendall(b"SSH-2.0-first\r\n")
    assert spoke.recv(4096).startswith(b"SSH-2.0-")  # it has its process
    silent = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    # a silent connection gets its process after the park's grace period
    assert wait_for(lambda: s.output().count("Child connection from") == 2, 10), s.output()
    newcomer = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    newcomer.sendall(b"SSH-2.0-third\r\n")
    try:
        silent.settimeout(10)
        recv_until(silent.recv)  # closed (perhaps after its banner)
        assert "(from 127.0.0.1, nothing received)" in s.output(), s.output()
        # the older one that had spoken is still open: no EOF
        spoke.settimeout(1)
        with pytest.raises(socket.timeout):
            recv_until(spoke.recv)
    finally:
        for c in (spoke, silent, newcomer):
            c.close()


def test_a_banner_probe_that_only_half_closes_gets_the_banner(server):
    """`nc -N host port </dev/null` style: the client is done sending before
    it said anything, and still gets the identification line (from the
    park, without a process)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
        c.shutdown(socket.SHUT_WR)
        assert recv_until(c.recv).startswith(b"SSH-2.0-")


def pipe_inodes(pid):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            found.add(target)
    return found


def children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return kids


def test_a_connection_process_holds_none_of_the_listeners_pipes(server):
    """The listener reads each unauthenticated connection's progress from a
    pipe; no connection process (nor what it starts) may hold another's read
    end: reading it would steal that connection's reports."""
    conns = []
    try:
        for i in range(3):
            c = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            c.sendall(f"SSH-2.0-probe{i}\r\n".encode())
            assert c.recv(4096).startswith(b"SSH-2.0-")
            conns.append(c)
        listener = server.proc.pid
        assert wait_for(lambda: len(children(listener)) == 3, 10)
        held = pipe_inodes(listener)
        assert len(held) >= 3, held
        # a pipe's two ends are one inode: each child shares its own only
        for child in children(listener):
            assert len(pipe_inodes(child) & held) == 1, (child, pipe_inodes(child), held)
    finally:
        for c in conns:
            c.close()


def test_the_auth_timeout_closes_a_silent_connection(start_server):
    s = start_server(extra_args=["--auth-timeout=2"]).wait_ready()
    with socket.create_connection(("127.0.0.1", s.port), timeout=15) as c:
        start = time.monotonic()
        data = recv_until(c.recv)
        waited = time.monotonic() - start
    assert data.startswith(b"SSH-2.0-dropbear")
    assert 1.5 <= waited < 10, waited
    assert "Timeout before auth" in s.output()
