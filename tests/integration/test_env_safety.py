"""Environment that could run code, with the real OpenSSH client: client env
requests on a key with a forced command or `restrict`, variables a shell or
the loader acts on, env sources that someone else can write, and helper
output whose text must not reach the log."""
import base64
import os

import pytest

from conftest import USER, keygen, unique, write_exec


def serve_with(start_server, workspace, config):
    workspace.config = workspace.write_config("event_log = stderr\n" + config)
    return start_server().wait_ready()


def refusals(server):
    return {e["name"]: e["reason"] for e in server.events() if e["event"] == "client_env_refused"}


def source_event(server, source):
    return next(e for e in server.events() if e["event"] == "env_source" and e["source"] == source)


def key_with_options(workspace, options):
    """A second client key, authorized with authorized_keys `options`."""
    key = workspace.path(f"opt-key-{unique('k')}")
    keygen(key)
    ak = os.path.join(workspace.home, ".ssh", "authorized_keys")
    with open(key + ".pub") as src, open(ak, "a") as dst:
        dst.write(f"{options} {src.read()}")
    return key


PROBE = unique("probe")


def code_running_env(marker):
    """SetEnv values that make bash run `touch marker` before its command,
    and a harmless one."""
    return [f'SetEnv=SHELLOPTS=xtrace "PS4=$(touch {marker})" WS_PROBE={PROBE}']


@pytest.mark.parametrize("options", [
    'command="echo forced ${WS_PROBE-unset}"',
    "restrict",
    'restrict,command="echo forced ${WS_PROBE-unset}"',
])
def test_a_key_with_a_forced_command_or_restrict_gets_no_client_env(
        start_server, workspace, options):
    marker = workspace.path("server", unique("pwned"))
    server = serve_with(start_server, workspace, 'client_env_allow = "*"\n')
    key = key_with_options(workspace, options)
    r = server.ssh("echo asked ${WS_PROBE-unset}", key=key, options=code_running_env(marker))
    assert not os.path.exists(marker)  # the forced command was bypassed
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "unset", r.stdout
    refused = refusals(server)
    assert set(refused) == {"SHELLOPTS", "PS4", "WS_PROBE"}, refused
    assert set(refused.values()) == {"the key has a forced command or restrict"}
    # the ordinary key of the same user still gets what the allowlist allows
    assert server.ssh("echo ${WS_PROBE-unset}", options=[f"SetEnv=WS_PROBE={PROBE}"]).stdout == f"{PROBE}\n"


def test_a_server_wide_forced_command_gets_no_client_env(start_server, workspace):
    """dropbear -c: every key has a forced command."""
    marker = workspace.path("server", unique("pwned"))
    workspace.config = workspace.write_config('event_log = stderr\nclient_env_allow = "*"\n')
    server = start_server(extra_args=["-c", "echo forced ${WS_PROBE-unset}"]).wait_ready()
    r = server.ssh("true", options=code_running_env(marker))
    assert not os.path.exists(marker)
    assert r.stdout == "forced unset\n", r.stderr
    assert set(refusals(server).values()) == {"the key has a forced command or restrict"}


def test_client_env_forced_command_lets_safe_names_through(start_server, workspace):
    marker = workspace.path("server", unique("pwned"))
    server = serve_with(start_server, workspace,
                        'client_env_allow = "*"\nclient_env_forced_command = yes\n')
    key = key_with_options(workspace, 'command="echo forced ${WS_PROBE-unset}"')
    r = server.ssh("true", key=key, options=code_running_env(marker))
    assert r.stdout == f"forced {PROBE}\n", r.stderr
    assert not os.path.exists(marker)
    assert refusals(server) == {"SHELLOPTS": "denied name", "PS4": "denied name"}


def test_variables_that_run_code_are_refused_whatever_the_allowlist(start_server, workspace):
    marker = workspace.path("server", unique("pwned"))
    hook = workspace.path("server", unique("hook"))
    server = serve_with(start_server, workspace, 'client_env_allow = "*"\n')
    r = server.ssh("echo ran", options=[
        f'SetEnv=SHELLOPTS=xtrace "PS4=$(touch {marker})" BASH_ENV={hook} ENV={hook} '
        f'BASHOPTS=extdebug "PROMPT_COMMAND=touch {marker}" IFS=x GCONV_PATH=/x LOCPATH=/x '
        'GLIBC_TUNABLES=x LD_PRELOAD=/x.so OK_NAME=1'])
    assert r.stdout == "ran\n", r.stderr
    assert not os.path.exists(marker)
    refused = refusals(server)
    assert set(refused) == {"SHELLOPTS", "PS4", "BASH_ENV", "ENV", "BASHOPTS", "PROMPT_COMMAND",
                            "IFS", "GCONV_PATH", "LOCPATH", "GLIBC_TUNABLES", "LD_PRELOAD"}
    assert set(refused.values()) == {"denied name"}


def test_invalid_client_env_names_are_logged(start_server, workspace):
    server = serve_with(start_server, workspace, 'client_env_allow = "*"\n')
    long_name = "N" * 300
    r = server.ssh("echo ran", options=[f"SetEnv=9LIVES=x A-B=y {long_name}=z GOOD=1"])
    assert r.stdout == "ran\n", r.stderr
    refused = refusals(server)
    assert refused.get("9LIVES") == "invalid name", refused
    assert refused.get("A-B") == "invalid name", refused
    assert refused.get("N" * 64 + "...") == "invalid name", refused


def test_names_no_openssh_client_sends_are_logged_escaped(start_server, workspace):
    """NUL, 0xff, '=', empty: the server refuses them itself and hands them
    to the library's log, escaped."""
    paramiko = pytest.importorskip("paramiko")
    server = serve_with(start_server, workspace, 'client_env_allow = "*"\n')
    keytype, keydata = workspace.hostpub.split()[:2]
    client = paramiko.SSHClient()
    client.get_host_keys().add(f"[127.0.0.1]:{server.port}", keytype,
                               paramiko.Ed25519Key(data=base64.b64decode(keydata)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", server.port, username=USER, key_filename=workspace.key,
                   allow_agent=False, look_for_keys=False, timeout=30)
    try:
        chan = client.get_transport().open_session()
        for name in (b"A\x00B", b"\xffX", b"", b"A=B"):
            chan.set_environment_variable(name, b"v")
        chan.set_environment_variable(b"WS_NUL_VALUE", b"x\x00y")
        chan.exec_command("echo ran")
        assert chan.makefile().read() == b"ran\n"
    finally:
        client.close()
    assert refusals(server) == {"A\\x00B": "invalid name", "\\xffX": "invalid name",
                                "": "invalid name", "A=B": "invalid name",
                                "WS_NUL_VALUE": "NUL byte in value"}


# --- sources someone else can write ---

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
    e = source_event(server, "file")
    assert e["status"] == "failed"
    assert e["reason"] == f"{users}/{USER}.env: {users} is writable by group or others; refusing it"


def test_a_world_writable_env_dir_is_refused(start_server, workspace):
    root = workspace.path("envdir")
    os.makedirs(root)
    workspace.write("envdir/INJECTED", "1", 0o644)
    os.chmod(root, 0o777)
    server = serve_with(start_server, workspace, f"env_dir = {root}\n")
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    e = source_event(server, "dir")
    assert e["status"] == "failed"
    assert e["reason"] == f"{root}: writable by group or others; refusing it"


def test_a_world_writable_file_in_env_dir_is_refused(start_server, workspace):
    root = workspace.path("envdir")
    os.makedirs(root)
    workspace.write("envdir/GOOD", "1", 0o644)
    workspace.write("envdir/INJECTED", "1", 0o666)
    server = serve_with(start_server, workspace, f"env_dir = {root}\n")
    assert server.ssh("echo ${GOOD-unset} ${INJECTED-unset}").stdout == "unset unset\n"
    e = source_event(server, "dir")
    assert e["status"] == "failed"
    assert e["reason"] == f"{root}/INJECTED: writable by group or others; refusing it"


def test_a_writable_env_command_is_refused_and_not_run(start_server, workspace):
    marker = workspace.path("server", unique("ran"))
    helper = write_exec(workspace, "helper.sh", f"#!/bin/sh\ntouch {marker}\necho INJECTED=1\n")
    os.chmod(helper, 0o777)
    server = serve_with(start_server, workspace, f"env_command = {helper}\n")
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    assert not os.path.exists(marker)
    e = source_event(server, "command")
    assert e["status"] == "failed"
    assert e["reason"] == f"{helper}: writable by group or others; refusing it"


@pytest.mark.skipif(os.getuid() != 0, reason="chown needs root")
def test_a_source_owned_by_another_user_is_refused(start_server, workspace):
    path = workspace.write("all.env", "INJECTED=1\n", 0o644)
    os.chown(path, workspace.uid + 1, workspace.gid)
    server = serve_with(start_server, workspace, f"env_file = {path}\n")
    assert server.ssh("echo ${INJECTED-unset}").stdout == "unset\n"
    e = source_event(server, "file")
    assert e["reason"] == f"{path}: owned by uid {workspace.uid + 1}, not root or the server's; refusing it"


# --- a helper's malformed lines: their text never reaches the log ---

def test_text_of_a_malformed_helper_line_is_not_logged(start_server, workspace):
    secret = unique("S3cretPassw0rd")
    helper = write_exec(workspace, "helper.sh",
                        "#!/bin/sh\necho GOOD=1\n"
                        f"echo 'DATABASE_URL: postgres://app:{secret}@db:5432/app?sslmode=require'\n"
                        f"echo 'API_SECRET_B64 {secret}=='\n")
    server = serve_with(start_server, workspace, f"env_command = {helper}\n")
    r = server.ssh("echo ${GOOD-unset}")
    source_event(server, "command")  # logged by now
    assert secret not in server.output()
    assert r.stdout == "unset\n"  # a malformed line fails the whole source
    e = source_event(server, "command")
    assert e["status"] == "failed" and e["vars"] == 0
    assert e["reason"] == f"{helper}: output line 2: invalid variable name", e
    assert "rejected_names" not in e
