"""The activity record (activity_dir): one JSON file per live connection,
rewritten as the session is active, removed when the connection ends."""
import glob
import json
import os
import subprocess

from conftest import USER, wait_for


def test_the_activity_record_tracks_live_connections(start_server, workspace):
    adir = workspace.path("server", "activity")
    cfg = workspace.write_config(f"event_log = stderr\nactivity_dir = {adir}\n"
                                 "activity_interval = 1\n", name="activity.conf")
    # -K 1: the record is rewritten when the connection's loop wakes up; after
    # output stops that is the next keepalive (30 s by default)
    s = start_server(config=cfg, extra_args=["-K", "1"]).wait_ready()
    assert os.path.isdir(adir)
    proc = subprocess.Popen(s.ssh_args() + ["-tt", "sleep 2; echo tick; sleep 30"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        def record():
            files = glob.glob(os.path.join(adir, "*.json"))
            if len(files) == 1:
                with open(files[0]) as f:
                    r = json.load(f)
                return r if r.get("user") == USER and r.get("channels") else None
            return None
        first = wait_for(record, timeout=10)
        assert first, os.listdir(adir)
        assert first["event"] == "activity" and first["client"] == "127.0.0.1"
        assert first["pid"] > 0 and first["channels"] >= 1
        # "tick" is session output: last_activity moves forward
        later = wait_for(lambda: (r := record()) and
                         r["last_activity_ms"] > first["last_activity_ms"] and r, timeout=15)
        assert later, record()
        assert later["connected_ms"] == first["connected_ms"]
        assert oct(os.stat(glob.glob(os.path.join(adir, "*.json"))[0]).st_mode & 0o777) == "0o644"
    finally:
        proc.kill()
        proc.wait()
    # the connection ended: its record is gone
    assert wait_for(lambda: not glob.glob(os.path.join(adir, "*.json")), timeout=10)
