"""The bulk ciphers with the OpenSSH client and paramiko: whichever backend
./configure chose (libcrypto or libtomcrypt), every byte of a large transfer
must arrive intact in both directions, also across many rekeys
(RekeyLimit=1M, or paramiko asking for one every MiB), which replace the
cipher and MAC states mid-stream.  Covered: the AEAD ciphers, and AES-CTR
with each HMAC-SHA2 MAC, encrypt-then-MAC and plain (with libcrypto both
the cipher and the MAC run on it)."""
import hashlib
import os
import re
import subprocess

import pytest

from conftest import DROPBEAR, REPO
from interop_helpers import script_client, sha256_file

AEAD = ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
CTR_MACS = [("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
            ("aes256-ctr", "hmac-sha2-512-etm@openssh.com"),
            ("aes128-ctr", "hmac-sha2-512"), ("aes256-ctr", "hmac-sha2-256")]
# (cipher, MAC): the AEAD ciphers bring their own
CIPHERS = [(c, None) for c in AEAD] + CTR_MACS
IDS = [c if m is None else f"{c}+{m}" for c, m in CIPHERS]
SIZE = 24 * 1024 * 1024 + 4099  # not a multiple of any packet or block size


@pytest.fixture(scope="module")
def payload():
    data = os.urandom(SIZE)
    return data, hashlib.sha256(data).hexdigest()


@pytest.fixture
def server_for(server, start_server):
    """server_for(mac): the default server, or for the encrypt-and-MAC MACs
    (plain hmac-sha2-*) one with --crypto-profile=compat, the only profile
    that offers them."""
    def pick(mac):
        if mac is None or mac.endswith("-etm@openssh.com"):
            return server
        return start_server(extra_args=["--crypto-profile=compat"]).wait_ready()
    return pick


def options(cipher, mac, *more):
    return [f"Ciphers={cipher}"] + ([f"MACs={mac}"] if mac else []) + list(more)


def negotiated(stderr, cipher, mac=None):
    """Both directions used the cipher and MAC (ssh -v names them per
    direction)."""
    want = re.escape(cipher) + (rf" MAC: {re.escape(mac)} " if mac else " ")
    return all(re.search(rf"kex: {d} cipher: {want}", stderr)
               for d in ("client->server", "server->client"))


def rekeys(stderr):
    return stderr.count("SSH2_MSG_NEWKEYS received")


@pytest.mark.parametrize("cipher,mac", CIPHERS, ids=IDS)
def test_upload_intact_across_rekeys(server_for, payload, cipher, mac):
    data, digest = payload
    r = server_for(mac).ssh("sha256sum", options=options(cipher, mac, "RekeyLimit=1M"),
                   extra=["-v"], input=data, timeout=120)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-2000:]
    assert negotiated(err, cipher, mac)
    assert r.stdout.decode().split()[0] == digest
    assert rekeys(err) >= SIZE // (1024 * 1024)  # the first kex and about one per MiB


@pytest.mark.parametrize("cipher,mac", CIPHERS, ids=IDS)
def test_download_intact_across_rekeys(server_for, workspace, payload, cipher, mac):
    data, digest = payload
    path = os.path.join(workspace.home, "payload.bin")
    with open(path, "wb") as f:
        f.write(data)
    workspace.chown(path)
    r = server_for(mac).ssh("cat payload.bin", options=options(cipher, mac, "RekeyLimit=1M"),
                   extra=["-v"], input=b"", timeout=120)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-2000:]
    assert negotiated(err, cipher, mac)
    assert len(r.stdout) == SIZE and hashlib.sha256(r.stdout).hexdigest() == digest
    # the client checks its limit when it sends (window adjusts), so
    # receiving rekeys less often than once per MiB, but still many times
    assert rekeys(err) >= SIZE // (3 * 1024 * 1024)


@pytest.mark.parametrize("cipher,mac", CIPHERS, ids=IDS)
def test_interactive_both_ways(server_for, cipher, mac):
    """Small packets both ways in one session (a pty echoes what it is sent)."""
    lines = [f"line {i} " + "x" * (i * 37 % 300) for i in range(200)]
    text = "\n".join(lines) + "\n"
    r = server_for(mac).ssh("cat", options=options(cipher, mac), input=text)
    assert r.returncode == 0, r.stderr
    assert r.stdout == text


# paramiko (and so Ansible's paramiko mode) has no AEAD cipher: it picks
# aes128-ctr with hmac-sha2-256-etm from the default profile, with plain
# hmac-sha2-256 from compat; the others when its lists are narrowed
PARAMIKO = [("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
            ("aes256-ctr", "hmac-sha2-512-etm@openssh.com"), ("aes128-ctr", "hmac-sha2-256")]


@pytest.mark.parametrize("cipher,mac", PARAMIKO, ids=[f"{c}+{m}" for c, m in PARAMIKO])
def test_paramiko_up_and_down_intact_across_rekeys(server_for, workspace, payload, cipher, mac):
    data, digest = payload
    local, back = workspace.path("up.bin"), workspace.path("back.bin")
    with open(local, "wb") as f:
        f.write(data[:8 * 1024 * 1024 + 4099])
    want = sha256_file(local)
    r = script_client("paramiko", server_for(mac), "rekey_transfer", local=local, remote="paramiko.bin",
                      local_back=back, ciphers=[cipher], macs=[mac])
    assert r.status == 0, r.out[-2000:]
    assert f"out {cipher} {mac} in {cipher} {mac} " in r.out
    assert int(r.out.split("rekeys ")[1].split()[0]) >= 12  # one per MiB up, most MiB down
    assert sha256_file(os.path.join(workspace.home, "paramiko.bin")) == want
    assert sha256_file(back) == want


def test_server_links_the_configured_backend():
    """./configure's choice reaches the server: libcrypto is linked exactly
    when the libcrypto backend was enabled."""
    with open(os.path.join(REPO, "Makefile")) as f:
        enabled = re.search(r"^WS_CIPHER_LIBS = -lcrypto$", f.read(), re.M) is not None
    libs = subprocess.run(["ldd", DROPBEAR], capture_output=True, text=True, check=True).stdout
    assert ("libcrypto.so" in libs) == enabled
    assert "libtomcrypt.so" in libs  # kex and signatures stay on libtomcrypt
