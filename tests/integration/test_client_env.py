"""Client env requests (SendEnv/SetEnv) with the real OpenSSH client and
paramiko: client_env_allow (by default LANG, LC_*, TERM, COLORTERM, TZ and
GIT_PROTOCOL), client env after the fetched environment and under the
denylist, none for a key with a forced command or `restrict`, variables a
shell or the loader acts on, and refused names logged (escaped)."""
import base64
import os
import subprocess

import pytest

from conftest import USER, keygen, serve_with, unique


def refusals(server):
    return {e["name"]: e["reason"] for e in server.events() if e["event"] == "client_env_refused"}


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


def test_client_env_requests_are_refused_without_an_allowlist(server):
    r = server.ssh("echo ${WS_PROBE-unset}", options=["SetEnv=WS_PROBE=from-client"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "unset\n"


def test_client_env_allowlist(start_server, workspace):
    server = serve_with(start_server, workspace, "")
    refused_value = unique("refused")
    r = server.ssh("echo ${LANG-unset} ${LC_TIME-unset} ${FOO-unset}",
                   options=[f"SetEnv=LANG=C.UTF-8 LC_TIME=C FOO={refused_value}"])
    assert r.stdout.split() == ["C.UTF-8", "C", "unset"]
    refused = [e for e in server.events() if e["event"] == "client_env_refused"]
    assert [(e["name"], e["reason"]) for e in refused] == [("FOO", "not in client_env_allow")]
    assert refused_value not in server.output()


def test_sendenv_passes_the_clients_own_variables(server):
    args = server.ssh_args(options=["SendEnv=LANG TZ WS_NOT_ALLOWED"]) + ["echo $LANG/$TZ/${WS_NOT_ALLOWED-unset}"]
    r = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
                       env=dict(os.environ, LANG="C.UTF-8", TZ="Europe/Paris", WS_NOT_ALLOWED="x"))
    assert r.stdout.strip() == "C.UTF-8/Europe/Paris/unset", r.stderr


def test_client_env_comes_after_fetched_env_and_obeys_the_denylist(start_server, workspace):
    with open(workspace.path("all.env"), "w") as f:
        f.write("LANG=fetched\nGIT_EDITOR=fetched\n")
    server = serve_with(start_server, workspace,
                        f"env_file = {workspace.path('all.env')}\n"
                        "client_env_allow = \"LANG GIT_* LD_* HOME *PATH\"\n")
    r = server.ssh("echo $LANG $GIT_EDITOR $HOME ${LD_PRELOAD-unset} $PATH",
                   options=["SetEnv=LANG=client GIT_EDITOR=vi HOME=/tmp LD_PRELOAD=/x.so PATH=/x"])
    assert r.stdout.split() == ["client", "vi", workspace.home, "unset",
                                "/usr/local/bin:/usr/bin:/bin"], r.stderr
    refused = {e["name"]: e["reason"] for e in server.events() if e["event"] == "client_env_refused"}
    assert refused == {"HOME": "denied name", "LD_PRELOAD": "denied name", "PATH": "denied name"}


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
