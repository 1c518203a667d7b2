"""Loading the hook library (--hook, --hook-config): the server runs without
one; a library built for another hook ABI, a file that is not a hook
library, a bad or missing config stop startup with a clear message; -h
lists the options."""
import os
import subprocess

import pytest

from conftest import DROPBEAR, HOOK_LIB, REPO, assert_startup_stops


def test_the_server_runs_without_the_library(start_server):
    server = start_server(hook=None, config=None).wait_ready()
    r = server.ssh("echo plain; exit 5")
    assert (r.returncode, r.stdout) == (5, "plain\n")
    assert server.events() == []
    assert "hook library" not in server.output()


def build_library(workspace, abi_version, entry="ws_hook_entry"):
    src, lib = workspace.path("lib.c"), workspace.path(f"lib-{abi_version}-{entry}.so")
    with open(src, "w") as f:
        f.write('#include "ws_hook.h"\n'
                f"static const struct ws_hooks h = {{ {abi_version}, sizeof(h), \"test\" }};\n"
                f"__attribute__((visibility(\"default\"))) const struct ws_hooks *{entry}(void)"
                " { return &h; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-I", os.path.join(REPO, "plugins"),
                    "-o", lib, src], check=True)
    return lib


def test_a_library_for_another_abi_stops_startup(start_server, workspace):
    lib = build_library(workspace, 99)
    assert_startup_stops(start_server(hook=lib),
                         f"hook library {lib}: built for hook ABI 99, this server speaks hook ABI 1")


def test_a_library_of_this_abi_without_config_runs(start_server, workspace):
    lib = build_library(workspace, 1)
    server = start_server(hook=lib, config=None).wait_ready()
    assert server.ssh("exit 4").returncode == 4


def test_not_a_hook_library_stops_startup(start_server, workspace):
    lib = build_library(workspace, 1, entry="something_else")
    assert_startup_stops(start_server(hook=lib, config=None),
                         "no ws_hook_entry() symbol: not an ssh-workspace hook library")
    missing = workspace.path("missing.so")
    assert_startup_stops(start_server(hook=missing, config=None),
                         f"hook library {missing}: {missing}: cannot open shared object file")


@pytest.mark.parametrize("text, message", [
    ("event_log = stderr\nbogus = 1\n", "hooks.conf:2: unknown key 'bogus'"),
    ("log_commands = perhaps\n", "hooks.conf:1: log_commands: expected yes or no"),
    ("event_log = /nonexistent-dir/e.log\n",
     "event_log /nonexistent-dir/e.log: No such file or directory"),
])
def test_a_bad_config_stops_startup_with_a_clear_message(start_server, workspace, text, message):
    server = start_server(config=workspace.write_config(text))
    assert_startup_stops(server, message)
    assert "startup failed" in server.output()


def test_a_missing_config_stops_startup(start_server, workspace):
    missing = workspace.path("nope.conf")
    assert_startup_stops(start_server(config=missing), f"{missing}: No such file or directory")


def test_hook_config_without_hook_is_an_error(start_server, workspace):
    assert_startup_stops(start_server(hook=None), "--hook-config needs --hook")


def test_help_lists_the_hook_options():
    r = subprocess.run([DROPBEAR, "-h"], capture_output=True, text=True)
    assert "--hook <library.so>" in r.stderr + r.stdout
    assert "--hook-config <file>" in r.stderr + r.stdout
    assert os.path.isfile(HOOK_LIB)
