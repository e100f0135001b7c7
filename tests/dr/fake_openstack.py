"""A small local HTTP server that answers the few Keystone, Nova, Cinder and Neutron calls openstacksdk
makes to read a project's quota: a stand-in for a cloud in unit tests of multidc.dr.cloud_quota (it proves
our code reads what the APIs return, not that a real cloud returns it).

Every request is recorded (method, path) so a test can see which calls were made.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

PROJECT = "8f0c3d7e5a1b4c2d9e6f7a8b9c0d1e2f"
TOKEN = "gAAAAA-fake-token"


class FakeOpenStack:
    """Keystone v3 (password auth, catalog, unified limits), Nova v2.1, Cinder v3, Neutron v2.0 on 127.0.0.1."""

    def __init__(self, *, cores: int = 96, ram_mb: int = 524288, instances: int = 40, gigabytes: int = 2000,
                 floating_ips: int = 4, flavors: Optional[dict[str, dict[str, str]]] = None,
                 limits: Optional[dict[str, int]] = None, regions: tuple[str, ...] = ("kz-ast-1", "kz-ala-1")) -> None:
        self.regions = regions
        self.quota = {"cores": cores, "ram": ram_mb, "instances": instances}
        self.gigabytes, self.floating_ips = gigabytes, floating_ips
        self.flavors = flavors or {}
        self.limits = limits or {}
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeOpenStack":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clouds_yaml(self, **regions: str) -> str:
        """clouds.yaml entries (name=region) whose credentials this server accepts."""
        entries = "".join(f"""  {name}:
    auth:
      auth_url: {self.url}/identity/v3
      username: operator
      password: not-a-real-password
      project_name: bank-prod
      user_domain_name: Default
      project_domain_name: Default
    region_name: {region}
    identity_api_version: 3
""" for name, region in regions.items())
        return "clouds:\n" + entries

    # --- routes ----------------------------------------------------------------------------------

    def _catalog(self) -> list[dict[str, Any]]:
        def service(kind: str, path: str) -> dict[str, Any]:
            return {"type": kind, "name": kind, "id": kind, "endpoints": [
                {"id": f"{kind}-{face}-{region}", "interface": face, "region": region, "region_id": region,
                 "url": f"{self.url}{path}"} for face in ("public", "internal") for region in self.regions]}

        return [service("identity", "/identity/v3"), service("compute", "/compute/v2.1"),
                service("block-storage", f"/volume/v3/{PROJECT}"), service("network", "/network")]

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "POST" and path == "/identity/v3/auth/tokens":
            token = {"token": {"methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
                               "issued_at": "2026-01-01T00:00:00.000000Z",
                               "user": {"id": "u1", "name": "operator", "domain": {"id": "default", "name": "Default"}},
                               "project": {"id": PROJECT, "name": "bank-prod",
                                           "domain": {"id": "default", "name": "Default"}},
                               "roles": [{"id": "r1", "name": "reader"}], "catalog": self._catalog()}}
            return 201, token, {"X-Subject-Token": TOKEN}
        if path in ("/identity/v3", "/identity"):
            return 200, {"version": {"id": "v3.14", "status": "stable", "links": [
                {"rel": "self", "href": f"{self.url}/identity/v3/"}]}}, {}
        if path == "/identity/v3/limits":
            return 200, {"limits": [{"id": f"l{i}", "project_id": PROJECT, "service_id": "compute",
                                     "resource_name": name, "resource_limit": value}
                                    for i, (name, value) in enumerate(self.limits.items())]}, {}
        if path in ("/compute/v2.1", "/compute"):
            return 200, {"version": {"id": "v2.1", "status": "CURRENT", "version": "2.90", "min_version": "2.1",
                                     "links": [{"rel": "self", "href": f"{self.url}/compute/v2.1/"}]}}, {}
        if path == f"/compute/v2.1/os-quota-sets/{PROJECT}":
            return 200, {"quota_set": {"id": PROJECT, **self.quota}}, {}
        if path == "/compute/v2.1/flavors/detail":
            return 200, {"flavors": [{"id": f"id-{name}", "name": name, "vcpus": 12, "ram": 98304, "disk": 0}
                                     for name in self.flavors]}, {}
        match = re.fullmatch(r"/compute/v2.1/flavors/([^/]+)(/os-extra_specs)?", path)
        if match:
            name = match.group(1).removeprefix("id-")
            if name not in self.flavors:
                return 404, {"itemNotFound": {"code": 404, "message": "Flavor could not be found."}}, {}
            if match.group(2):
                return 200, {"extra_specs": self.flavors[name]}, {}
            return 200, {"flavor": {"id": f"id-{name}", "name": name, "vcpus": 12, "ram": 98304, "disk": 0}}, {}
        if path in (f"/volume/v3/{PROJECT}", "/volume/v3", "/volume"):
            return 200, {"version": {"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0",
                                     "links": [{"rel": "self", "href": f"{self.url}/volume/v3/"}]}}, {}
        if path == f"/volume/v3/{PROJECT}/os-quota-sets/{PROJECT}":
            return 200, {"quota_set": {"id": PROJECT, "gigabytes": self.gigabytes, "volumes": 100}}, {}
        if path in ("/network", "/network/v2.0"):
            return 200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"{self.url}/network/v2.0/"}]}]}, {}
        if path == f"/network/v2.0/quotas/{PROJECT}":
            return 200, {"quota": {"floatingip": self.floating_ips, "network": 100, "port": 500}}, {}
        return 404, {"error": f"fake cloud: no route for {method} {path}"}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                fake.requests.append((self.command, self.path))
                status, payload, headers = fake.route(self.command, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler
