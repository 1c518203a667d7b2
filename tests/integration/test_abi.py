"""The hook ABI's append-only rule, with real libraries and the real OpenSSH
client: a library built before the callbacks appended to ABI 1 loads, and
the server never calls a callback past the library's struct_size (the test
library's would abort); a library built against a later header, with a
callback this server does not know, loads too.  The library is
abi_library.c, built here with the compiler into the test's workspace."""
import os
import subprocess

from conftest import REPO, wait_for
from test_agent import Agent

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "abi_library.c")

# the callbacks of the first release of ABI 1, and those appended since
FIRST = {"startup", "connect", "auth_success", "client_env", "session_env", "session_start",
         "agent_socket_opened", "agent_socket_closed", "session_exit", "disconnect", "shutdown"}
APPENDED = {"agent_request", "agent_env_path", "activity", "client_env_refused"}


def build_library(workspace, variant):
    """(library, record): abi_library.c built as LIB_<variant>; each callback
    appends its name to record (in a directory the server's uid writes)."""
    record = workspace.path("server", f"{variant}.record")
    lib = workspace.path(f"abi-{variant}.so")
    subprocess.run(["cc", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Werror",
                    "-fPIC", "-fvisibility=hidden", "-shared", f"-DLIB_{variant.upper()}",
                    f'-DRECORD="{record}"', "-I", os.path.join(REPO, "plugins"),
                    "-o", lib, SOURCE], check=True)
    return lib, record


def recorded(record):
    try:
        with open(record) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def one_session(server, agent):
    """A session that reaches every appended callback: a forwarded agent
    (agent_request, agent_env_path), a client env request the server refuses
    itself (client_env_refused), and output for longer than a second
    (activity).  Returns the ssh result."""
    command = ('echo "$WS_ABI_LIBRARY $GOOD"; ssh-add -l; '
               "for i in 1 2 3; do sleep 0.6; echo tick; done")
    return server.ssh(command, options=[f"IdentityAgent={agent.sock}", "ForwardAgent=yes",
                                        "SetEnv=GOOD=yes A-B=refused"])


def run(start_server, workspace, variant):
    """(ssh result, the callbacks the connection made) with the library
    LIB_<variant> loaded and one session's connection finished."""
    lib, record = build_library(workspace, variant)
    agent = Agent(workspace, "client")
    try:
        server = start_server(hook=lib, config=None).wait_ready()
        r = one_session(server, agent)
    finally:
        agent.stop()
    # the connection's process records its last callbacks as it exits
    wait_for(lambda: "shutdown" in recorded(record)[1:])
    return r, agent, recorded(record)


def assert_session_worked(r, agent):
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "loaded yes", r.stdout  # session_env and client_env ran
    assert agent.fingerprint in lines[1], r.stdout  # the agent was forwarded
    assert lines[2:] == ["tick"] * 3, r.stdout


def test_an_older_library_is_never_called_past_its_struct_size(start_server, workspace):
    r, agent, calls = run(start_server, workspace, "older")
    assert_session_worked(r, agent)
    assert not APPENDED & set(calls), calls
    assert set(calls) == FIRST, calls


def test_the_session_reaches_every_appended_callback(start_server, workspace):
    """The control for the test above: with the full struct the same session
    calls each appended callback, so their absence there is the size check."""
    r, agent, calls = run(start_server, workspace, "control")
    assert_session_worked(r, agent)
    assert set(calls) == FIRST | APPENDED, calls


def test_a_library_built_against_a_later_header_loads(start_server, workspace):
    r, agent, calls = run(start_server, workspace, "newer")
    assert_session_worked(r, agent)
    assert set(calls) == FIRST | APPENDED, calls
