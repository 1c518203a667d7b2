"""The encrypt-then-MAC MACs with AES-CTR and the OpenSSH client: 2 MiB
through `cat` come back intact, over the MAC and cipher asked for."""
import os

import pytest


@pytest.mark.parametrize("mac", ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"])
@pytest.mark.parametrize("cipher", ["aes128-ctr", "aes256-ctr"])
def test_encrypt_then_mac_with_ctr_works_with_openssh(server, mac, cipher):
    data = os.urandom(2 * 1024 * 1024 + 5)  # many packets each way, and rekey-free
    r = server.ssh("cat", options=[f"MACs={mac}", f"Ciphers={cipher}"], extra=["-v"], input=data)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == data
    assert f"cipher: {cipher} MAC: {mac}".encode() in r.stderr
