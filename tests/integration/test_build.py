"""The build's guards: the pinned tarball's checksum, strict patching, and no
upstream source in git."""
import hashlib
import os
import shutil
import subprocess
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PIN = dict(line.split("=", 1) for line in open(os.path.join(REPO, "dropbear", "pin"))
           if "=" in line and not line.startswith("#"))
VERSION = PIN["DROPBEAR_VERSION"].strip()
SHA256 = PIN["DROPBEAR_SHA256"].strip()
BUILD = os.environ.get("WS_BUILD", os.path.join(REPO, "build"))
TARBALL = os.path.join(BUILD, f"dropbear-{VERSION}.tar.bz2")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def tarball():
    assert os.path.isfile(TARBALL), "make check builds first, so the tarball must be there"
    return TARBALL


@pytest.fixture
def bad_tarball(tmp_path):
    bad = tmp_path / f"dropbear-{VERSION}.tar.bz2"
    bad.write_bytes(b"not the release\n")
    return str(bad), hashlib.sha256(b"not the release\n").hexdigest()


def test_fetch_refuses_wrong_checksum_naming_both_sums(tmp_path, bad_tarball):
    bad, actual = bad_tarball
    r = run([os.path.join(REPO, "dropbear", "fetch.sh"), str(tmp_path / "out.tar.bz2"), bad])
    assert r.returncode != 0
    assert f"expected {SHA256}" in r.stderr
    assert f"actual   {actual}" in r.stderr
    assert not (tmp_path / "out.tar.bz2").exists()


def test_make_stops_on_wrong_checksum(tmp_path, bad_tarball):
    bad, actual = bad_tarball
    r = run(["make", "-C", REPO, "fetch", f"BUILD={tmp_path}/b", f"DROPBEAR_TARBALL={bad}"])
    assert r.returncode != 0
    assert SHA256 in r.stderr and actual in r.stderr


def test_fetch_accepts_the_pinned_tarball(tmp_path, tarball):
    out = tmp_path / "ok.tar.bz2"
    r = run([os.path.join(REPO, "dropbear", "fetch.sh"), str(out), tarball])
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHA256


def unpack(tarball, dest):
    with tarfile.open(tarball) as t:
        t.extractall(dest, filter="tar") if hasattr(tarfile, "data_filter") else t.extractall(dest)
    return os.path.join(dest, f"dropbear-{VERSION}")


def test_patch_series_applies_cleanly(tmp_path, tarball):
    tree = unpack(tarball, tmp_path)
    r = run([os.path.join(REPO, "dropbear", "apply-patches.sh"), tree])
    assert r.returncode == 0, r.stderr
    series = [p for p in open(os.path.join(REPO, "dropbear", "patches", "series")).read().split()
              if not p.startswith("#")]
    assert r.stdout.count("applied ") == len(series)


def test_a_patch_that_no_longer_applies_stops_the_build(tmp_path, tarball):
    tree = unpack(tarball, tmp_path)
    patches = tmp_path / "patches"
    shutil.copytree(os.path.join(REPO, "dropbear", "patches"), patches)
    # Simulate an upstream change under the third patch: its context is gone.
    series = (patches / "series").read_text().split()
    target = series[2]
    chansession = os.path.join(tree, "src", "svr-chansession.c")
    text = open(chansession).read()
    assert "ret = noptycommand(channel, chansess);" in text
    open(chansession, "w").write(text.replace("ret = noptycommand(channel, chansess);",
                                              "ret = noptycommand_v2(channel, chansess);"))
    before = {f: open(os.path.join(tree, "src", f), "rb").read()
              for f in ("svr-main.c", "svr-session.c", "channel.h")}
    r = run([os.path.join(REPO, "dropbear", "apply-patches.sh"), tree, str(patches)])
    assert r.returncode != 0
    assert f"ERROR: {target} does not apply cleanly" in r.stderr
    assert "applied " + series[3] not in r.stdout  # stops at the first failure
    # the failing patch touched nothing (dry run first); earlier ones did apply
    assert "noptycommand_v2" in open(chansession).read()
    assert open(os.path.join(tree, "src", "channel.h"), "rb").read() == before["channel.h"]
    assert open(os.path.join(tree, "src", "svr-main.c"), "rb").read() != before["svr-main.c"]


def test_no_upstream_source_is_tracked(tarball):
    files = run(["git", "-C", REPO, "ls-files", "-z"]).stdout.split("\0")
    ours = {hashlib.sha256(open(os.path.join(REPO, f), "rb").read()).hexdigest()
            for f in files if f and os.path.isfile(os.path.join(REPO, f))}
    with tarfile.open(tarball) as t:
        upstream = {}
        for m in t.getmembers():
            if m.isfile() and m.size > 200:  # tiny files (e.g. empty stubs) say nothing
                upstream[hashlib.sha256(t.extractfile(m).read()).hexdigest()] = m.name
    same = sorted(upstream[h] for h in ours & upstream.keys())
    assert not same, f"upstream files committed: {same}"
    assert not [f for f in files if "libtom" in f], "libtomcrypt/libtommath must come from Debian"


def test_make_install_honours_destdir_and_prefix(tmp_path):
    dest = tmp_path / "root"
    r = run(["make", "-C", REPO, "install", f"DESTDIR={dest}", "prefix=/opt/ws",
             "sbindir=/opt/ws/sbin", "bindir=/opt/ws/bin", "libdir=/opt/ws/lib",
             "includedir=/opt/ws/include"])
    assert r.returncode == 0, r.stdout + r.stderr
    for path, mode in [("opt/ws/sbin/dropbear", 0o755), ("opt/ws/bin/dropbearkey", 0o755),
                       ("opt/ws/bin/scp", 0o755), ("opt/ws/bin/ws-gateway", 0o755),
                       ("opt/ws/bin/ws-gateway-podman", 0o755),
                       ("opt/ws/lib/ssh-workspace/ssh-workspace-hooks.so", 0o644),
                       ("opt/ws/include/ssh-workspace/ws_hook.h", 0o644)]:
        st = os.stat(dest / path)
        assert st.st_mode & 0o777 == mode, path
    v = run([str(dest / "opt/ws/sbin/dropbear"), "-V"])
    assert f"{VERSION}+ws" in v.stdout + v.stderr
    r = run(["make", "-C", REPO, "uninstall", f"DESTDIR={dest}", "prefix=/opt/ws",
             "sbindir=/opt/ws/sbin", "bindir=/opt/ws/bin", "libdir=/opt/ws/lib",
             "includedir=/opt/ws/include"])
    assert r.returncode == 0
    left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
    assert left == []


def fetch(out, env_extra, *args):
    env = dict(os.environ, **env_extra)
    return subprocess.run([os.path.join(REPO, "dropbear", "fetch.sh"), str(out), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_fetch_takes_a_good_cached_copy_first(tmp_path, tarball):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(tarball, cache / f"dropbear-{VERSION}.tar.bz2")
    r = fetch(tmp_path / "out.tar.bz2", {"WS_CACHE_DIR": str(cache)})
    assert r.returncode == 0, r.stderr
    assert f"using {cache}/dropbear-{VERSION}.tar.bz2 (sha256 ok)" in r.stderr
    assert "trying" not in r.stderr  # no network source was asked


def test_fetch_skips_a_bad_cached_copy_and_repairs_it(tmp_path, tarball):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"dropbear-{VERSION}.tar.bz2").write_bytes(b"corrupt")
    r = fetch(tmp_path / "out.tar.bz2", {"WS_CACHE_DIR": str(cache)})
    assert "ignoring the bad cached copy" in r.stderr
    assert r.returncode == 0, r.stderr  # from Debian's source package
    for f in (tmp_path / "out.tar.bz2", cache / f"dropbear-{VERSION}.tar.bz2"):
        assert hashlib.sha256(f.read_bytes()).hexdigest() == SHA256


def test_configure_names_each_missing_package_and_the_install_line(tmp_path):
    for f in ("configure", "Makefile.in", "plugins/ws_hook.h"):
        os.makedirs(tmp_path / os.path.dirname(f), exist_ok=True)
        shutil.copy(os.path.join(REPO, f), tmp_path / f)
    # autoconf cache variables stand in for headers and libraries that are absent
    r = run(["./configure", "ac_cv_header_tomcrypt_h=no", "ac_cv_lib_z_deflate=no"],
            cwd=tmp_path)
    assert r.returncode != 0
    assert "libtomcrypt headers (Debian package: libtomcrypt-dev)" in r.stderr
    assert "zlib (Debian package: zlib1g-dev)" in r.stderr
    assert "apt-get install -y libtomcrypt-dev zlib1g-dev" in r.stderr
    assert not (tmp_path / "Makefile").exists()
