"""The stand-in's pod exec (kube_standin.py): the WebSocket side of
`GET .../pods/NAME/exec` as the API server and kubelet speak it with the
v4.channel.k8s.io subprotocol.  The command runs here, locally, with the
pod's activity directory (a directory of the test) in place of
/var/lib/ws-activity; its stdout and stderr go out as unmasked binary frames
on channels 1 and 2, then a metav1.Status on channel 3, then a close frame.
What the client sends back is checked: only a masked close frame (the
backend sends no stdin).  Faults a test can ask for (kube_standin.py's
`exec_faults`): "bad-accept" (a Sec-WebSocket-Accept for another key),
"stall" (nothing after the first frame, for 15 s), "flood" (200 KiB of
output instead of the command's), "ping" (a ping before the output), "cut"
(the connection ends after the output: no status, no close)."""
import base64
import hashlib
import json
import struct
import subprocess
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOL = "v4.channel.k8s.io"
ACTIVITY = "/var/lib/ws-activity"
STDOUT, STDERR, STATUS = 1, 2, 3
OP_BINARY, OP_CLOSE, OP_PING = 0x2, 0x8, 0x9


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode, payload):
    """A server frame: FIN set, not masked (RFC 6455 5.1)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def read_frame(sock_file):
    """(opcode, masked, payload) of one client frame, or None at EOF."""
    head = sock_file.read(2)
    if len(head) < 2:
        return None
    opcode, masked, n = head[0] & 0x0F, bool(head[1] & 0x80), head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", sock_file.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", sock_file.read(8))[0]
    if n > 1 << 20:
        return None
    mask = sock_file.read(4) if masked else b"\0\0\0\0"
    data = sock_file.read(n)
    return opcode, masked, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def handshake_error(headers):
    """Why these upgrade headers are not a valid v4 exec handshake, or None."""
    if headers.get("Upgrade", "").lower() != "websocket":
        return "Upgrade: websocket is missing"
    if "upgrade" not in headers.get("Connection", "").lower():
        return "Connection: Upgrade is missing"
    if headers.get("Sec-WebSocket-Version") != "13":
        return "Sec-WebSocket-Version is not 13"
    try:
        if len(base64.b64decode(headers.get("Sec-WebSocket-Key", ""), validate=True)) != 16:
            return "Sec-WebSocket-Key is not 16 bytes in base64"
    except ValueError:
        return "Sec-WebSocket-Key is not base64"
    protocols = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if PROTOCOL not in protocols:
        return f"Sec-WebSocket-Protocol does not offer {PROTOCOL}"
    return None


def exit_status(code):
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def serve_exec(handler, argv, activity_dir, problems, fault=None, chunk=8192):
    """Upgrades the handler's connection and runs argv; the caller checked
    the pod, the container and the handshake headers."""
    key = handler.headers["Sec-WebSocket-Key"]
    if fault == "bad-accept":
        key = base64.b64encode(b"not the key sent").decode()
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_value(key))
    handler.send_header("Sec-WebSocket-Protocol", PROTOCOL)
    handler.end_headers()
    handler.close_connection = True
    out = handler.wfile
    # the API server's first frame: empty, on the lowest channel it writes
    out.write(frame(OP_BINARY, bytes([STDOUT])))
    if fault == "stall":
        time.sleep(15)
        return
    if fault == "ping":
        out.write(frame(OP_PING, b"are you there"))
    local = [a.replace(ACTIVITY, activity_dir) for a in argv]
    if fault == "flood":
        local = ["sh", "-c", "yes 1234567890123 | head -c 204800"]
    try:
        r = subprocess.run(local, stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
        code, stdout, stderr = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        code, stdout, stderr = 137, b"", b"timed out in the stand-in\n"
    except OSError as e:
        code, stdout, stderr = 126, b"", f"{e}\n".encode()
    for channel, data in ((STDOUT, stdout), (STDERR, stderr)):
        for i in range(0, len(data), chunk):
            out.write(frame(OP_BINARY, bytes([channel]) + data[i:i + chunk]))
    if fault == "cut":
        return
    out.write(frame(OP_BINARY, bytes([STATUS]) + json.dumps(exit_status(code)).encode()))
    out.write(frame(OP_CLOSE, struct.pack("!H", 1000)))
    # the client's frames until its close or EOF (at most 3 s): masked, and
    # nothing but control frames (the socket's timeout bounds the wait)
    handler.connection.settimeout(3)
    for _ in range(64):
        try:
            got = read_frame(handler.rfile)
        except (OSError, struct.error):
            return
        if got is None:
            return
        opcode, masked, _ = got
        if not masked:
            problems.append("exec: the client sent an unmasked frame")
        if opcode < 0x8:
            problems.append(f"exec: the client sent a data frame (opcode {opcode})")
        if opcode == OP_CLOSE:
            return
