"""The runtime policy options (crypto profile, unauthenticated limits, auth
timeout, sftp-server, keepalive, idle timeout): a bad value stops startup
with one clear message, also without -E."""
import subprocess

import pytest

from conftest import DROPBEAR, assert_startup_stops, free_port


@pytest.mark.parametrize("args, message", [
    (["--crypto-profile=fast"], "Unknown --crypto-profile 'fast': expected compat, modern or pq-only"),
    (["--max-unauth=0"], "Bad --max-unauth '0': expected a whole number from 1 to 512"),
    (["--max-unauth=10k"], "Bad --max-unauth '10k'"),
    (["--max-unauth=600"], "Bad --max-unauth '600'"),
    (["--max-unauth=10", "--max-unauth-per-address=20"],
     "Bad --max-unauth-per-address '20': expected a whole number from 1 to 10"),
    (["--auth-timeout=-5"], "Bad --auth-timeout '-5'"),
    (["--auth-timeout=0"], "Bad --auth-timeout '0'"),
    (["--sftp-server=sftp-server"], "Bad --sftp-server 'sftp-server': expected an absolute path"),
    (["-K", "often"], "Bad keepalive 'often'"),
    (["-I", "1h"], "Bad idle_timeout '1h'"),
])
def test_a_bad_policy_value_stops_startup_with_a_clear_message(start_server, args, message):
    assert_startup_stops(start_server(extra_args=args), message)


def test_without_stderr_logging_the_message_still_reaches_stderr(workspace):
    r = subprocess.run([DROPBEAR, "-F", "-p", f"127.0.0.1:{free_port()}", "-r", workspace.hostkey,
                        "--crypto-profile=weak"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "Unknown --crypto-profile 'weak'" in r.stderr
