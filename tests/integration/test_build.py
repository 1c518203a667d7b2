"""The build's guards: the pinned tarball's checksum, strict patching, no
upstream source in git, and a committed ./configure that is not stale."""
import hashlib
import os
import re
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
    # Simulate an upstream change under the session hooks' patch: its
    # context is gone.
    series = (patches / "series").read_text().split()
    k = next(i for i, p in enumerate(series) if p.startswith("0003-"))
    target = series[k]
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
    assert "applied " + series[k + 1] not in r.stdout  # stops at the first failure
    # the failing patch touched nothing (dry run first); earlier ones did apply
    assert "noptycommand_v2" in open(chansession).read()
    assert open(os.path.join(tree, "src", "channel.h"), "rb").read() == before["channel.h"]
    assert open(os.path.join(tree, "src", "svr-main.c"), "rb").read() != before["svr-main.c"]


def series_files(patch_dir):
    return [p for p in open(os.path.join(patch_dir, "series")).read().split()
            if not p.startswith("#")]


def git(repo, *args):
    r = run(["git", "-C", str(repo), *args])
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_series_round_trips_through_a_git_branch(tmp_path, tarball):
    """import-series.sh makes one commit per patch; export-series.sh writes
    the same files back, and they patch the tarball into the same tree."""
    patches = os.path.join(REPO, "dropbear", "patches")
    series = series_files(patches)
    repo = tmp_path / "tree"
    r = run([os.path.join(REPO, "dropbear", "import-series.sh"), str(repo), tarball])
    assert r.returncode == 0, r.stderr
    subjects = git(repo, "log", "--reverse", "--format=%s", "upstream..HEAD").split()
    assert subjects == [p[:-len(".patch")] for p in series]

    out = tmp_path / "exported"
    r = run([os.path.join(REPO, "dropbear", "export-series.sh"), str(repo), str(out)])
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == sorted(series + ["series"])
    for f in series + ["series"]:
        assert (out / f).read_bytes() == open(os.path.join(patches, f), "rb").read(), f

    tree = unpack(tarball, tmp_path / "applied")
    r = run([os.path.join(REPO, "dropbear", "apply-patches.sh"), tree, str(out)])
    assert r.returncode == 0, r.stderr
    r = run(["diff", "-r", "-x", ".git", tree, str(repo)])
    assert r.returncode == 0, r.stdout


def test_export_follows_a_renamed_patch(tmp_path, tarball):
    """A commit's subject names its patch: renaming it replaces the file."""
    repo = tmp_path / "tree"
    r = run([os.path.join(REPO, "dropbear", "import-series.sh"), str(repo), tarball])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "exported"
    shutil.copytree(os.path.join(REPO, "dropbear", "patches"), out)
    last = series_files(out)[-1]
    body = git(repo, "log", "-1", "--format=%b")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "--amend",
        "--cleanup=verbatim", "-m", "9999-renamed\n\n" + body)
    r = run([os.path.join(REPO, "dropbear", "export-series.sh"), str(repo), str(out)])
    assert r.returncode == 0, r.stderr
    assert not (out / last).exists()
    assert series_files(out)[-1] == "9999-renamed.patch"
    assert (out / "9999-renamed.patch").read_bytes() == \
        open(os.path.join(REPO, "dropbear", "patches", last), "rb").read()


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
                       ("opt/ws/bin/ws-gateway-kube", 0o755),
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
    # ws-gateway-kube's: libcurl (7.85 or later) and cJSON
    r = run(["./configure", "ac_cv_have_decl_CURLOPT_PROTOCOLS_STR=no",
             "ac_cv_header_cjson_cJSON_h=no"], cwd=tmp_path)
    assert r.returncode != 0
    assert "libcurl 7.85 or later headers (Debian package: libcurl4-openssl-dev)" in r.stderr
    assert "cJSON headers (Debian package: libcjson-dev)" in r.stderr
    assert "apt-get install -y libcjson-dev libcurl4-openssl-dev" in r.stderr
    assert not (tmp_path / "Makefile").exists()


# --- ./configure is committed (building needs no autoconf); these fail make
# check when it is stale against configure.ac.  The sha256 it records holds
# whatever autoconf made it; the byte comparison needs the same autoconf
# version as made it (another version writes other text), so it is skipped
# under another one. ---

STALE = "./configure is stale: run autoconf in the top directory and commit configure"


def configure_text():
    with open(os.path.join(REPO, "configure")) as f:
        return f.read()


def test_configure_is_made_from_this_configure_ac():
    recorded = re.search(r"^ws_configure_ac_sha256=(\S*)$", configure_text(), re.M)
    assert recorded, f"./configure records no configure.ac sha256: {STALE}"
    with open(os.path.join(REPO, "configure.ac"), "rb") as f:
        actual = hashlib.sha256(f.read()).hexdigest()
    assert recorded.group(1) == actual, f"configure.ac has changed since: {STALE}"


def test_configure_is_what_autoconf_makes_of_configure_ac(tmp_path):
    assert shutil.which("autoconf"), "autoconf is not installed (tests/deps.sh --install check)"
    made_by = re.search(r"^# Generated by GNU Autoconf (\S+) ", configure_text(), re.M).group(1)
    ours = run(["autoconf", "--version"]).stdout.split("\n")[0].split()[-1]
    if ours != made_by:
        pytest.skip(f"./configure was made by autoconf {made_by}, this is {ours}")
    shutil.copy(os.path.join(REPO, "configure.ac"), tmp_path / "configure.ac")
    r = run(["autoconf"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "configure").read_text() == configure_text(), \
        f"./configure differs from what autoconf makes of configure.ac: {STALE}"


def _dep3_header(text):
    """The DEP-3 fields of a patch: the lines before its first `---`."""
    header = text.split("\n---\n", 1)[0]
    fields, last = {}, None
    for line in header.splitlines():
        if line.startswith(" ") and last:
            fields[last] += "\n" + line[1:]
        elif ":" in line:
            last, value = line.split(":", 1)
            fields[last] = value.strip()
    return fields


def test_every_patch_has_a_dep3_header_and_is_in_the_readme_table():
    """Each patch names its purpose, author, whether it went upstream and
    when it last changed; dropbear/README.md lists each one with the upstream
    files it changes and its Forwarded: value, in series order."""
    patches = os.path.join(REPO, "dropbear", "patches")
    with open(os.path.join(patches, "series")) as f:
        series = f.read().split()
    with open(os.path.join(REPO, "dropbear", "README.md")) as f:
        rows = [line for line in f if line.startswith("| `0")]
    assert [r.split("`")[1] for r in rows] == series
    for name, row in zip(series, rows):
        with open(os.path.join(patches, name)) as f:
            text = f.read()
        fields = _dep3_header(text)
        for key in ("Description", "Author", "Forwarded", "Last-Update"):
            assert fields.get(key), f"{name}: no {key}:"
        assert all(len(line) <= 80 for line in fields["Description"].splitlines()), name
        assert fields["Forwarded"] in ("no", "not-needed") or fields["Forwarded"].startswith("http")
        files = sorted(set(re.findall(r"^\+\+\+ b/(\S+)", text, re.M)))
        assert row.split("|")[2].strip() == ", ".join(f"`{x}`" for x in files), name
        assert row.split("|")[3].strip() == fields["Forwarded"], name
