"""A pysaml2 service provider as a small web server on loopback, for the browser tests (tests/browser/).

It serves its metadata at /metadata, starts an SP-initiated login at /login (HTTP-Redirect), and consumes the
Response posted to /acs: pysaml2 validates the signature, audience, destination, recipient and times, and the page
says "Signed in as <NameID>" with the attributes. IdP-initiated (portal) logins are accepted too (unsolicited).
The IdP's metadata is loaded from --idp-metadata-url at the first login, since the application is created in the
console after this server starts.

    python tests/peers/sp_server.py --port 9001 --idp-metadata-url http://127.0.0.1:8080/saml2/demo/metadata
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

from saml2 import BINDING_HTTP_REDIRECT  # noqa: E402

from sp import SpProfile, consume, create_authn_request, make_client, sp_metadata_xml  # noqa: E402

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: sans-serif; margin: 2rem;">
<h1>{title}</h1>
{body}
</body></html>"""


class Sp:
    def __init__(self, base_url: str, idp_metadata_url: str):
        self.profile = SpProfile(
            app="browser-sp",
            entity_id=f"{base_url}/metadata",
            acs_url=f"{base_url}/acs",
            signing="assertion",
            allow_unsolicited=True,
        )
        self.idp_metadata_url = idp_metadata_url
        self.metadata = sp_metadata_xml(self.profile)
        self.outstanding: dict[str, str] = {}
        self.lock = threading.Lock()
        self._client = None

    def client(self):
        with self.lock:
            if self._client is None:
                self._client = make_client(self.profile, self.idp_metadata_url)
            return self._client

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/metadata":
                return self.reply(start_response, "200 OK", self.metadata, "application/samlmetadata+xml")
            if path == "/login":
                request = create_authn_request(self.client(), BINDING_HTTP_REDIRECT, relay_state="/")
                with self.lock:
                    self.outstanding[request.request_id] = "/"
                start_response("302 Found", [("Location", request.url), ("Content-Length", "0")])
                return [b""]
            if path == "/acs" and method == "POST":
                return self.acs(environ, start_response)
            if path == "/":
                body = '<p>Not signed in.</p><p><a href="/login">Sign in with sesame</a></p>'
                return self.page(start_response, "200 OK", "Browser test SP", body)
            return self.page(start_response, "404 Not Found", "Not found", "<p>Nothing here.</p>")
        except Exception as e:  # the page shows why, the test reads it
            body = f"<p id='error'>{html.escape(type(e).__name__)}: {html.escape(str(e))}</p>"
            return self.page(start_response, "400 Bad Request", "Sign-in refused by the SP", body)

    def acs(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode("ascii"))
        saml_response = form["SAMLResponse"][0]
        with self.lock:
            outstanding = dict(self.outstanding)
        result = consume(self.client(), saml_response, outstanding)
        with self.lock:
            self.outstanding.pop(result.in_response_to or "", None)
        name_id = result.name_id.text
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(', '.join(v))}</td></tr>"
            for k, v in sorted(result.ava.items())
        )
        # The AuthnContextClassRef of each AuthnStatement (how the IdP says the user authenticated).
        contexts = ", ".join(info[0] for info in result.authn_info())
        body = (
            f"<p id='who'>Signed in as {html.escape(name_id)}</p>"
            f"<p id='authn-context'>{html.escape(contexts)}</p>"
            f"<p>Issuer: {html.escape(result.issuer())}</p>"
            f"<table id='attributes'>{rows}</table>"
        )
        return self.page(start_response, "200 OK", "Signed in", body)

    def page(self, start_response, status, title, body):
        return self.reply(start_response, status, PAGE.format(title=html.escape(title), body=body), "text/html")

    @staticmethod
    def reply(start_response, status, text, content_type):
        data = text.encode("utf-8")
        start_response(status, [("Content-Type", f"{content_type}; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        sys.stderr.write("sp_server: " + (format % args) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idp-metadata-url", required=True)
    args = parser.parse_args()
    base_url = f"http://127.0.0.1:{args.port}"
    # pysaml2 writes temporary files for xmlsec1; keep them in a directory of our own.
    tempfile.tempdir = tempfile.mkdtemp(prefix="sp-server-")
    app = Sp(base_url, args.idp_metadata_url)
    with make_server("127.0.0.1", args.port, app, handler_class=QuietHandler) as server:
        print(f"sp_server listening on {base_url}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
