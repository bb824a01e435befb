"""Stand-in for the compose file's `app` (traefik/whoami): answers every GET with its path and
headers as JSON, for scripts/compose/compose-test.sh."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 80
ThreadingHTTPServer(("0.0.0.0", port), Echo).serve_forever()
