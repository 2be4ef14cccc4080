"""A minimal OpenID Connect provider on a loopback port, for a real sign-in round trip.

Discovery (``/.well-known/openid-configuration``), ``/authorize`` (signs in whoever
``email`` names, at once, and redirects back with a code), ``/token`` (an RS256
``id_token`` for that code), ``/jwks`` (the public key). It keeps what it was asked, so a
test can assert what the identity provider saw.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLIENT_ID, CLIENT_SECRET = "mlprod-tests", "client-secret-for-tests"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _number(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class OidcProvider:
    """``with OidcProvider(email="ann@team.example") as idp: idp.url ...``"""

    def __init__(self, email: str) -> None:  # who signs in next (a test may change it)
        self.email = email
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.seen: list[tuple[str, str, dict[str, list[str]]]] = []  # method, path, params
        self._codes: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.seen]

    def _id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": self.email.split("@")[0], "aud": CLIENT_ID,
                  "iat": now, "exp": now + 3600, "email": self.email, "email_verified": True,
                  "name": self.email.split("@")[0].title()}  # fmt: skip
        if nonce:
            claims["nonce"] = nonce
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64(signature)}"

    def _metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def _jwks(self) -> dict[str, Any]:
        public = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": _number(public.n), "e": _number(public.e)}]}  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _json(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                params = parse_qs(parsed.query)
                provider.seen.append(("GET", parsed.path, params))
                if parsed.path == "/.well-known/openid-configuration":
                    self._json(provider._metadata())
                elif parsed.path == "/jwks":
                    self._json(provider._jwks())
                elif parsed.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    provider._codes[code] = {"nonce": params.get("nonce", [None])[0]}
                    back = {"code": code, "state": params["state"][0]}
                    self.send_response(302)
                    self.send_header("Location", f"{params['redirect_uri'][0]}?{urlencode(back)}")
                    self.end_headers()
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                provider.seen.append(("POST", parsed.path, form))
                if parsed.path != "/token":
                    self._json({"error": "not_found"}, 404)
                    return
                grant = provider._codes.pop(form.get("code", [""])[0], None)
                if grant is None:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                            "expires_in": 3600, "id_token": provider._id_token(grant["nonce"]),
                            "scope": "openid email profile"})  # fmt: skip

        return Handler


def secrets_toml(provider: OidcProvider, dashboard_port: int, extra: str = "") -> str:
    """The ``.streamlit/secrets.toml`` of a dashboard on ``dashboard_port`` signing in
    with ``provider`` (as docs/DEPLOYING.md says)."""
    return f"""
[auth]
redirect_uri = "http://127.0.0.1:{dashboard_port}/oauth2callback"
cookie_secret = "cookie-secret-for-tests-only-0123456789"

[auth.team]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{provider.url}/.well-known/openid-configuration"
{extra}
"""
