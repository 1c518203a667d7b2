"""The AEAD ciphers with the OpenSSH client: whichever backend ./configure
chose (libcrypto or libtomcrypt), every byte of a large transfer must arrive
intact in both directions, also across many rekeys (RekeyLimit=1M), which
replace the cipher states mid-stream."""
import hashlib
import os
import re
import subprocess

import pytest

from conftest import DROPBEAR, REPO

AEAD = ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
SIZE = 24 * 1024 * 1024 + 4099  # not a multiple of any packet or block size


@pytest.fixture(scope="module")
def payload():
    data = os.urandom(SIZE)
    return data, hashlib.sha256(data).hexdigest()


def negotiated(stderr, cipher):
    """Both directions used the cipher (ssh -v names them per direction)."""
    return all(re.search(rf"kex: {d} cipher: {re.escape(cipher)} ", stderr)
               for d in ("client->server", "server->client"))


def rekeys(stderr):
    return stderr.count("SSH2_MSG_NEWKEYS received")


@pytest.mark.parametrize("cipher", AEAD)
def test_upload_intact_across_rekeys(server, payload, cipher):
    data, digest = payload
    r = server.ssh("sha256sum", options=[f"Ciphers={cipher}", "RekeyLimit=1M"],
                   extra=["-v"], input=data, timeout=120)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-2000:]
    assert negotiated(err, cipher)
    assert r.stdout.decode().split()[0] == digest
    assert rekeys(err) >= SIZE // (1024 * 1024)  # the first kex and about one per MiB


@pytest.mark.parametrize("cipher", AEAD)
def test_download_intact_across_rekeys(server, workspace, payload, cipher):
    data, digest = payload
    path = os.path.join(workspace.home, "payload.bin")
    with open(path, "wb") as f:
        f.write(data)
    workspace.chown(path)
    r = server.ssh("cat payload.bin", options=[f"Ciphers={cipher}", "RekeyLimit=1M"],
                   extra=["-v"], input=b"", timeout=120)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-2000:]
    assert negotiated(err, cipher)
    assert len(r.stdout) == SIZE and hashlib.sha256(r.stdout).hexdigest() == digest
    # the client checks its limit when it sends (window adjusts), so
    # receiving rekeys less often than once per MiB, but still many times
    assert rekeys(err) >= SIZE // (3 * 1024 * 1024)


@pytest.mark.parametrize("cipher", AEAD)
def test_interactive_both_ways(server, cipher):
    """Small packets both ways in one session (a pty echoes what it is sent)."""
    lines = [f"line {i} " + "x" * (i * 37 % 300) for i in range(200)]
    text = "\n".join(lines) + "\n"
    r = server.ssh("cat", options=[f"Ciphers={cipher}"], input=text)
    assert r.returncode == 0, r.stderr
    assert r.stdout == text


def test_server_links_the_configured_backend():
    """./configure's choice reaches the server: libcrypto is linked exactly
    when the libcrypto backend was enabled."""
    with open(os.path.join(REPO, "Makefile")) as f:
        enabled = re.search(r"^WS_CIPHER_LIBS = -lcrypto$", f.read(), re.M) is not None
    libs = subprocess.run(["ldd", DROPBEAR], capture_output=True, text=True, check=True).stdout
    assert ("libcrypto.so" in libs) == enabled
    assert "libtomcrypt.so" in libs  # kex, signatures and CTR stay on libtomcrypt
