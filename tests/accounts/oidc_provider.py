"""A small OpenID Connect provider for the tests, served on 127.0.0.1 from a thread.

It does what a real one does for the authorization-code flow, no more: discovery, the
JWKS (a fresh RSA key), /authorize (which requires PKCE, signs in `signs_in_as` without
asking and redirects back with a code and the state), /token (checks the code, the
client's secret and the PKCE verifier; answers an RS256 ID token signed with that key)
and /userinfo. Codes and access tokens work once and for one person.
"""

import base64
import copy
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from accounts.oidc_config import form_action_origins, oidc_apps
from accounts.role_map import role_map_parse

ROLE_MAP = {"failsafe-admins": "admin", "sre": "responder", "support": "viewer"}


def failsafe_configured_for(settings, provider, *, secret=None, role_map=ROLE_MAP):
    """Point Failsafe's settings (pytest-django's `settings`, restored after the test) at
    the provider, through the same parsers the real settings use: one provider "acme"."""
    entry = {
        "id": "acme",
        "name": "Acme SSO",
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "secret": secret or provider.secret,
    }
    apps = oidc_apps(json.dumps([entry]), {})
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": apps}}
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"] = ["'self'", *form_action_origins(apps)]
    settings.CONTENT_SECURITY_POLICY = policy
    settings.OIDC_ROLE_MAP = role_map_parse(json.dumps(role_map))


class IdentityProvider:
    def __init__(self, *, client_id="failsafe", secret="failsafe-client-secret"):
        self.client_id = client_id
        self.secret = secret
        self.groups_claim = "groups"
        self.people: dict[str, dict] = {}
        self.signs_in_as: str | None = None
        self.token_requests = 0
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(4)
        self._codes: dict[str, dict] = {}
        self._access_tokens: dict[str, dict] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def issuer(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "IdentityProvider":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (a second call does nothing): the port is closed after it."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()

    def person(self, username, *, groups=(), email=None, preferred_username=True) -> None:
        """Add or change a person; `signs_in_as` picks who /authorize signs in."""
        self.people[username] = {
            "sub": self.people.get(username, {}).get("sub") or secrets.token_hex(8),
            "email": email or f"{username}@example.test",
            "email_verified": True,
            "name": username.capitalize(),
            **({"preferred_username": username} if preferred_username else {}),
            self.groups_claim: list(groups),
        }

    # --- endpoints --------------------------------------------------------------------
    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email"],
        }

    def jwks(self) -> dict:
        key = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**key, "kid": self._kid, "alg": "RS256", "use": "sig"}]}

    def authorize(self, query: dict) -> tuple[int, dict]:
        """(status, headers): a redirect back to the client with a code, or an error."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return 400, {}
        back = {"state": query.get("state", "")}
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            back["error"] = "invalid_request"  # like a provider that requires PKCE
        elif self.signs_in_as is None:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(16)
            self._codes[code] = {
                "claims": dict(self.people[self.signs_in_as]),
                "redirect_uri": redirect_uri,
                "nonce": query.get("nonce"),
                "challenge": query.get("code_challenge"),
            }
            back["code"] = code
        return 302, {"Location": f"{redirect_uri}?{urlencode(back)}"}

    def token(self, form: dict, authorization: str) -> tuple[int, dict]:
        self.token_requests += 1
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if client_id != self.client_id or secret != self.secret:
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        if grant["challenge"] and _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        access_token = secrets.token_urlsafe(24)
        self._access_tokens[access_token] = grant["claims"]
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self._id_token(grant),
        }

    def userinfo(self, authorization: str) -> tuple[int, dict]:
        claims = self._access_tokens.pop(authorization.removeprefix("Bearer "), None)
        return (401, {"error": "invalid_token"}) if claims is None else (200, claims)

    def _id_token(self, grant: dict) -> str:
        now = int(time.time())
        payload = {
            **grant["claims"],
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            **({"nonce": grant["nonce"]} if grant["nonce"] else {}),
        }
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": self._kid})


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _handler_for(provider: IdentityProvider):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            authorization = self.headers.get("Authorization", "")
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                self._json(200, provider.jwks())
            elif url.path == "/authorize":
                status, headers = provider.authorize(query)
                self._answer(status, headers, b"")
            elif url.path == "/userinfo":
                self._json(*provider.userinfo(authorization))
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if urlsplit(self.path).path == "/token":
                self._json(*provider.token(form, self.headers.get("Authorization", "")))
            else:
                self._json(404, {"error": "not_found"})

        def _json(self, status, body):
            self._answer(status, {"Content-Type": "application/json"}, json.dumps(body).encode())

        def _answer(self, status, headers, body):
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass  # the test output is for the tests

    return Handler
