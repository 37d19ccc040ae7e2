"""A server fetching for a client vets the peer of every connection it makes: redirects
and registries' token realms cannot lead it into its own networks. Loopback servers
stand in for the private addresses (no public address is reachable here)."""

from __future__ import annotations

import http.server
import threading

import pytest

from eunomia.errors import RegistryError, SourceError
from eunomia.net import public_address
from eunomia.oci.images import Images
from eunomia.oci.registry import RegistryOptions
from eunomia.package.source import fetch_url


def serve(host: str, handler) -> http.server.HTTPServer:
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_public_addresses():
    assert public_address("93.184.216.34") and public_address("2606:4700::1111")
    for address in ("127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1",
                    "169.254.169.254", "fe80::1%eth0", "0.0.0.0", "224.0.0.1",
                    "::ffff:127.0.0.1", "not an address"):
        assert not public_address(address), address


def test_a_redirect_into_a_refused_address_is_not_followed():
    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass
    target = serve("127.0.0.1", Target)

    class Redirect(Target):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{target.server_port}/p.json")
            self.end_headers()
    first = serve("127.0.0.2", Redirect)
    try:
        url = f"http://127.0.0.2:{first.server_port}/p.json"
        assert fetch_url(url) == b"{}"                       # no vetting: followed
        only_first = lambda address: address == "127.0.0.2"
        with pytest.raises(SourceError, match="127.0.0.1 is a loopback, link-local or "
                                              "private address"):
            fetch_url(url, peer_allowed=only_first)
    finally:
        for server in (first, target):
            server.shutdown()
            server.server_close()


def test_a_registry_at_a_refused_address_is_not_reached():
    class Registry(http.server.BaseHTTPRequestHandler):
        def do_GET(self):           # answers, but with nothing to pull
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass
    registry = serve("127.0.0.1", Registry)
    reference = f"127.0.0.1:{registry.server_port}/x/y:1"
    try:
        with pytest.raises(RegistryError) as reached:           # reached, nothing there
            Images(RegistryOptions()).pull(reference, "always")
        assert "private address" not in str(reached.value)
        refused = RegistryOptions(peer_allowed=lambda address: False)
        with pytest.raises(RegistryError, match="private address"):
            Images(refused).pull(reference, "always")
    finally:
        registry.shutdown()
        registry.server_close()
