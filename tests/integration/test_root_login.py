"""Root never logs in, even when the server runs as root without -w."""
import os
import shutil
import subprocess

import pytest

from conftest import DROPBEAR, nss_wrapper


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to start the server as root")
def test_root_is_refused_even_when_the_server_runs_as_root(start_server, workspace):
    """Upstream lets uid 0 in when the server runs as root and -w is not given."""
    root_home = workspace.path("roothome")
    os.makedirs(os.path.join(root_home, ".ssh"), mode=0o700)
    shutil.copy(os.path.join(workspace.home, ".ssh", "authorized_keys"),
                os.path.join(root_home, ".ssh", "authorized_keys"))
    with open(workspace.path("passwd"), "a") as f:
        f.write(f"root:x:0:0:root:{root_home}:/bin/bash\n")
        f.write(f"toor:x:0:0:root:{root_home}:/bin/bash\n")
    s = start_server()
    s.wait_ready()
    s.proc.terminate()
    s.proc.wait()
    # the same command line without setpriv, and without -w
    args = [a for a in s.proc.args[s.proc.args.index(DROPBEAR):] if a != "-w"]
    env = dict(os.environ, LD_PRELOAD=nss_wrapper(), NSS_WRAPPER_PASSWD=workspace.path("passwd"),
               NSS_WRAPPER_GROUP=workspace.path("group"))
    s.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=s.log,
                              stderr=subprocess.STDOUT)
    s.wait_ready()
    assert open(f"/proc/{s.proc.pid}/status").read().count("Uid:\t0\t") == 1
    for user in ("root", "toor"):
        r = s.ssh("id -u", user=user)
        assert r.returncode == 255 and "Permission denied" in r.stderr, r
    assert "root login rejected" in s.output()
