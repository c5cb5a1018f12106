"""A real SCIM 2.0 server for sesame's provisioning tests: scim2-server's application and in-memory storage on
127.0.0.1, behind a bearer-token check.

It prints `ready PORT` once it listens. SIGUSR1 stops listening (an outage: connections are refused) while the
data stays in memory; SIGUSR2 listens again on the same port and prints `up PORT`. SIGHUP makes the next
`--throttle-count` requests answer 429 Too Many Requests with `Retry-After: --retry-after` seconds (a rate limit) and
prints `throttling`. SIGTERM exits.

`--delay-ms` makes every request take at least that long (a slow SP: jobs stay in flight long enough for a test to
kill the replica that holds them). `--log FILE` appends one JSON line per answered request: time, method, path,
status and the `userName` or `displayName` of the body, so a test can count how often each account was created.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import load_default_resource_types, load_default_schemas, load_default_service_provider_config


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the name is the base class's
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    # Repeatable: every token given is accepted (a test changes an integration's token).
    parser.add_argument("--bearer-token", required=True, action="append")
    parser.add_argument("--throttle-count", type=int, default=3)
    parser.add_argument("--retry-after", type=int, default=7)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115 - open for the process's life

    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    scim_app = BearerTokenApplication(
        InMemoryStorage(), provider, service=ScimService(provider, secret="tests"), bearer_tokens=args.bearer_token
    )

    state: dict[str, object] = {"port": args.port, "throttled": 0}
    lock = threading.Lock()

    def app(environ, start_response):
        if args.delay_ms > 0:
            time.sleep(args.delay_ms / 1000)
        if log is not None:
            return logged(environ, start_response)
        return answer(environ, start_response)

    def logged(environ, start_response):
        """`answer`, and one log line with the status it gave and the names in the request's body."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[str] = []

        def capture(code, headers, exc_info=None):
            status.append(code)
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        result = list(answer(environ, capture))
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            document = {}
        names = document if isinstance(document, dict) else {}
        line = {
            "t": time.time(),
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "status": int(status[0].split()[0]) if status else 0,
            "userName": names.get("userName"),
            "displayName": names.get("displayName"),
        }
        with lock:
            log.write(json.dumps(line) + "\n")
            log.flush()
        return result

    def answer(environ, start_response):
        with lock:
            throttle = state["throttled"] > 0
            if throttle:
                state["throttled"] -= 1
        if not throttle:
            return scim_app(environ, start_response)
        body = (
            '{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429",'
            '"detail":"rate limit exceeded"}'
        ).encode()
        start_response("429 Too Many Requests", [
            ("Content-Type", "application/scim+json"),
            ("Retry-After", str(args.retry_after)),
            ("Content-Length", str(len(body))),
        ])
        return [body]

    def up() -> None:
        with lock:
            if state.get("server") is not None:
                return
            server = make_server("127.0.0.1", state["port"], app, server_class=ThreadingWSGIServer,
                                 handler_class=QuietHandler)
            state["port"] = server.server_port
            state["server"] = server
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def down() -> None:
        with lock:
            server = state.pop("server", None)
            if server is not None:
                server.shutdown()
                server.server_close()

    up()
    print(f"ready {state['port']}", flush=True)

    def on_down(*_):
        threading.Thread(target=lambda: (down(), print("down", flush=True))).start()

    def on_up(*_):
        threading.Thread(target=lambda: (up(), print(f"up {state['port']}", flush=True))).start()

    def on_throttle(*_):
        with lock:
            state["throttled"] = args.throttle_count
        print("throttling", flush=True)

    signal.signal(signal.SIGHUP, on_throttle)
    signal.signal(signal.SIGUSR1, on_down)
    signal.signal(signal.SIGUSR2, on_up)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
