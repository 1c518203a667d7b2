"""Revoking a key: the sessions run as the same uid as the server, so
nothing the server reads the authorized keys through may be changeable by
that uid.  A session that tries to point the server at keys of its own
fails, and a key removed from the mounted Secret is refused at the next
login without a restart."""
import importlib.util
import os
import re

import pytest

from conftest import KEYS_DIR, KeySecret, mounted_file, podman, text

# Run in a session: finds what the server reads (its -D directory, from the
# listener's command line, then each symlink on the way to the file, every
# link among their parent directories, and the resolved file and its
# directory), then tries to make one of them lead to a copy of the keys in
# the home, which the session controls: files and links first (re-pointed,
# replaced, appended to, chmod), then directories (renamed with a link put
# in their place).  It stops at the first attempt that works and prints
# "changed PATH (how)".
ATTACK = r"""
set -u
pid=$(cat /run/ssh-workspace/dropbear.pid)
dir=$(tr '\0' '\n' < /proc/$pid/cmdline | sed -n '/^-D$/{n;p;q;}')
echo "keys dir $dir"
mkdir -p ~/mine
cat "$dir/authorized_keys" > ~/mine/authorized_keys
p=$dir/authorized_keys
paths="$p $dir"
while [ -L "$p" ]; do
    t=$(readlink "$p")
    case $t in /*) p=$t ;; *) p=$(dirname "$p")/$t ;; esac
    paths="$paths $p $(dirname "$p")"
done
real=$(readlink -f "$dir/authorized_keys")
paths="$paths $real $(dirname "$real")"
for x in $paths; do
    d=$(dirname "$x")
    while [ "$d" != / ]; do
        [ -L "$d" ] && paths="$paths $d"
        d=$(dirname "$d")
    done
done
echo "paths $paths"
attack_file() {
    if ln -sfnT ~/mine/authorized_keys "$1" 2>/dev/null; then
        echo "changed $1 (linked)"
    elif [ ! -L "$1" ] && { cat ~/mine/authorized_keys >> "$1"; } 2>/dev/null; then
        echo "changed $1 (appended)"
    elif chmod 0666 "$1" 2>/dev/null; then
        echo "changed $1 (chmod)"
    else
        return 1
    fi
}
attack_dir() {
    if ln -sfnT ~/mine "$1" 2>/dev/null; then
        echo "changed $1 (linked)"
    elif mv -T "$1" "$1.old" 2>/dev/null && ln -sfnT ~/mine "$1"; then
        echo "changed $1 (renamed)"
    elif chmod 0777 "$1" 2>/dev/null; then
        echo "changed $1 (chmod)"
    else
        return 1
    fi
}
for x in $paths; do
    if [ ! -d "$x" ] && attack_file "$x"; then exit 0; fi
done
for x in $paths; do
    if [ -d "$x" ] && attack_dir "$x"; then exit 0; fi
done
echo "nothing changed"
"""


def test_a_session_cannot_keep_a_revoked_key(workspace):
    # KeySecret lays the directory out as the kubelet does (mode 1777,
    # mounted read-only, root's files): the default path, as the chart does
    secret, mounts = workspace.home_and_keys(keys_text=workspace.keys.pub("a")
                                             + workspace.keys.pub("b"))
    workspace.start(mounts=mounts)
    started = podman("inspect", "--format", "{{.State.StartedAt}}", workspace.name).stdout
    r = workspace.ssh(ATTACK, key="a")
    out = text(r)
    assert r.returncode == 0, out
    assert "paths " in out, out
    # the Secret drops key a (b stays): a's next login is refused, without a
    # restart, whatever the session did
    secret.update(workspace.keys.pub("b"))
    assert workspace.ssh("true", key="b").returncode == 0
    refused = workspace.ssh("true", key="a")
    assert refused.returncode == 255, (
        f"key a still logs in after its removal from the Secret; the session did:\n{out}")
    assert podman("inspect", "--format", "{{.State.StartedAt}}",
                  workspace.name).stdout == started
    # and none of the session's attempts changed anything the server reads
    changed = [line for line in out.splitlines() if line.startswith("changed ")]
    assert not changed, out


@pytest.mark.parametrize("case", ["mounted read-write", "the uid's own file"])
def test_keys_the_workspace_uid_could_change_are_refused(workspace, case):
    """Keys a session could rewrite: the Secret's directory mounted without
    :ro (mode 1777, as the kubelet makes it), or a read-write mount of a
    root-owned 0755 directory whose keys file belongs to the workspace uid
    (mode 0444: not writable, but its owner may chmod it).  The entrypoint
    refuses to start and names the path."""
    secret = KeySecret(workspace.root, workspace.keys.pub("a"))
    if case == "mounted read-write":
        where = KEYS_DIR
    else:
        os.chmod(secret.dir, 0o755)
        real = os.path.join(secret.dir, secret.current, "authorized_keys")
        os.chown(real, 1000, 1000)
        os.chmod(real, 0o444)
        where = f"{KEYS_DIR}/authorized_keys"
    home = workspace.volume(owner=(1000, 1000))
    rc, out = workspace.run_foreground(mounts=[f"{home}:/home/developer",
                                               f"{secret.dir}:{KEYS_DIR}"])
    assert rc == 1, out
    assert "Loaded hook library" not in out, "the server started:\n" + out
    assert (f"ssh-workspace: uid 1000 can change {where}, on the way to the authorized keys "
            f"{KEYS_DIR}/authorized_keys, so a session could replace them") in out, out


def test_keys_at_another_path(workspace, tmp_root):
    """WS_AUTHORIZED_KEYS elsewhere: its directory is the server's -D, so it
    must pass the server's own permission check.  A root-owned 0755
    directory, mounted read-only, does, and a key removed from it is refused
    at the next login; a Secret volume's 1777 directory would make the
    server refuse every key, so the entrypoint refuses it at once."""
    home = workspace.volume(owner=(1000, 1000))
    secret = KeySecret(workspace.root, workspace.keys.pub("a") + workspace.keys.pub("b"))
    os.chmod(secret.dir, 0o755)
    env = {"WS_AUTHORIZED_KEYS": "/srv/keys/authorized_keys"}
    workspace.start(env=env, mounts=[f"{home}:/home/developer", f"{secret.dir}:/srv/keys:ro"])
    r = workspace.ssh("tr '\\0' ' ' < /proc/$(cat /run/ssh-workspace/dropbear.pid)/cmdline",
                      key="a")
    assert r.returncode == 0, text(r)
    assert " -D /srv/keys " in r.stdout.decode(), text(r)
    secret.update(workspace.keys.pub("b"))
    assert workspace.ssh("true", key="b").returncode == 0
    assert workspace.ssh("true", key="a").returncode == 255
    workspace.stop()

    os.chmod(secret.dir, 0o1777)
    rc, out = workspace.run_foreground(env=env, mounts=[f"{home}:/home/developer",
                                                        f"{secret.dir}:/srv/keys:ro"])
    assert rc == 1, out
    assert ("ssh-workspace: WS_AUTHORIZED_KEYS=/srv/keys/authorized_keys: the server would "
            "refuse every key, /srv/keys (owner uid 0, mode 1777) must be owned by root or "
            "uid 1000 and not writable by group or others") in out, out

    other = mounted_file(tmp_root, "other-keys", "keys", workspace.keys.pub("a"))
    rc, out = workspace.run_foreground(
        env={"WS_AUTHORIZED_KEYS": "/srv/keys/keys"},
        mounts=[f"{home}:/home/developer", f"{other}:/srv/keys:ro"])
    assert rc == 1 and "the file must be called authorized_keys" in out, out


# The lines shared with the chart's render-time check: both apply one rule.
_spec = importlib.util.spec_from_file_location(
    "authorized_keys_lines", os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "authorized_keys_lines.py"))
keylines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(keylines)


def test_bad_key_lines_are_skipped_and_logged_and_good_ones_log_in(workspace, tmp_root):
    """A typo must not lock everyone out at the next restart: the server
    starts while one valid key remains.  Each bad line -- the same lines the
    chart refuses -- is logged with its number and reason, a pasted private
    key as one block, and no key text is logged.  Every accepted key type
    and option form counts as a key, and a key with a quoted option that
    holds spaces and a comma logs in and gets its forced command."""
    kl = keylines.key_lines(tmp_root)
    good = keylines.good_lines(kl)
    bad = keylines.bad_lines(kl)
    private, private_pub = keylines.private_key(tmp_root)
    forced = 'command="echo forced, really" ' + workspace.keys.pub("b").strip()
    lines = [workspace.keys.pub("a").strip(), forced, *good,
             *(line for _, line, _, _ in bad), private_pub, *private.splitlines()]
    first_bad = 3 + len(good)
    block = first_bad + len(bad) + 1  # after the leaked key's public line
    _, mounts = workspace.home_and_keys(keys_text="\n".join(lines) + "\n")
    workspace.start(mounts=mounts)
    logs = workspace.logs()
    path = f"{KEYS_DIR}/authorized_keys"
    for n, (name, _, _, says) in enumerate(bad, start=first_bad):
        assert f"ssh-workspace: {path} line {n} skipped: it " in logs and says in logs, \
            f"{name} (line {n}):\n{logs}"
        said = [ln for ln in logs.splitlines() if f" line {n} skipped: " in ln]
        assert len(said) == 1 and says in said[0], f"{name} (line {n}):\n{logs}"
    assert (f"{path} lines {block}-{block + len(private.splitlines()) - 1} skipped: "
            "they are a private key block") in logs, logs
    n_keys = 2 + len(good) + 1
    assert f"{n_keys} authorized key(s) from {path}, {len(bad) + 1} line(s) skipped" in logs, logs
    for part in keylines.secret_parts(private):
        assert part[:16] not in logs, "private key text in the log"
    for line in lines[:2 + len(good)] + [line for _, line, _, _ in bad]:
        for b64 in re.findall(r"AAAA[A-Za-z0-9+/=]{20,}", line):
            assert b64[:24] not in logs, f"key material in the log: {line}\n{logs}"
    r = workspace.ssh("echo in", key="a")
    assert r.returncode == 0 and r.stdout.decode() == "in\n", text(r)
    r = workspace.ssh("echo not this", key="b")
    assert r.returncode == 0 and r.stdout.decode() == "forced, really\n", text(r)
