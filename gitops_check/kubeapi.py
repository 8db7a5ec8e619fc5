"""A small Kubernetes API client for the local control plane: HTTPS to 127.0.0.1 with a bearer token,
one kept-alive connection per thread, a timeout on every request. Standard library only."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolError

REQUEST_TIMEOUT = 30.0  # seconds for one request; the server answers a dry run in milliseconds


@dataclass(frozen=True)
class Response:
    status: int
    body: dict
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Resource:
    """Where the API server serves one apiVersion/kind."""

    group_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        prefix = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        ns = f"/namespaces/{urllib.parse.quote(namespace, safe='')}" if self.namespaced and namespace else ""
        tail = f"/{urllib.parse.quote(name, safe='')}" if name else ""
        return f"{prefix}{ns}/{self.plural}{tail}"


def _warning_text(header: str) -> str:
    """The text of one RFC 7234 Warning header as Kubernetes sends it: `299 - "text"`."""
    parts = header.split(" ", 2)
    text = parts[2] if len(parts) == 3 else header
    if text.startswith('"'):
        text = text[1:].rsplit('"', 1)[0].replace('\\"', '"')
    return text


class Client:
    def __init__(self, url: str, token: str, ca_file: Path, timeout: float = REQUEST_TIMEOUT):
        parsed = urllib.parse.urlsplit(url)
        if parsed.hostname != "127.0.0.1":
            raise ToolError(f"refusing to talk to {url}: the control plane is on 127.0.0.1 only")
        self.host, self.port, self.token, self.timeout = parsed.hostname, parsed.port, token, timeout
        # The server's certificate is self-signed; the file holds it and its CA. Loopback plus a token we
        # made: verify against that file when it is complete, never against the system trust store.
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.context.check_hostname = False
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: object = None, content_type: str = "application/json") -> Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = content_type
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once on a new one
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise ToolError(f"the local kube-apiserver closed the connection on {method} {path}") from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                raise ToolError(f"the local kube-apiserver did not answer {method} {path}: {exc}") from None
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"message": raw[:300].decode(errors="replace")}
        warnings = tuple(_warning_text(v) for k, v in resp.getheaders() if k.lower() == "warning")
        return Response(resp.status, payload if isinstance(payload, dict) else {}, warnings)

    def ready(self) -> bool:
        try:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=2)
            conn.request("GET", "/readyz", headers={"Authorization": f"Bearer {self.token}"})
            resp = conn.getresponse()
            ok = resp.status == 200 and resp.read().strip() == b"ok"
            conn.close()
            return ok
        except (OSError, http.client.HTTPException, ssl.SSLError):
            return False

    def resources(self) -> dict[tuple[str, str], Resource]:
        """(apiVersion, kind) -> Resource, for everything the server serves (discovery)."""
        found: dict[tuple[str, str], Resource] = {}

        def add(group_version: str, path: str) -> None:
            resp = self.request("GET", path)
            if not resp.ok:
                raise ToolError(f"discovery of {group_version} failed: HTTP {resp.status}")
            for r in resp.body.get("resources", []):
                if "/" not in r["name"]:
                    found[(group_version, r["kind"])] = Resource(group_version, r["kind"], r["name"], r["namespaced"])

        add("v1", "/api/v1")
        groups = self.request("GET", "/apis").body.get("groups", [])
        for g in groups:
            for v in g["versions"]:
                add(v["groupVersion"], f"/apis/{v['groupVersion']}")
        return found
