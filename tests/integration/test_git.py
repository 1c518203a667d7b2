"""git over ssh with the real git and OpenSSH clients: git asks for protocol
v2 by sending GIT_PROTOCOL as an env request, which the default
client_env_allow takes; refused, git falls back to protocol v0 without a
word, so the tests read the packet trace to see which one was spoken."""
import os
import re
import secrets
import shlex
import subprocess

from conftest import USER

TIMEOUT = 60


def git_env(workspace, server):
    """The client's environment: no GIT_* of the caller's, no system or
    global config, ssh to our server, the packet trace on stderr."""
    home = workspace.path("git-client-home")
    os.makedirs(home, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # ssh_args ends with user@host: git adds the host (and its own -o
    # SendEnv=GIT_PROTOCOL, since the command's first word is "ssh")
    env.update(HOME=home, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_TERMINAL_PROMPT="0", GIT_TRACE_PACKET="1",
               GIT_SSH_COMMAND=shlex.join(server.ssh_args()[:-1]))
    return env


def git(args, env, cwd=None):
    r = subprocess.run(["git", "-c", "protocol.version=2"] + args, cwd=cwd, env=env,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=TIMEOUT)
    assert r.returncode == 0, f"git {args}:\n{r.stderr[-3000:]}"
    return r


def bare_repo_in_home(workspace):
    """A one-commit repository, cloned bare into the workspace home (owned
    by the workspace user, who runs git-upload-pack).  Returns its path, the
    commit and the file's content (unique, so no path can contain it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=workspace.path(), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    src = workspace.path("git-src")
    content = f"content-{secrets.token_hex(16)}\n"
    ident = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main", src], env=env, check=True)
    with open(os.path.join(src, "file.txt"), "w") as f:
        f.write(content)
    subprocess.run(["git", "-C", src, "add", "file.txt"], env=env, check=True)
    subprocess.run(["git", "-C", src] + ident + ["commit", "-q", "-m", "one"], env=env, check=True)
    commit = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], env=env, check=True,
                            capture_output=True, text=True).stdout.strip()
    repo = os.path.join(workspace.home, "repo.git")
    subprocess.run(["git", "clone", "-q", "--bare", src, repo], env=env, check=True)
    workspace.chown(repo)
    return repo, commit, content


def packets(trace):
    """(direction, payload) of each pkt-line in a GIT_TRACE_PACKET trace:
    "<" read from the server, ">" written to it.  The trace names the
    program (git, ls-remote, clone...) differently across git versions."""
    out = []
    for line in trace.splitlines():
        m = re.search(r" packet: +[\w.-]+([<>]) (.*)$", line)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def refused_git_protocol(server):
    return [e for e in server.events()
            if e["event"] == "client_env_refused" and e["name"] == "GIT_PROTOCOL"]


def test_ls_remote_and_clone_speak_protocol_v2(server, workspace):
    repo, commit, content = bare_repo_in_home(workspace)
    env = git_env(workspace, server)
    url = f"{USER}@127.0.0.1:{repo}"

    r = git(["ls-remote", url], env)
    assert f"{commit}\tHEAD" in r.stdout and f"{commit}\trefs/heads/main" in r.stdout, r.stdout
    # v2: the server's first line is its version, the client asks for refs
    # with a command (in v0 the server starts with the refs themselves)
    trace = packets(r.stderr)
    assert trace[0] == ("<", "version 2"), r.stderr[-3000:]
    assert (">", "command=ls-refs") in trace, r.stderr[-3000:]

    dest = workspace.path("git-clone")
    r = git(["clone", url, dest], env)
    trace = packets(r.stderr)
    assert trace[0] == ("<", "version 2"), r.stderr[-3000:]
    assert (">", "command=ls-refs") in trace and (">", "command=fetch") in trace, \
        r.stderr[-3000:]
    with open(os.path.join(dest, "file.txt")) as f:
        assert f.read() == content
    head = git(["-C", dest, "rev-parse", "HEAD"], env).stdout.strip()
    assert head == commit

    assert refused_git_protocol(server) == []
    commands = [e.get("command", "") for e in server.events() if e["event"] == "session_start"]
    assert len(commands) == 2 and all(c.startswith("git-upload-pack ") for c in commands), commands


def test_a_list_without_git_protocol_drops_git_to_v0(start_server, workspace):
    """What docs/environment.md says of an explicit client_env_allow: it
    replaces the default, and git without GIT_PROTOCOL still works, in
    protocol v0."""
    workspace.config = workspace.write_config("event_log = stderr\n"
                                              'client_env_allow = "LANG LC_* TERM"\n')
    server = start_server().wait_ready()
    repo, commit, _ = bare_repo_in_home(workspace)
    r = git(["ls-remote", f"{USER}@127.0.0.1:{repo}"], git_env(workspace, server))
    assert f"{commit}\tHEAD" in r.stdout, r.stdout
    trace = packets(r.stderr)
    assert ("<", "version 2") not in trace, r.stderr[-3000:]
    assert trace[0][0] == "<" and trace[0][1].startswith(f"{commit} HEAD\\0"), r.stderr[-3000:]
    assert [e["reason"] for e in refused_git_protocol(server)] == ["not in client_env_allow"]


def test_a_value_git_would_not_send_is_refused(server):
    # OpenSSH's SetEnv, so that the value is exactly what the test says
    over = "version=2:" + "v" * 119
    r = server.ssh("echo ${GIT_PROTOCOL-unset}", options=["SetEnv=GIT_PROTOCOL=version=2;id"])
    assert r.stdout == "unset\n", r.stderr
    r = server.ssh("echo ${GIT_PROTOCOL-unset}", options=[f"SetEnv=GIT_PROTOCOL={over}"])
    assert r.stdout == "unset\n", r.stderr
    r = server.ssh("echo ${GIT_PROTOCOL-unset}", options=[f"SetEnv=GIT_PROTOCOL={over[:-1]}"])
    assert r.stdout == f"{over[:-1]}\n", r.stderr
    assert [e["reason"] for e in refused_git_protocol(server)] == [
        "value has a character outside [A-Za-z0-9._=:-]", "value longer than 128 bytes"]
    assert over[:-1] not in server.output()
