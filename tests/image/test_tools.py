"""The image's everyday tools (container-image/README.md, "Tools"), each
used in a session through the server, and the image's size budget."""
from conftest import IMAGE, podman, text

# MiB.  The image was 436 MiB before the tools and 483 MiB with them; the
# bound leaves room for Debian updates, not for another large package
# (container-image/README.md says where those belong).
SIZE_BUDGET_MIB = 520

# Each step prints one line the test checks; a failing tool fails its step.
SESSION = r"""
set -u
cd "$(mktemp -d)"
mkdir src && echo one > src/a && rsync -a src/ dst/ && echo "rsync $(cat dst/a)"
rsync --version | head -1
printf 'hello\n' > f && vim.tiny -Es -c '%s/hello/edited/' -c 'wq' f && echo "vim $(cat f)"
vim.tiny --version | head -1
printf 'x\ny\n' | less -FX | tail -1 | sed 's/^/less /'
less --version | head -1
echo '{"a": {"b": 42}}' | jq -r '.a.b' | sed 's/^/jq /'
python3 -c 'import json, sqlite3, ssl; print("python", json.dumps([1]), ssl.OPENSSL_VERSION.split()[0])'
python3 --version
jq --version
printf 'all:\n\t@echo make ran\n' > Makefile && make
make --version | head -1
TZ=Europe/Paris date -d '2026-07-01T12:00:00Z' +'tz %H:%M %Z'
ls /usr/share/zoneinfo/Europe/Paris
"""


def test_each_tool_runs_in_a_session(workspace):
    _, mounts = workspace.home_and_keys()
    workspace.start(mounts=mounts)
    r = workspace.ssh(SESSION)
    out = text(r)
    assert r.returncode == 0, out
    lines = r.stdout.decode().splitlines()
    expected = ["rsync one", "vim edited", "less y", "jq 42", "python [1] OpenSSL",
                "make ran", "tz 14:00 CEST", "/usr/share/zoneinfo/Europe/Paris"]
    for e in expected:
        assert e in lines, f"{e!r} missing:\n{out}"
    # the version lines: the packages README.md names, not look-alikes
    for prefix in ("rsync  version", "VIM - Vi IMproved", "less ", "jq-", "Python 3.",
                   "GNU Make "):
        assert any(ln.startswith(prefix) for ln in lines), f"{prefix!r} missing:\n{out}"


def test_image_size_stays_within_budget():
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    mib = size / 1048576
    print(f"\nimage {IMAGE}: {size} bytes = {mib:.1f} MiB (budget {SIZE_BUDGET_MIB} MiB)")
    assert mib < SIZE_BUDGET_MIB, (
        f"the image is {mib:.1f} MiB, over its {SIZE_BUDGET_MIB} MiB budget: "
        "see container-image/README.md, Tools")
