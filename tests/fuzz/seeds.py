#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/TARGET/.

    tests/fuzz/seeds.py        (re)writes the seeds; regression inputs
                               (regress-*, each the exact input of a fixed
                               crash) are left as they are

Seeds are small valid inputs, so that a short run starts inside each parser
rather than at its first check.  Formats are described in each target's
tests/fuzz/fuzz_NAME.c; "G" as a first byte picks roomy caps
(fuzz_env_config: 8 variables, 32 KiB values), and \\x1f separates fields.

Upstream's server fuzzers take what a client sends on the wire: the version
line, KEXINIT, the key exchange, NEWKEYS, then (the fuzzers replace the
receive cipher with "none") plaintext packets.
"""
import base64
import hashlib
import os
import struct

TOP = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(TOP, "corpus")
SEP = b"\x1f"


def noise(label, n):
    """Deterministic bytes, so that rerunning this changes nothing."""
    out = b""
    while len(out) < n:
        out += hashlib.sha256(label.encode() + len(out).to_bytes(4, "big")).digest()
    return out[:n]


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- our parsers ---

def ours():
    write("fuzz_config", "full.conf", b"""# every key
event_log = /var/log/ssh-workspace/events.log
log_commands = no
env_dir = /etc/ssh-workspace/env
env_file = /etc/ssh-workspace/users/%u.env
env_command = /usr/local/lib/ssh-workspace/fetch-env
env_command_timeout = 1500ms
env_socket = /run/env-broker/env.sock
env_socket_url = /v1/env/%u?session=%s&addr=%a&fp=%f&pct=%%
env_socket_timeout = 2s
env_output_max = 64K
env_max_vars = 32
env_max_bytes = 1M
env_value_max = 4096
env_allow_path = yes
env_on_failure = closed
client_env_allow = "LANG LC_* TERM COLORTERM TZ GIT_[A-Z]*"
client_env_forced_command = no
agent_forwarding = on
agent_dir = /tmp/ssh-workspace-agent-%u
agent_workspace_socket = /run/workspace-agent/agent.sock
activity_dir = /run/ssh-workspace/activity
activity_interval = 10
""")
    write("fuzz_config", "quoted.conf",
          b'event_log = "/a \\"b\\" \\\\ c"   # comment\r\n\n  activity_dir = off\n')
    write("fuzz_config", "bad-key.conf", b"event_log = stderr\nlog_command = no\n")

    write("fuzz_dotenv", "dotenv", b"G" + b"""# a comment
export GIT_AUTHOR_NAME="Ada Lovelace"
TOKEN = 'literal $x \\n' # trailing
MULTI="line one
line two\\t\\"q\\" \\$HOME"
PLAIN=value with spaces # comment
LD_PRELOAD=/x.so
EMPTY=
""")
    write("fuzz_lines", "helper-output", b"G" + b"A=1\nB=two words=here\r\n\nC=\nSSH_X=1\n1BAD=x\n")
    # a malformed line that holds a secret: the error must not quote it
    write("fuzz_lines", "secret-line", b"G" + b"A=1\nDATABASE_URL: postgres://app:pw@db/app?sslmode=require\n")
    write("fuzz_json", "object", b"G" + b'{"GITHUB_TOKEN": "ghp_x", "U": "\\u00e9\\ud83d\\ude00",'
          b' "Q": "a\\"b\\n\\/\\\\", "PATH": "/bin", "": "e"}')
    write("fuzz_json", "empty", b"G" + b" { } ")
    write("fuzz_http", "ok", b"G" + b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          b"Content-Length: 22\r\n\r\n{\"A\":\"1\",\"SSH_X\":\"2\"}\ntrailing")
    write("fuzz_http", "lf-only", b"G" + b'HTTP/1.0 200\n\n{"B": "2"}')
    write("fuzz_http", "status-500", b"G" + b"HTTP/1.0 500 Oops\r\n\r\n{}")
    write("fuzz_envdir", "kubelet-dir", b"G" + SEP.join([
        b"GIT_AUTHOR_NAME", b"Ada\n", b"GITHUB_TOKEN", b"ghp_secret", b"LD_PRELOAD", b"/x.so",
        b"..data", b"x", b"PATH", b"/bin", b"NUL", b"a\0b", b"GIT_AUTHOR_NAME", b"Grace\n\n"]))
    write("fuzz_client_env", "requests", b"G" + SEP.join([
        b"LANG LC_* GIT_* ?", b"LANG", b"C.UTF-8", b"LC_ALL", b"C", b"GIT_EDITOR", b"vi",
        b"LD_PRELOAD", b"/x.so", b"TERM", b"xterm", b"X", b"1"]))
    # a key with a forced command (bit 7), without and with
    # client_env_forced_command (bit 6); names that run code
    for name, first in (("forced-command", b"\x87"), ("forced-command-allowed", b"\xc7")):
        write("fuzz_client_env", name, first + SEP.join([
            b"*", b"LANG", b"C", b"SHELLOPTS", b"xtrace", b"PS4", b"$(id)", b"BASH_ENV", b"/x",
            b"A\0B", b"v", b"\xff", b"v"]))
    # GIT_PROTOCOL's value rule: git's own values, then ones it refuses
    write("fuzz_client_env", "git-protocol", b"G" + SEP.join([
        b"LANG GIT_PROTOCOL", b"GIT_PROTOCOL", b"version=2", b"GIT_PROTOCOL", b"version=2:object-format=sha256",
        b"GIT_PROTOCOL", b"version=2;id", b"GIT_PROTOCOL", b"v" * 129]))
    write("fuzz_eventlog", "session-start", SEP.join([
        b"session_start", b"\x06developer", b"\x07echo \"hi\"\n\t\x01\x7f",
        b"\x05bad utf-8 \xff\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80",
        b"\x02\xe2\x82\xac\xe2\x82\xac", b"\xc0\x00\x00\x10\x00", b"\xc1\xff\xff\xff\xff",
        b"\xc2\x01"]))
    write("fuzz_eventlog", "overflow", SEP.join(
        [b"connect"] + [b"\x00" + b"x" * 1500] * 4 + [b"\x06short"]))

    def frame(body):
        return struct.pack(">I", len(body)) + body

    def sshstr(b):
        return struct.pack(">I", len(b)) + b
    sign = b"\x0d" + sshstr(b"\0\0\0\x0bssh-ed25519" + sshstr(noise("k", 32))) + \
        sshstr(b"data to sign") + b"\0\0\0\0"
    write("fuzz_agent_filter", "session", frame(b"\x0b") + frame(sign) + frame(b"\x11" + sshstr(b"key"))
          + frame(b"\x13") + frame(b"\x16" + sshstr(b"pw")) + frame(b"\x1b" + sshstr(b"query")))

    # fuzz_kube: the first byte picks the parser (0 frames, 1 a list, 2 a pod,
    # 3 a template, 4 a Status body, 5 the activity output)
    def ws(opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n <= 125:
            head += bytes([n])
        elif n <= 0xffff:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        return head + payload
    write("fuzz_kube", "frames", b"\0" + ws(2, b"\1") + ws(2, b"\1" + b"x" * 300)
          + ws(9, b"ping") + ws(2, b'\3{"status":"Success"}') + ws(8, b"\3\xe8"))
    write("fuzz_kube", "list", b"\1" + b'{"kind":"StatefulSetList","metadata":{"continue":"c"},'
          b'"items":[{"metadata":{"name":"ws-alice","labels":{"ssh-workspace/gateway":"gw",'
          b'"ssh-workspace/workspace":"alice"}},"spec":{"replicas":1}},'
          b'{"metadata":{"name":"ws-bob","labels":{"ssh-workspace/gateway":"gw",'
          b'"ssh-workspace/workspace":"carol"}},"spec":{}}]}')
    write("fuzz_kube", "pod", b"\2" + b'{"metadata":{"name":"ws-alice-0"},"spec":{},'
          b'"status":{"podIP":"10.0.0.5","phase":"Pending","conditions":[{"type":"Ready",'
          b'"status":"True"},{"type":"PodScheduled","status":"False","message":"no nodes"}],'
          b'"containerStatuses":[{"state":{"waiting":{"reason":"ImagePullBackOff",'
          b'"message":"Back-off"}}}]}}')
    write("fuzz_kube", "template", b"\3" + b'{"apiVersion":"apps/v1","kind":"StatefulSet",'
          b'"metadata":{"name":"__OBJECT__","namespace":"x","labels":{"a":"__NAME__"}},'
          b'"spec":{"replicas":3,"template":{"metadata":{},"spec":{"containers":[{"name":'
          b'"workspace","ports":[{"name":"ssh","containerPort":2022}]}]}},'
          b'"volumeClaimTemplates":[{"metadata":{"name":"home"}}]}}')
    # a key repeated: the backend must refuse it (the API server reads the last)
    write("fuzz_kube", "template-repeated-key", b"\3" + b'{"kind":"StatefulSet",'
          b'"metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},'
          b'"spec":{"replicas":1,"replicas":2,"template":{"metadata":{}}}}')
    write("fuzz_kube", "status", b"\4" + b'{"kind":"Status","status":"Failure","message":'
          b'"pods \\"ws-a-0\\" is forbidden: tok3n-Secret\\n","code":403}')
    write("fuzz_kube", "activity", b"\5" + b'{"last_activity_ms":1700000000123}\n'
          b'{"last_activity_ms": 1700000999456}\nhold\n')
    for choice, name in ((0, "gcm128"), (1, "gcm256"), (2, "chachapoly"), (6, "chachapoly-inplace")):
        write("fuzz_aead", name, bytes([choice]) + struct.pack(">I", 3) + struct.pack(">I", 28)
              + b"\x04" + noise(name, 23) + noise("tag", 16))
    for choice, name in ((0, "ctr128-sha256"), (1, "ctr256-sha256"), (2, "ctr128-sha512"),
                         (0x53, "ctr256-sha512-cut")):
        write("fuzz_ctr_mac", name, bytes([choice]) + struct.pack(">I", 0xffffffff)
              + noise(name, 32) + b"\xff" * 15 + b"\xf0" + noise("packet", 100))


# --- upstream's server fuzzers ---

def packet(payload, block=8):
    pad = block - (5 + len(payload)) % block
    if pad < 4:
        pad += block
    return struct.pack(">IB", 1 + len(payload) + pad, pad) + payload + b"\0" * pad


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def u32(n):
    return struct.pack(">I", n)


def kexinit(kex):
    lists = [kex + ",ext-info-c", "ssh-ed25519,rsa-sha2-256",
             "chacha20-poly1305@openssh.com", "chacha20-poly1305@openssh.com",
             "hmac-sha2-256-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
             "none", "none", "", ""]
    return packet(bytes([20]) + noise("cookie", 16) + b"".join(s(x) for x in lists) + b"\0" + u32(0))


def handshake(kex="curve25519-sha256", share=None):
    share = share if share is not None else noise("q_c", 32)
    return (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n" + kexinit(kex)
            + packet(bytes([30]) + s(share)) + packet(bytes([21])))


def ed25519_blob(label):
    return s("ssh-ed25519") + s(noise(label, 32))


def upstream():
    auth = (packet(bytes([5]) + s("ssh-userauth"))
            + packet(bytes([50]) + s("root") + s("ssh-connection") + s("none"))
            + packet(bytes([50]) + s("other") + s("ssh-connection") + s("publickey") + b"\0"
                     + s("ssh-ed25519") + s(ed25519_blob("user")))
            + packet(bytes([50]) + s("other") + s("ssh-connection") + s("publickey") + b"\1"
                     + s("ssh-ed25519") + s(ed25519_blob("user"))
                     + s(s("ssh-ed25519") + s(noise("sig", 64))))
            + packet(bytes([50]) + s("other") + s("ssh-connection") + s("password") + b"\0" + s("pw")))
    for target in ("fuzzer-preauth", "fuzzer-preauth_nomaths"):
        write(target, "curve25519-auth", handshake() + auth)
        write(target, "mlkem768-auth",
              handshake("mlkem768x25519-sha256", noise("mlkem", 1184 + 32)) + auth)

    def req(chan, name, want, extra=b""):
        return packet(bytes([98]) + u32(chan) + s(name) + bytes([want]) + extra)
    session = (packet(bytes([90]) + s("session") + u32(0) + u32(2 * 1024 * 1024) + u32(32768))
               + req(0, "pty-req", 1, s("xterm-256color") + u32(80) + u32(24) + u32(0) + u32(0)
                     + s(b"\x35\0\0\0\1\0"))
               + req(0, "env", 0, s("LANG") + s("C.UTF-8"))
               + req(0, "env", 0, s("LD_PRELOAD") + s("/x.so"))
               + req(0, "auth-agent-req@openssh.com", 0)
               + req(0, "exec", 1, s("echo hi"))
               + packet(bytes([94]) + u32(0) + s("input\n"))
               + packet(bytes([93]) + u32(0) + u32(65536))
               + req(0, "window-change", 0, u32(100) + u32(40) + u32(0) + u32(0))
               + packet(bytes([96]) + u32(0)) + packet(bytes([97]) + u32(0)))
    others = (packet(bytes([90]) + s("session") + u32(1) + u32(65536) + u32(32768))
              + req(1, "subsystem", 1, s("sftp"))
              + packet(bytes([90]) + s("direct-tcpip") + u32(2) + u32(65536) + u32(32768)
                       + s("127.0.0.1") + u32(22) + s("127.0.0.1") + u32(40000))
              + packet(bytes([80]) + s("tcpip-forward") + b"\1" + s("") + u32(0))
              + packet(bytes([80]) + s("keepalive@openssh.com") + b"\1")
              + packet(bytes([2]) + s("ignored")) + packet(bytes([1]) + u32(11) + s("bye") + s("")))
    write("fuzzer-postauth_nomaths", "session-exec", handshake() + session)
    write("fuzzer-postauth_nomaths", "sftp-forwards", handshake() + others)

    blob = ed25519_blob("user")
    line = b'restrict,pty,command="echo hi",permitopen="localhost:8080",no-touch-required ' \
        + b"ssh-ed25519 " + base64.b64encode(blob) + b" user@host"
    write("fuzzer-pubkey", "ed25519-options", s(line) + s(blob))
    write("fuzzer-verify", "ed25519", blob + s(s("ssh-ed25519") + s(noise("sig", 64))))
    write("fuzzer-kexcurve25519", "share", u32(0) + s(noise("q_c", 32)))
    write("fuzzer-kexmlkem-srv", "share", s(noise("mlkem", 1184 + 32)))
    write("fuzzer-kexsntrup-srv", "share", s(noise("sntrup", 1158 + 32)))


if __name__ == "__main__":
    ours()
    upstream()
