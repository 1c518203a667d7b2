"""tests/deps/check.py, the check that tests/deps.sh lists a package for
every program the build and the tests run: how it reads the sources, and
that it fails, naming the program, its package and the purpose, when a
copy of deps.sh leaves that package out (the real deps.sh is not touched)."""
import importlib.util
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

CHECK = os.path.join(REPO, "tests", "deps", "check.py")
sys.path.insert(0, os.path.dirname(CHECK))
import programs  # noqa: E402

_spec = importlib.util.spec_from_file_location("deps_check", CHECK)
deps_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deps_check)

OK_LINE = re.compile(r"ok   (\S+): \S+ \(package ([^,]+), ([^;]+); ([\w ]+)\)$")


def run_check(deps_sh):
    r = subprocess.run(["/usr/bin/python3", CHECK, "--deps-sh", str(deps_sh)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.splitlines()


@pytest.fixture(scope="module")
def baseline():
    """{program: (package, how, purposes)} from the check against deps.sh as it is."""
    _, lines = run_check(os.path.join(REPO, "tests", "deps.sh"))
    return {m[1]: (m[2], m[3], m[4].split()) for m in map(OK_LINE.match, lines) if m}


# One program of each kind: run from Python, from the INDIRECT table, from
# a shell script (a build program), from an `sh -c` script in Python.
@pytest.mark.parametrize("program", ["tmux", "catatonit", "patch", "ip"])
def test_a_package_left_out_of_deps_sh_fails_the_check(baseline, tmp_path, program):
    assert program in baseline, f"{program} does not pass the check here: see tests/deps/check.py"
    package, how, purposes = baseline[program]
    assert how == "listed"
    copy = tmp_path / "deps.sh"
    text = open(os.path.join(REPO, "tests", "deps.sh")).read()
    copy.write_text(re.sub(rf"(?<=[ \"]){re.escape(package)}(?=[ \"])", "", text))
    listed = subprocess.run(["sh", str(copy), "--list", "all"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert package not in listed and len(listed) > 10

    rc, lines = run_check(copy)
    failures = [line for line in lines if line.startswith("FAIL")]
    assert rc == 1
    assert any(line.startswith(f"FAIL {program} (package {package}) is ") and
               line.endswith(f"but tests/deps.sh does not list it for {purposes[0]}")
               for line in failures), failures
    # exactly the programs of that package fail, the rest still pass
    assert {line.split()[1] for line in failures} == \
        {name for name, (pkg, _, _) in baseline.items() if pkg == package}
    assert lines[-1] == f"{len(baseline) - len(failures)} passed, {len(failures)} failed"


def test_a_program_missing_or_from_no_package_fails_the_check(tmp_path, monkeypatch, capsys):
    ours = tmp_path / "ours"  # a program dpkg knows nothing of
    ours.write_text("exit 0\n")
    ours.chmod(0o755)
    missing = f"ws-no-such-program-{os.getpid()}"
    monkeypatch.setattr(deps_check, "INDIRECT", deps_check.INDIRECT + [
        (missing, ("check",), (missing,), "run by nothing real"),
        ("ours", ("check",), (str(ours),), "run by nothing real")])
    assert not deps_check.check(os.path.join(REPO, "tests", "deps.sh"), ["check"])
    lines = capsys.readouterr().out.splitlines()
    assert f"FAIL {missing} is not on this machine (run by nothing real): install the " \
        "package that provides it and list it in tests/deps.sh for check" in lines
    assert f"FAIL ours: {ours} is from no Debian package (run by nothing real); " \
        "tests/deps.sh must list the package for check" in lines
    assert lines[-1].endswith(" passed, 2 failed")


def test_shell_reading_finds_the_command_words():
    script = textwrap.dedent("""\
        x=$(first -a | second "$(third)")
        if ! fourth 2>/dev/null; then command -v probed >/dev/null || "$dir/ours.sh"; fi
        case $y in a|b) fifth ;; *) $sudo env A=1 sixth --opt ;; esac
        cat <<EOF
        not_run
        EOF
        helper() { seventh; }
        helper
        for p in one two; do eighth "$p" `ninth`; done
        """)
    assert sorted({w for w, _ in programs.shell_commands(script)}) == [
        "cat", "eighth", "env", "fifth", "first", "fourth", "ninth", "second", "seventh",
        "sixth", "third"]
    assert ("seventh", 7) in programs.shell_commands(script)


def test_python_reading_finds_the_argv_heads():
    source = textwrap.dedent("""\
        TOOL = "/usr/bin/first"
        CPU = ["second", "-c", "0"] if many else []
        subprocess.run([TOOL, "-v"])
        subprocess.Popen(CPU + ["third"])
        def f():
            args = ["fourth", "-x"]
            return ["unshare", "--", "sh", "-ec", "fifth a; sixth b", "sh"] + args
        shutil.which("seventh")
        "text".startswith(("not_a_program", "x"))
        server.ssh(f"eighth {x} | ninth")
        """)
    found = {w for w, _ in programs.python_commands(source, host_sessions=True)}
    assert found == {"/usr/bin/first", "second", "third", "fourth", "unshare", "fifth", "sixth",
                     "seventh", "eighth", "ninth"}
    assert "eighth" not in {w for w, _ in programs.python_commands(source, host_sessions=False)}


def test_make_reading_expands_variables_and_takes_the_targets_purpose():
    text = "TOOL = first\nall:\n\t$(TOOL) -c x.c && $(MAKE) -C sub\nbench:\n\t@second --fast\n"
    assert sorted(programs.makefile_commands(text, "build")) == [
        ("first", 3, "build"), ("make", 3, "build"), ("second", 5, "bench")]
