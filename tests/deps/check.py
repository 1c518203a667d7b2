#!/usr/bin/python3
"""Every program the build and the tests run must come from a Debian package
that tests/deps.sh lists for that purpose, or from one every Debian has.

    tests/deps/check.py [--deps-sh FILE] [PURPOSE...]

PURPOSE: build, run, check or bench (default: build run check, the lists
`tests/deps.sh --install check` installs).  It reads the sources and asks
dpkg, nothing else: no build directory, no network.  One line per program
(each is one test), then "N passed, N failed"; exit status 1 on a failure.

The programs: what the sources run (programs.py), what other programs run
for them (INDIRECT), less what is run only when present (OPTIONAL) and
what the reading mistakes for a program (NOT_PROGRAMS).

The package: `command -v` (or INDIRECT's paths), its symlinks followed to
the first file dpkg knows (`dpkg-query -S`).  It passes when the package is
listed for the purpose (`tests/deps.sh --list PURPOSE`) or is a dependency
of one (apt installs Depends; deps.sh leaves Recommends out), or when it is
Essential or Priority: required."""
import glob
import os
import shutil
import subprocess
import sys

from programs import PURPOSES, REPO, programs

# Programs and files no source names: (name, purposes, where to look: an
# absolute path or glob, or a name for command -v; who runs them).
INDIRECT = [
    ("catatonit", ("check",), ("/usr/libexec/podman/catatonit", "catatonit"),
     "run by podman kube play for its pause image (tests/helm)"),
    ("runc", ("check",), ("runc",),
     "run by podman, the runtime container-image/host-containers.conf sets"),
    ("conmon", ("check",), ("/usr/libexec/podman/conmon", "conmon"),
     "run by podman for each container"),
    ("gcc", ("build",), ("gcc",), "run by make as $(CC) (./configure's AC_PROG_CC)"),
    ("clang++", ("check",), ("clang++",),
     "run by make as the upstream fuzzers' $(CXX) (tests/fuzz/fuzz.mk)"),
    ("bzip2", ("build",), ("bzip2",), "run by tar -xj (Makefile.in: the Dropbear tarball)"),
    ("gzip", ("check",), ("gzip",),
     "run by tar -z (container-image/base-image.sh, tests/helm/fetch-helm.sh)"),
    ("gpgv", ("check",), ("gpgv",),
     "run by debootstrap for the Release signature (container-image/base-image.sh)"),
    ("wget", ("check",), ("wget",),
     "run by debootstrap for the packages (container-image/base-image.sh)"),
    ("setpriv", ("run", "check"), ("setpriv",),
     "run by dropbear/as-workspace-user.sh (exec setpriv ... \"$@\") to drop root"),
    ("scp", ("check",), ("scp",), "run by tests/integration (args[0] = tool)"),
    ("sftp", ("check",), ("sftp",), "run by tests/integration (args[0] = tool)"),
    ("plink", ("check",), ("plink",), "run by tests/integration/interop_helpers.py putty_args"),
    ("pscp", ("check",), ("pscp",), "run by tests/integration/interop_helpers.py putty_args"),
    ("psftp", ("check",), ("psftp",), "run by tests/integration/interop_helpers.py putty_args"),
    ("/usr/lib/openssh/sftp-server", ("run", "check"), ("/usr/lib/openssh/sftp-server",),
     "run by the server for the sftp subsystem (its default --sftp-server)"),
    ("libnss_wrapper.so", ("run", "check"),
     ("/usr/lib/*/libnss_wrapper.so", "/usr/lib/libnss_wrapper.so"),
     "preloaded into the server run as another user (dropbear/run-local.sh, tests/integration)"),
    ("libasan.so", ("check",), ("/usr/lib/gcc/*/*/libasan.so",),
     "linked by gcc -fsanitize=address (the unit and cipher tests)"),
    ("libclang_rt.fuzzer", ("check",),
     (f"/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-{os.uname().machine}.a",),
     "linked by clang -fsanitize=fuzzer (tests/fuzz/fuzz.mk)"),
]

# Words the reading takes for programs that are none.
NOT_PROGRAMS = {
    "template": "helm's arguments, returned by tests/helm/conftest.py Helm.template_args",
}

# Named in the sources, but run only when present.  (wget is INDIRECT too.)
OPTIONAL = {
    "autoconf": "Makefile.in regenerates ./configure with it, if it is there (listed for "
                "check: tests/integration/test_build.py compares ./configure with its output)",
    "curl": "dropbear/fetch.sh's last resort (the upstream URL), if it is there",
    "wget": "dropbear/fetch.sh's last resort (the upstream URL), if it is there",
    "sudo": "tests/deps.sh, when not root",
}


# --- packages ---

def dpkg_status():
    """{package: (Essential or required, [dependency groups], provides)}
    of the installed packages."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Essential}\t${Priority}"
         "\t${Pre-Depends}, ${Depends}\t${Provides}\n"],
        capture_output=True, text=True, check=True).stdout
    pkgs = {}
    for line in out.splitlines():
        name, status, essential, priority, depends, provides = line.split("\t")
        if status.startswith("ii"):
            groups = [[bare(a) for a in g.split("|")] for g in depends.split(",") if g.strip()]
            pkgs[name] = (essential == "yes" or priority == "required", groups,
                          [bare(p) for p in provides.split(",") if p.strip()])
    return pkgs


def bare(dep):
    """'python3:any (>= 3.11)' -> 'python3'"""
    return dep.split("(")[0].strip().split(":")[0]


def closure(roots, pkgs):
    """{package: the root that brings it}: the roots and, recursively, their
    Depends and Pre-Depends: the first alternative of each, which apt picks
    on a machine that has none (a virtual one: its installed providers)."""
    providers = {}
    for name, (_, _, provides) in pkgs.items():
        for p in provides:
            providers.setdefault(p, []).append(name)
    seen, done = {r: r for r in roots if r in pkgs}, set()
    todo = [(r, r) for r in roots]
    while todo:
        name, root = todo.pop()
        for real in ([name] if name in pkgs else providers.get(name, [])):
            if seen.setdefault(real, root) == root and real not in done:
                done.add(real)
                todo += [(group[0], root) for group in pkgs[real][1]]
    return seen


def listed(deps_sh, purpose):
    out = subprocess.run(["sh", deps_sh, "--list", purpose], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{deps_sh} --list {purpose} failed: {out.stderr.strip()}")
    return out.stdout.split()


def locate(where):
    """The files that paths, globs or command names stand for, in order."""
    # sbin too: the tests run as root, a user's PATH may lack it
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    found = []
    for w in where:
        if w.startswith("/"):
            found += sorted(glob.glob(w))
        elif shutil.which(w, path=path):
            found.append(shutil.which(w, path=path))
    return found


def hops(path):
    """The path, each file its symlinks lead to, and where it ends."""
    chain = [path]
    while os.path.islink(chain[-1]) and len(chain) < 20:
        chain.append(os.path.normpath(os.path.join(os.path.dirname(chain[-1]),
                                                   os.readlink(chain[-1]))))
    return chain + [os.path.realpath(path)]


def aliases(path):
    """path and its other name across the merged /usr (dpkg knows one)."""
    for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")):
        if path.startswith(a):
            return [path, b + path[len(a):]]
        if path.startswith(b):
            return [path, a + path[len(b):]]
    return [path]


def owners(paths):
    """{path: [packages]}, from one dpkg-query -S."""
    if not paths:
        return {}
    out = subprocess.run(["dpkg-query", "-S", *sorted(set(paths))],
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        if not line.startswith("diversion by") and ": " in line:
            pkgs, path = line.split(": ", 1)
            found[path] = [bare(p) for p in pkgs.split(", ")]
    return found


# --- the check ---

def check(deps_sh, purposes):
    uses = programs()  # {name: [(purpose, who)]}
    results, failed = [], 0
    # a table entry that matches nothing any more is a failure: the tables stay true
    for table, entries in (("NOT_PROGRAMS", NOT_PROGRAMS), ("OPTIONAL", OPTIONAL)):
        for name in sorted(entries):
            if uses.pop(name, None) is None:
                results.append(f"FAIL {name}: tests/deps/check.py {table} lists it, "
                               "but no source names it any more")
                failed += 1
    where = {}
    for name, name_purposes, paths, who in INDIRECT:
        uses.setdefault(name, []).extend((p, who) for p in name_purposes)
        where[name] = paths
    pkgs = dpkg_status()
    base = closure([n for n, (required, _, _) in pkgs.items() if required], pkgs)
    allowed = {p: closure(listed(deps_sh, p), pkgs) for p in purposes}
    files = {name: locate(where.get(name, (name,))) for name in uses}
    known = owners([a for fs in files.values() for f in fs for h in hops(f) for a in aliases(h)])
    passed = 0
    for name in sorted(uses):
        wanted = sorted({p for p, _ in uses[name] if p in purposes}, key=PURPOSES.index)
        if wanted:
            line = verdict(name, uses[name], wanted, files[name], known, base, allowed)
            passed, failed = (passed + 1, failed) if line.startswith("ok") else (passed, failed + 1)
            results.append(line)
    print("\n".join(results))
    print(f"{passed} passed, {failed} failed")
    return failed == 0


def verdict(name, uses, wanted, files, known, base, allowed):
    """The line for one program: ok, or FAIL saying what to add where."""
    def who(purpose):
        sites = [w for p, w in uses if p == purpose]
        return sites[0] + (f" (and {len(sites) - 1} more)" if len(sites) > 1 else "")
    if not files:
        return (f"FAIL {name} is not on this machine ({who(wanted[0])}): install the package "
                f"that provides it and list it in tests/deps.sh for {wanted[0]}")
    # each file's package: that of the first hop dpkg knows
    found = [(f, next((pk for h in hops(f) for a in aliases(h) for pk in known.get(a, [])),
                      None)) for f in files]
    found = [(f, pkg) for f, pkg in found if pkg]
    if not found:
        return (f"FAIL {name}: {files[0]} is from no Debian package ({who(wanted[0])}); "
                f"tests/deps.sh must list the package for {wanted[0]}")
    f, pkg = next(((f, pkg) for f, pkg in found
                   if all(pkg in base or pkg in allowed[p] for p in wanted)), found[0])
    for p in wanted:
        if pkg not in base and pkg not in allowed[p]:
            return (f"FAIL {name} (package {pkg}) is {who(p)} but tests/deps.sh "
                    f"does not list it for {p}")
    if pkg in base:
        how = "every Debian has it"
    else:
        roots = sorted({allowed[p][pkg] for p in wanted})
        how = "listed" if roots == [pkg] else "a dependency of " + ", ".join(roots)
    return f"ok   {name}: {f} (package {pkg}, {how}; {' '.join(wanted)})"


def main(argv):
    deps_sh = os.path.join(REPO, "tests", "deps.sh")
    if argv[:1] == ["--deps-sh"] and len(argv) > 1:
        deps_sh, argv = argv[1], argv[2:]
    purposes = argv or ["build", "run", "check"]
    if not set(purposes) <= set(PURPOSES):
        sys.exit(f"usage: tests/deps/check.py [--deps-sh FILE] [{'|'.join(PURPOSES)}...]")
    return 0 if check(deps_sh, purposes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
