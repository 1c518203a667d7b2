"""--sftp-server: the sftp subsystem runs the configured program."""
import os
import subprocess


def test_the_sftp_subsystem_runs_the_configured_program(start_server, workspace):
    marker = workspace.path("server", "sftp-ran")  # writable by the server's uid
    wrapper = workspace.path("my-sftp-server")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\necho ran > {marker}\nexec /usr/lib/openssh/sftp-server \"$@\"\n")
    os.chmod(wrapper, 0o755)
    s = start_server(extra_args=[f"--sftp-server={wrapper}", "-e"]).wait_ready()
    batch = workspace.path("batch")
    with open(batch, "w") as f:
        f.write("pwd\n")
    args = s.ssh_args()
    args[0], args[args.index("-p")] = "sftp", "-P"
    r = subprocess.run(args[:-1] + ["-b", batch, args[-1]], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(marker)
