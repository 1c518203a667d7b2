"""Env sources someone else can write, with the real OpenSSH client: a
file, a per-user file's directory, a directory or a file in it, or a helper
command writable by group or others, or owned by another user, is refused
(the session starts without it, or not at all with env_on_failure =
closed)."""
import os

import pytest

from conftest import USER, serve_with, unique, write_exec


def source_event(server, source):
    return next(e for e in server.events() if e["event"] == "env_source" and e["source"] == source)


def assert_source_failed(server, source, reason):
    """The source's env_source event says it failed, for reason."""
    e = source_event(server, source)
    assert e["status"] == "failed", e
    assert e["reason"] == reason, e


def test_a_world_writable_env_file_is_refused(start_server, workspace):
    path = workspace.write("all.env", "INJECTED=1\n", 0o666)
    server = serve_with(start_server, workspace, f"env_file = {path}\n")
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    e = source_event(server, "file")
    assert e["status"] == "failed" and e["vars"] == 0
    assert e["reason"] == f"{path}: writable by group or others; refusing it", e


def test_env_on_failure_closed_refuses_the_session_for_an_unsafe_source(start_server, workspace):
    path = workspace.write("all.env", "INJECTED=1\n", 0o666)
    server = serve_with(start_server, workspace,
                        f"env_file = {path}\nenv_on_failure = closed\n")
    assert server.ssh("echo ran").returncode != 0
    assert source_event(server, "file")["status"] == "failed"


def test_a_per_user_file_in_a_world_writable_directory_is_refused(start_server, workspace):
    users = workspace.path("users")
    os.makedirs(users)
    os.chmod(users, 0o777)
    workspace.write(f"users/{USER}.env", "INJECTED=1\n", 0o644)
    server = serve_with(start_server, workspace, f"env_file = {users}/%u.env\n")
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    assert_source_failed(server, "file", f"{users}/{USER}.env: {users} is writable by group or others; refusing it")


def serve_env_dir(start_server, workspace, files, mode=None):
    """A server whose env_dir holds files (name: mode) with the value 1;
    the directory's mode set to mode, if given."""
    root = workspace.path("envdir")
    os.makedirs(root)
    for name, file_mode in files.items():
        workspace.write(f"envdir/{name}", "1", file_mode)
    if mode is not None:
        os.chmod(root, mode)
    return root, serve_with(start_server, workspace, f"env_dir = {root}\n")


def test_a_world_writable_env_dir_is_refused(start_server, workspace):
    root, server = serve_env_dir(start_server, workspace, {"INJECTED": 0o644}, mode=0o777)
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    assert_source_failed(server, "dir", f"{root}: writable by group or others; refusing it")


def test_a_world_writable_file_in_env_dir_is_refused(start_server, workspace):
    root, server = serve_env_dir(start_server, workspace, {"GOOD": 0o644, "INJECTED": 0o666})
    assert server.ssh("echo ${GOOD-unset} ${INJECTED-unset}").stdout == "unset unset\n"
    assert_source_failed(server, "dir", f"{root}/INJECTED: writable by group or others; refusing it")


def test_a_writable_env_command_is_refused_and_not_run(start_server, workspace):
    marker = workspace.path("server", unique("ran"))
    helper = write_exec(workspace, "helper.sh", f"#!/bin/sh\ntouch {marker}\necho INJECTED=1\n")
    os.chmod(helper, 0o777)
    server = serve_with(start_server, workspace, f"env_command = {helper}\n")
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    assert not os.path.exists(marker)
    assert_source_failed(server, "command", f"{helper}: writable by group or others; refusing it")


@pytest.mark.skipif(os.getuid() != 0, reason="chown needs root")
def test_a_source_owned_by_another_user_is_refused(start_server, workspace):
    path = workspace.write("all.env", "INJECTED=1\n", 0o644)
    os.chown(path, workspace.uid + 1, workspace.gid)
    server = serve_with(start_server, workspace, f"env_file = {path}\n")
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    e = source_event(server, "file")
    assert e["reason"] == f"{path}: owned by uid {workspace.uid + 1}, not root or the server's; refusing it"
