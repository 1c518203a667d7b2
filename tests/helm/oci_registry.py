"""A minimal OCI distribution registry in memory, on 127.0.0.1, for `helm
push` and `helm pull` (plain HTTP): blob uploads in one PUT (or PATCH then
PUT), manifests by tag or digest, HEAD and GET.  Just enough of the
distribution spec to show a packaged chart round-trips through a registry."""
import hashlib
import http.server
import re
import threading
import urllib.parse
import uuid


class Registry:
    def __init__(self):
        self.blobs = {}       # digest -> bytes
        self.manifests = {}   # (repo, tag or digest) -> (media type, bytes)
        self.uploads = {}     # id -> bytearray
        self.log = []
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def body(self):
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def route(self):
                registry.log.append(f"{self.command} {self.path}")
                path, _, query = self.path.partition("?")
                if path == "/v2/":
                    return self.reply(200, b"{}")
                m = re.fullmatch(r"/v2/(.+)/blobs/uploads/([^/]*)", path)
                if m:
                    return self.upload(m.group(1), m.group(2), query)
                m = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})", path)
                if m:
                    blob = registry.blobs.get(m.group(2))
                    if blob is None:
                        return self.reply(404)
                    return self.reply(200, blob, {"Docker-Content-Digest": m.group(2),
                                                  "Content-Type": "application/octet-stream"})
                m = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
                if m:
                    return self.manifest(m.group(1), m.group(2))
                return self.reply(404)

            def upload(self, repo, upload_id, query):
                if self.command == "POST":
                    upload_id = uuid.uuid4().hex
                    registry.uploads[upload_id] = bytearray()
                    return self.reply(202, headers={
                        "Location": f"/v2/{repo}/blobs/uploads/{upload_id}",
                        "Docker-Upload-UUID": upload_id, "Range": "0-0"})
                if upload_id not in registry.uploads:
                    return self.reply(404)
                registry.uploads[upload_id] += self.body()
                if self.command == "PATCH":
                    return self.reply(202, headers={
                        "Location": f"/v2/{repo}/blobs/uploads/{upload_id}",
                        "Range": f"0-{len(registry.uploads[upload_id]) - 1}"})
                digest = urllib.parse.parse_qs(query).get("digest", [None])[0]
                data = bytes(registry.uploads.pop(upload_id))
                if digest != "sha256:" + hashlib.sha256(data).hexdigest():
                    return self.reply(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                registry.blobs[digest] = data
                return self.reply(201, headers={"Location": f"/v2/{repo}/blobs/{digest}",
                                                "Docker-Content-Digest": digest})

            def manifest(self, repo, ref):
                if self.command == "PUT":
                    data = self.body()
                    digest = "sha256:" + hashlib.sha256(data).hexdigest()
                    entry = (self.headers.get("Content-Type"), data)
                    registry.manifests[(repo, ref)] = entry
                    registry.manifests[(repo, digest)] = entry
                    return self.reply(201, headers={"Location": f"/v2/{repo}/manifests/{digest}",
                                                    "Docker-Content-Digest": digest})
                entry = registry.manifests.get((repo, ref))
                if entry is None:
                    return self.reply(404)
                return self.reply(200, entry[1], {
                    "Content-Type": entry[0],
                    "Docker-Content-Digest": "sha256:" + hashlib.sha256(entry[1]).hexdigest()})

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = route

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
