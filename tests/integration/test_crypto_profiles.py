"""Crypto profiles (--crypto-profile): what each offers, that modern is the
default and nothing weak is compiled in, what the OpenSSH client is refused
outside a profile, and ssh-audit 3.3's rating of modern and pq-only."""
import json
import os
import subprocess

import pytest

from conftest import BUILD, DROPBEAR, REPO


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
