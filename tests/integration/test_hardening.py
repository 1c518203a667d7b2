"""Hardened defaults and runtime policy: crypto profiles, encrypt-then-MAC
with OpenSSH, ssh-audit, limits on unauthenticated connections (burst and
flood), auth timeout, forwarding policy, remote unix-socket forwards that
never remove what is at their path, root refusal, the sftp-server option and
the activity record."""
import concurrent.futures
import glob
import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

from conftest import (BUILD, DROPBEAR, REPO, USER, free_port, nss_wrapper, stop_process,
                      wait_for)
from interop_helpers import echo_server, recv_until, through_forward

PROFILES = {
    "modern": {
        "kex": ["mlkem768x25519-sha256", "sntrup761x25519-sha512",
                "sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
                "curve25519-sha256@libssh.org"],
        "cipher": ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                   "aes128-gcm@openssh.com", "aes256-ctr", "aes128-ctr"],
        "mac": ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"],
    },
    "pq-only": {
        "kex": ["mlkem768x25519-sha256", "sntrup761x25519-sha512",
                "sntrup761x25519-sha512@openssh.com"],
        "cipher": ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                   "aes128-gcm@openssh.com"],
        "mac": ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"],
    },
    "compat": {
        "kex": ["mlkem768x25519-sha256", "sntrup761x25519-sha512",
                "sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
                "curve25519-sha256@libssh.org", "diffie-hellman-group16-sha512",
                "diffie-hellman-group14-sha256"],
        "cipher": ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                   "aes128-gcm@openssh.com", "aes256-ctr", "aes128-ctr"],
        "mac": ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
                "hmac-sha2-256", "hmac-sha2-512"],
    },
}


def offered(profile, what):
    args = [DROPBEAR] + ([f"--crypto-profile={profile}"] if profile else []) + ["-Q", what]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("what", ["kex", "cipher", "mac"])
def test_each_profile_offers_exactly_its_documented_lists(profile, what):
    assert offered(profile, what) == PROFILES[profile][what]


def test_modern_is_the_default_and_nothing_weak_is_compiled_in():
    for what in ("kex", "cipher", "mac"):
        assert offered(None, what) == PROFILES["modern"][what]
    assert offered(None, "compress") == ["none"]
    everything = " ".join(" ".join(offered("compat", w)) for w in ("kex", "cipher", "mac", "sig"))
    for weak in ("sha1", "cbc", "3des", "nistp256-sha", "ecdh-sha2", "ssh-dss", "ssh-rsa "):
        assert weak not in everything + " ", weak
    assert "rsa-sha2-256" in offered(None, "sig") and "ssh-rsa" not in offered(None, "sig")


@pytest.mark.parametrize("args, message", [
    (["--crypto-profile=fast"], "Unknown --crypto-profile 'fast': expected compat, modern or pq-only"),
    (["--max-unauth=0"], "Bad --max-unauth '0': expected a whole number from 1 to 512"),
    (["--max-unauth=10k"], "Bad --max-unauth '10k'"),
    (["--max-unauth=600"], "Bad --max-unauth '600'"),
    (["--max-unauth=10", "--max-unauth-per-address=20"],
     "Bad --max-unauth-per-address '20': expected a whole number from 1 to 10"),
    (["--auth-timeout=-5"], "Bad --auth-timeout '-5'"),
    (["--auth-timeout=0"], "Bad --auth-timeout '0'"),
    (["--sftp-server=sftp-server"], "Bad --sftp-server 'sftp-server': expected an absolute path"),
    (["-K", "often"], "Bad keepalive 'often'"),
    (["-I", "1h"], "Bad idle_timeout '1h'"),
])
def test_a_bad_policy_value_stops_startup_with_a_clear_message(start_server, args, message):
    s = start_server(extra_args=args)
    assert s.wait_exit() not in (None, 0), s.output()
    assert message in s.output()
    assert not listening_on(s.port)


def test_without_stderr_logging_the_message_still_reaches_stderr(workspace):
    r = subprocess.run([DROPBEAR, "-F", "-p", f"127.0.0.1:{free_port()}", "-r", workspace.hostkey,
                        "--crypto-profile=weak"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "Unknown --crypto-profile 'weak'" in r.stderr


def listening_on(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- encrypt-then-MAC and the profiles with OpenSSH ---

@pytest.mark.parametrize("mac", ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"])
@pytest.mark.parametrize("cipher", ["aes128-ctr", "aes256-ctr"])
def test_encrypt_then_mac_with_ctr_works_with_openssh(server, mac, cipher):
    data = os.urandom(2 * 1024 * 1024 + 5)  # many packets each way, and rekey-free
    r = server.ssh("cat", options=[f"MACs={mac}", f"Ciphers={cipher}"], extra=["-v"], input=data)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == data
    assert f"cipher: {cipher} MAC: {mac}".encode() in r.stderr


def test_encrypt_and_mac_is_refused_outside_compat(start_server):
    modern = start_server().wait_ready()
    r = modern.ssh("true", options=["MACs=hmac-sha2-256", "Ciphers=aes128-ctr"])
    assert r.returncode == 255 and "no matching MAC" in r.stderr
    compat = start_server(extra_args=["--crypto-profile=compat"]).wait_ready()
    assert compat.ssh("true", options=["MACs=hmac-sha2-256", "Ciphers=aes128-ctr"]).returncode == 0


def test_pq_only_refuses_a_classical_key_exchange(start_server):
    s = start_server(extra_args=["--crypto-profile=pq-only"]).wait_ready()
    r = s.ssh("true", options=["KexAlgorithms=curve25519-sha256"])
    assert r.returncode == 255 and "no matching key exchange method" in r.stderr
    r = s.ssh("true", extra=["-v"])
    assert r.returncode == 0, r.stderr
    assert "kex: algorithm: sntrup761x25519-sha512" in r.stderr, r.stderr


# --- ssh-audit 3.3 (output kept in build/tests/ssh-audit-PROFILE.txt) ---

def ssh_audit(port):
    pythonpath = subprocess.run([os.path.join(REPO, "tests", "fetch-ssh-audit.sh"), "--check"],
                                capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, PYTHONPATH=pythonpath)
    text = subprocess.run(["/usr/bin/python3", "-m", "ssh_audit", "--skip-rate-test",
                           "-p", str(port), "127.0.0.1"],
                          capture_output=True, text=True, env=env, timeout=120).stdout
    data = json.loads(subprocess.run(["/usr/bin/python3", "-m", "ssh_audit", "--skip-rate-test",
                                      "-j", "-p", str(port), "127.0.0.1"],
                                     capture_output=True, text=True, env=env, timeout=120).stdout)
    return text, data


def audit_notes(data, level):
    """(section, algorithm) pairs that ssh-audit rated at `level`."""
    found = []
    for section in ("kex", "key", "enc", "mac"):
        for entry in data.get(section, []):
            if entry.get("notes", {}).get(level):
                found.append((section, entry["algorithm"]))
    return found


@pytest.mark.parametrize("profile, allow_warn", [("modern", True), ("pq-only", False)])
def test_ssh_audit(start_server, profile, allow_warn):
    s = start_server(extra_args=[f"--crypto-profile={profile}"]).wait_ready()
    text, data = ssh_audit(s.port)
    # the report, for reading, where make check keeps its logs (a run as
    # another uid against a build it cannot write skips it)
    reports = os.path.join(BUILD, "tests")
    os.makedirs(reports, exist_ok=True)
    if os.access(reports, os.W_OK):
        with open(os.path.join(reports, f"ssh-audit-{profile}.txt"), "w") as f:
            f.write(text)
    assert data["banner"]["software"].startswith("dropbear_2026.94"), data["banner"]
    assert audit_notes(data, "fail") == [], text
    if not allow_warn:
        assert audit_notes(data, "warn") == [], text
    assert [k["algorithm"] for k in data["kex"]][:3] == PROFILES[profile]["kex"][:3]


# --- limits on unauthenticated connections ---

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
        time.sleep(1)
        r = server.ssh("echo in")
        assert r.returncode == 0 and r.stdout == "in\n", r.stderr
        assert "--max-unauth" in server.output()  # room was made by closing the oldest
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


# --- forwarding policy ---

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


# --- remote unix-socket forwards never remove what is at the path ---

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
        a = remote_unix_forward(s, path, dest)
        try:
            assert forwarding(path), a.poll() is not None and a.stderr.read()
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
        a = remote_unix_forward(s, path, dest)
        try:
            assert forwarding(path), a.poll() is not None and a.stderr.read()
        finally:
            stop_process(a)
        assert wait_for(lambda: not os.path.lexists(path), timeout=10), s.output()
        # replaced while the connection lives: the replacement stays
        a = remote_unix_forward(s, path, dest)
        other = None
        try:
            assert forwarding(path), a.poll() is not None and a.stderr.read()
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


# --- root ---

@pytest.mark.skipif(os.getuid() != 0, reason="needs root to start the server as root")
def test_root_is_refused_even_when_the_server_runs_as_root(start_server, workspace):
    """Upstream lets uid 0 in when the server runs as root and -w is not given."""
    root_home = workspace.path("roothome")
    os.makedirs(os.path.join(root_home, ".ssh"), mode=0o700)
    shutil.copy(os.path.join(workspace.home, ".ssh", "authorized_keys"),
                os.path.join(root_home, ".ssh", "authorized_keys"))
    with open(workspace.path("passwd"), "a") as f:
        f.write(f"root:x:0:0:root:{root_home}:/bin/bash\n")
        f.write(f"toor:x:0:0:root:{root_home}:/bin/bash\n")
    s = start_server()
    s.wait_ready()
    s.proc.terminate()
    s.proc.wait()
    # the same command line without setpriv, and without -w
    args = [a for a in s.proc.args[s.proc.args.index(DROPBEAR):] if a != "-w"]
    env = dict(os.environ, LD_PRELOAD=nss_wrapper(), NSS_WRAPPER_PASSWD=workspace.path("passwd"),
               NSS_WRAPPER_GROUP=workspace.path("group"))
    s.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=s.log,
                              stderr=subprocess.STDOUT)
    s.wait_ready()
    assert open(f"/proc/{s.proc.pid}/status").read().count("Uid:\t0\t") == 1
    for user in ("root", "toor"):
        r = s.ssh("id -u", user=user)
        assert r.returncode == 255 and "Permission denied" in r.stderr, r
    assert "root login rejected" in s.output()


# --- sftp-server path ---

def test_the_sftp_subsystem_runs_the_configured_program(start_server, workspace):
    marker = workspace.path("server", "sftp-ran")  # writable by the server's uid
    wrapper = workspace.path("my-sftp-server")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\necho ran > {marker}\nexec /usr/lib/openssh/sftp-server \"$@\"\n")
    os.chmod(wrapper, 0o755)
    s = start_server(extra_args=[f"--sftp-server={wrapper}", "-e"]).wait_ready()
    batch = workspace.path("batch")
    with open(batch, "w") as f:
        f.write("pwd\n")
    args = s.ssh_args()
    args[0], args[args.index("-p")] = "sftp", "-P"
    r = subprocess.run(args[:-1] + ["-b", batch, args[-1]], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(marker)


# --- activity record ---

def test_the_activity_record_tracks_live_connections(start_server, workspace):
    adir = workspace.path("server", "activity")
    cfg = workspace.write_config(f"event_log = stderr\nactivity_dir = {adir}\n"
                                 "activity_interval = 1\n", name="activity.conf")
    # -K 1: the record is rewritten when the connection's loop wakes up; after
    # output stops that is the next keepalive (30 s by default)
    s = start_server(config=cfg, extra_args=["-K", "1"]).wait_ready()
    assert os.path.isdir(adir)
    proc = subprocess.Popen(s.ssh_args() + ["-tt", "sleep 2; echo tick; sleep 30"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        def record():
            files = glob.glob(os.path.join(adir, "*.json"))
            if len(files) == 1:
                with open(files[0]) as f:
                    r = json.load(f)
                return r if r.get("user") == USER and r.get("channels") else None
            return None
        first = wait_for(record, timeout=10)
        assert first, os.listdir(adir)
        assert first["event"] == "activity" and first["client"] == "127.0.0.1"
        assert first["pid"] > 0 and first["channels"] >= 1
        # "tick" is session output: last_activity moves forward
        later = wait_for(lambda: (r := record()) and
                         r["last_activity_ms"] > first["last_activity_ms"] and r, timeout=15)
        assert later, record()
        assert later["connected_ms"] == first["connected_ms"]
        assert oct(os.stat(glob.glob(os.path.join(adir, "*.json"))[0]).st_mode & 0o777) == "0o644"
    finally:
        proc.kill()
        proc.wait()
    # the connection ended: its record is gone
    assert wait_for(lambda: not glob.glob(os.path.join(adir, "*.json")), timeout=10)
