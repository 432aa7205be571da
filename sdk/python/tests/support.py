"""Test fixtures: the real memoryd binary, and a scripted stub HTTP server.

The binary comes from $MEMORYD_BIN when set (CI builds it once), else from
``go build`` of the repository this SDK lives in.
"""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

REPO_ROOT = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "sdk-test-admin-token-0123456789"
START_TIMEOUT = 20.0


def memoryd_binary(workdir: str) -> str:
    path = os.environ.get("MEMORYD_BIN")
    if path:
        return path
    out = os.path.join(workdir, "memoryd")
    subprocess.run(["go", "build", "-o", out, "."], cwd=REPO_ROOT, check=True)
    return out


class MemoryServer:
    """A memoryd process on a free port with its own data folder, and a fresh org."""

    def __init__(self, env: Optional[Dict[str, str]] = None) -> None:
        self._extra_env = env or {}
        self._dir = tempfile.mkdtemp(prefix="memoryd-sdk-py-")
        try:
            self._binary = memoryd_binary(self._dir)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.data = os.path.join(self._dir, "data")
        self.proc: Optional[subprocess.Popen] = None
        self.bootstrap_key = self.start()
        created = self.admin("POST", "/v1/admin/orgs", {"name": "sdk-python", "plan": "enterprise"})
        self.org_id = created["org"]["id"]
        self.api_key = created["api_key"]["key"]

    def start(self) -> Optional[str]:
        """Starts memoryd on the data folder; returns the key it prints on a first start."""
        env = dict(os.environ, MEMORYD_ADMIN_TOKEN=ADMIN_TOKEN, **self._extra_env)
        self.proc = subprocess.Popen(
            [self._binary, "serve", "--listen", "127.0.0.1:0", "--data", self.data],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )
        self.base_url, key = self._read_banner()
        return key

    def _read_banner(self) -> Tuple[str, Optional[str]]:
        # Read stdout on a thread so a server that hangs cannot hang the test.
        lines: "queue.Queue[Optional[str]]" = queue.Queue()
        proc = self.proc

        def pump() -> None:
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        key = None
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                self.close()
                raise RuntimeError("memoryd did not print its address in time")
            if line is None:
                self.close()
                raise RuntimeError("memoryd exited before listening")
            stripped = line.strip()
            if line.startswith("    mem_live_"):
                key = stripped
            if "listening on http://" in line:
                addr = line.split("listening on http://", 1)[1].split()[0]
                return "http://" + addr, key

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            self.base_url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)["data"]

    def stop(self) -> None:
        """Stops memoryd gracefully; the data folder stays for the next start."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def record_last_month(data: str, org_id: str) -> str:
    """Records 1,500 API calls of the org last month in a stopped server's data folder
    (sdk/testdata/pastusage) and returns that month, YYYY-MM."""
    out = subprocess.run(
        ["go", "run", "./sdk/testdata/pastusage", "-data", data, "-org", org_id, "-calls", "1500"],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


# A stub answer: (status, headers, body). A dict body is sent as JSON.
Answer = Tuple[int, Dict[str, str], Union[Dict[str, Any], str, bytes]]


def ok(data: Any, status: int = 200) -> Answer:
    return status, {}, {"success": True, "data": data, "meta": {"request_id": "req_stub"}}


def fail(status: int, code: str, details: Optional[Dict[str, Any]] = None,
         headers: Optional[Dict[str, str]] = None) -> Answer:
    body = {"success": False, "error": {"code": code, "message": code.lower(), "details": details or {}},
            "meta": {"request_id": "req_stub_err"}}
    return status, headers or {}, body


class StubServer:
    """Answers requests from a script, in order, and records what it was sent.

    The last answer repeats once the script runs out, so "always 500" is one entry.
    """

    def __init__(self, *answers: Union[Answer, Callable[[Dict[str, Any]], Answer]]) -> None:
        self.answers = list(answers)
        self.requests: List[Dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                req = {
                    "method": self.command, "path": path, "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(raw) if raw else None,
                }
                stub.requests.append(req)
                answer = stub.answers[min(len(stub.requests), len(stub.answers)) - 1]
                status, headers, body = answer(req) if callable(answer) else answer
                if isinstance(body, dict):
                    payload, ctype = json.dumps(body).encode(), "application/json"
                else:
                    payload = body.encode() if isinstance(body, str) else body
                    ctype = headers.get("Content-Type", "text/plain")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    if k != "Content-Type":
                        self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # A short poll interval: shutdown() waits for one, and tests start many stubs.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def __enter__(self) -> "StubServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class ChatStandIn:
    """A chat model speaking the OpenAI wire format (POST /v1/chat/completions), for a
    memoryd started with ``env()``. ``reply(model, messages)`` returns the assistant's
    content; every request is recorded. ``hold`` makes the extraction model wait (until
    set or the client goes away), to catch a job while it runs."""

    def __init__(self, reply: Callable[[str, List[Dict[str, str]]], str]) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.hold = threading.Event()
        self.hold.set()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                stand_in.requests.append(body)
                if body["model"] == "stand-in-extraction":
                    stand_in.hold.wait(30)
                content = reply(body["model"], body["messages"])
                payload = json.dumps({
                    "id": f"chatcmpl-{len(stand_in.requests)}", "object": "chat.completion", "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
                }).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # memoryd gave up on this call (a canceled job)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True).start()

    def env(self) -> Dict[str, str]:
        return {
            "MEMORYD_LLM_BASE_URL": self.base_url, "MEMORYD_LLM_API_KEY": "sk-stand-in",
            "MEMORYD_LLM_ANSWER_MODEL": "stand-in-answer", "MEMORYD_LLM_EXTRACTION_MODEL": "stand-in-extraction",
            "MEMORYD_LLM_UPDATE_MODEL": "stand-in-update", "MEMORYD_LLM_MAX_RETRIES": "0",
        }

    def close(self) -> None:
        self.hold.set()
        self._httpd.shutdown()
        self._httpd.server_close()
