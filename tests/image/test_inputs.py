"""Inputs the entrypoint must refuse, each with one clear line and without
starting the server."""
import os

import pytest

from conftest import HOSTKEY_DIR, KEYS_DIR, KeySecret, mounted_file


def refuse(ws, **kw):
    rc, out = ws.run_foreground(**kw)
    assert rc == 1, out
    assert "Loaded hook library" not in out, "the server started:\n" + out
    return out


def test_no_authorized_keys_mounted(workspace):
    home = workspace.volume(owner=(1000, 1000))
    out = refuse(workspace, mounts=[f"{home}:/home/developer"])
    assert f"ssh-workspace: no authorized keys: {KEYS_DIR}/authorized_keys does not exist" in out


def test_only_comments_is_no_key(workspace):
    _, mounts = workspace.home_and_keys(keys_text="# nobody yet\n\n")
    out = refuse(workspace, mounts=mounts)
    assert "has no key lines" in out


@pytest.mark.parametrize("bad", ["ssh-ed25519 AAAAnotbase64 x", "hello world",
                                 "ssh-ed25519", "from=\"10.0.0.1\" {pub}",
                                 "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz\n"
                                 "-----END OPENSSH PRIVATE KEY-----"],
                         ids=["not-base64", "no-type", "type-only", "unknown-option",
                              "private-key"])
def test_no_valid_key_line(workspace, bad):
    """Only when no line is valid is the file refused (a bad line next to a
    good one is skipped: test_keys.py); each bad line is named first."""
    bad = bad.format(pub=workspace.keys.pub("a").strip())
    _, mounts = workspace.home_and_keys(keys_text=f"# nothing good\n{bad}\n")
    out = refuse(workspace, mounts=mounts)
    assert f"{KEYS_DIR}/authorized_keys line 2 skipped: it " in out or \
        f"{KEYS_DIR}/authorized_keys lines 2-4 skipped: " in out, out
    assert (f"no authorized keys: none of the 1 key line(s) in {KEYS_DIR}/authorized_keys "
            "is valid") in out, out


def test_a_key_past_line_300_is_no_key(workspace):
    """The server reads the first 300 lines of the file, comments included:
    a key after them would never log in."""
    _, mounts = workspace.home_and_keys(
        keys_text="# padding\n" * 300 + workspace.keys.pub("a"))
    out = refuse(workspace, mounts=mounts)
    assert (f"{KEYS_DIR}/authorized_keys line 301 skipped: it is past line 300, "
            "which the server never reads") in out, out


def test_uid_0(workspace, tmp_root):
    secret = KeySecret(tmp_root, workspace.keys.pub("a"))
    out = refuse(workspace, user="0:0", mounts=[f"{secret.dir}:{KEYS_DIR}:ro"])
    assert "ssh-workspace: refusing to run as uid 0" in out


@pytest.mark.parametrize("case", ["no volume", "volume of another uid"])
def test_unwritable_home(workspace, tmp_root, case):
    secret = KeySecret(tmp_root, workspace.keys.pub("a"))
    mounts = [f"{secret.dir}:{KEYS_DIR}:ro"]
    if case != "no volume":
        # root's and 0755, like a PVC without fsGroup (a bind mount: podman
        # hands a new named volume to the container's uid)
        home = os.path.join(tmp_root, "home")
        os.mkdir(home, 0o755)
        mounts.append(f"{home}:/home/developer")
    out = refuse(workspace, mounts=mounts)
    assert "ssh-workspace: home /home/developer is missing or not writable by uid 1000" in out


def test_bad_host_key(workspace, tmp_root):
    _, mounts = workspace.home_and_keys()
    d = mounted_file(tmp_root, "host-key", "hostkey", "not a key\n")
    out = refuse(workspace, mounts=mounts + [f"{d}:{HOSTKEY_DIR}:ro"])
    assert f"{HOSTKEY_DIR}/hostkey is neither a Dropbear nor an OpenSSH/PEM private key" in out


def test_bad_hook_config_stops_the_server(workspace, tmp_root):
    _, mounts = workspace.home_and_keys()
    d = mounted_file(tmp_root, "hooks", "hooks.conf", "no_such_key = 1\n")
    rc, out = workspace.run_foreground(mounts=mounts + [f"{d}:/etc/ssh-workspace/hooks:ro"])
    assert rc != 0, out
    assert "hooks.conf:1" in out and "no_such_key" in out, out
