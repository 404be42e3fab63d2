"""A loopback stand-in for api.weixin.qq.com (no internet here): token, custom/template
messages and menu creation, recording every call."""

from __future__ import annotations

import http.server
import json
import threading
from urllib.parse import parse_qs, urlparse


class FakeWechatApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []  # (path, query, json body)
        self.fail_with: int | None = None
        self.tokens_issued = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                api.calls.append((url.path, query, {}))
                if url.path.endswith("/token"):
                    api.tokens_issued += 1
                    self._reply({"access_token": f"TOKEN{api.tokens_issued}", "expires_in": 7200})
                else:
                    self._reply({"errcode": 40004, "errmsg": "unknown"})

            def do_POST(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                api.calls.append((url.path, query, body))
                if api.fail_with:
                    self._reply({"errcode": api.fail_with, "errmsg": "refused"})
                else:
                    self._reply({"errcode": 0, "errmsg": "ok", "msgid": len(api.calls)})

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeWechatApi":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, suffix: str) -> list[tuple[str, dict, dict]]:
        return [c for c in self.calls if c[0].endswith(suffix)]
