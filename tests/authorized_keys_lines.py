"""Authorized-keys lines the server accepts and lines it does not, shared by
the chart's render-time check (tests/helm/test_values.py) and the image's
entrypoint (tests/image/test_inputs.py): both apply the same rule, so both
are held to the same lists.

The server (Dropbear, dropbear/localoptions.h) accepts the key types
ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa and the two FIDO types;
DSS is compiled out and certificates are not supported.  Options must be
ones it knows; one it does not (from=, environment=) makes it refuse the
key."""
import base64
import os
import struct
import subprocess


def _field(b):
    return struct.pack(">I", len(b)) + b


def _b64(*fields):
    return base64.b64encode(b"".join(_field(f) for f in fields)).decode()


def _keygen(path, *args):
    if not os.path.exists(path):
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", "t", *args, "-f", path], check=True)
    with open(path + ".pub") as f:
        return f.read().split()


def key_lines(directory):
    """Public key lines of every accepted type, made in directory.  The FIDO
    keys are built from real ed25519/ECDSA public keys (no token needed)."""
    ed = _keygen(os.path.join(directory, "id_ed25519"), "-t", "ed25519")
    rsa = _keygen(os.path.join(directory, "id_rsa"), "-t", "rsa", "-b", "2048")
    ec = {bits: _keygen(os.path.join(directory, f"id_ecdsa{bits}"), "-t", "ecdsa", "-b", bits)
          for bits in ("256", "384", "521")}
    ed_pk = base64.b64decode(ed[1])[-32:]
    ec_q = base64.b64decode(ec["256"][1])[-65:]
    return {
        "ed25519": f"{ed[0]} {ed[1]} ed@host",
        "rsa": f"{rsa[0]} {rsa[1]}",
        "ecdsa256": f"{ec['256'][0]} {ec['256'][1]} ec256",
        "ecdsa384": f"{ec['384'][0]} {ec['384'][1]}",
        "ecdsa521": f"{ec['521'][0]} {ec['521'][1]} with a comment of several words",
        "sk-ed25519": "sk-ssh-ed25519@openssh.com "
                      + _b64(b"sk-ssh-ed25519@openssh.com", ed_pk, b"ssh:") + " yubikey",
        "sk-ecdsa": "sk-ecdsa-sha2-nistp256@openssh.com "
                    + _b64(b"sk-ecdsa-sha2-nistp256@openssh.com", b"nistp256", ec_q, b"ssh:"),
    }


def good_lines(keys):
    """Lines both must accept: every key type, and options as the server
    parses them (quoted values with spaces and commas, escaped quotes, any
    case)."""
    ed = keys["ed25519"]
    return list(keys.values()) + [
        f'command="echo a, b; echo \\"quoted\\"",no-pty {ed}',
        f'NO-PTY,No-Agent-Forwarding {ed}',
        f'restrict,permitopen="localhost:8080",permitopen="db:5432" {ed}',
        f'permitlisten="127.0.0.1:9000" {keys["ecdsa256"]}',
        f'no-touch-required {keys["sk-ed25519"]}',
    ]


def bad_lines(keys):
    """(id, line, what the chart says, what the entrypoint says): lines both
    must refuse, each for the reason named."""
    ed = keys["ed25519"]
    typ, b64 = ed.split()[:2]
    blob = base64.b64decode(b64)
    return [
        ("typo-in-type", "ssh-ed2551 " + b64 + " x",
         "no known key type", "has no known key type"),
        ("dss", "ssh-dss " + _b64(b"ssh-dss", b"p", b"q", b"g", b"y"),
         "the server does not accept the key type ssh-dss",
         "has the key type ssh-dss, which the server does not accept"),
        ("certificate", "ssh-ed25519-cert-v01@openssh.com " + b64,
         "the server does not accept the key type ssh-ed25519-cert-v01@openssh.com",
         "has the key type ssh-ed25519-cert-v01@openssh.com, which the server does not accept"),
        ("file-name", "~/.ssh/id_ed25519.pub", "no known key type", "has no known key type"),
        ("type-only", typ, "no key data after the key type ssh-ed25519",
         "has no key data after the key type ssh-ed25519"),
        ("not-base64", typ + " AAAA!notbase64 x", "is not base64", "is not base64"),
        ("cut-short", typ + " " + base64.b64encode(blob[:-3]).decode(),
         "is not a ssh-ed25519 key", "is not a valid ssh-ed25519 key"),
        ("wrong-type", "ssh-rsa " + b64, "is not a ssh-rsa key", "is not a valid ssh-rsa key"),
        ("two-spaces", typ + "  " + b64, "no key data after the key type",
         "has no key data after the key type"),
        ("indented", "  " + ed, "starts with white space", "starts with white space"),
        ("unknown-option", f'from="10.0.0.0/8" {ed}',
         "the server does not support the option from",
         "has the option from, which the server does not support"),
        ("unterminated-quote", f'command="echo hi {ed}', "no known key type",
         "has no known key type"),
        ("empty-option", f"no-pty,,restrict {ed}", "options are malformed",
         "has malformed options"),
        ("base64-alone", b64, "base64 text without a key type",
         "is base64 text without a key type"),
        ("too-long", ed + " " + "x" * 3000, "longer than 3000 characters",
         "is longer than 3000 characters"),
    ]


BAD_IDS = ["typo-in-type", "dss", "certificate", "file-name", "type-only", "not-base64",
           "cut-short", "wrong-type", "two-spaces", "indented", "unknown-option",
           "unterminated-quote", "empty-option", "base64-alone", "too-long"]


def bad_line(keys, name):
    case = [c for c in bad_lines(keys) if c[0] == name]
    assert len(case) == 1, name
    return case[0]


def private_key(directory, name="id_leaked"):
    """A real OpenSSH private key's text and its public line."""
    path = os.path.join(directory, name)
    pub = _keygen(path, "-t", "ed25519")
    with open(path) as f:
        return f.read(), " ".join(pub)


def secret_parts(private_text):
    """The base64 lines of a private key: none may appear in any message."""
    return [ln for ln in private_text.splitlines() if ln and not ln.startswith("-----")]
