"""The identity providers for single sign-on, read from the environment.

Pure: it imports nothing from Django, because config/settings.py calls it while the
settings are still being read. Two ways to name providers, which can be mixed:

- `OIDC_PROVIDERS`: a JSON list of {"id", "name", "issuer", "client_id", "secret"}, and
  optionally "scope";
- per provider, `OIDC_<NAME>_ISSUER`, `OIDC_<NAME>_CLIENT_ID`, `OIDC_<NAME>_SECRET`, an
  optional `OIDC_<NAME>_NAME` (the button's label) and `OIDC_<NAME>_SCOPE`; the id is
  <name> in lower case.

The scope, space-separated, replaces allauth's "openid profile email": some providers
release the groups claim only for a scope of their own ("openid profile email groups").

The result is the list django-allauth's OpenID Connect provider takes as its `APPS`. A
mistake raises ValueError naming the variable, so Failsafe refuses to start rather than
show a button that cannot work.
"""

import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

ENV_ISSUER = re.compile(r"^OIDC_(?P<name>[A-Z0-9_]+)_ISSUER$")
# The id is part of the redirect URI the provider's admin registers: keep it URL-plain.
PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
REQUIRED = ("id", "issuer", "client_id", "secret")


def oidc_apps(providers_json: str, environ: Mapping[str, str]) -> list[dict]:
    """allauth's `APPS` for every provider named in `OIDC_PROVIDERS` or `OIDC_<NAME>_*`."""
    declared = _from_json(providers_json) + _from_variables(environ)
    seen: set[str] = set()
    for provider in declared:
        if provider["id"] in seen:
            raise ValueError(f"OIDC: the provider id {provider['id']!r} is configured twice")
        seen.add(provider["id"])
    return [_app(provider) for provider in declared]


def form_action_origins(apps: list[dict]) -> list[str]:
    """The origins the sign-in buttons' form may be redirected to: the providers'.
    The page's Content-Security-Policy `form-action` must list them."""
    origins = []
    for app in apps:
        parts = urlsplit(app["settings"]["server_url"])
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins:
            origins.append(origin)
    return origins


def _from_json(text: str) -> list[dict]:
    if not text.strip():
        return []
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"OIDC_PROVIDERS is not valid JSON: {error}") from None
    if not isinstance(entries, list):
        raise ValueError("OIDC_PROVIDERS must be a JSON list of providers")
    providers = []
    for index, entry in enumerate(entries):
        where = f"OIDC_PROVIDERS[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object")
        missing = [key for key in REQUIRED if not str(entry.get(key) or "").strip()]
        if missing:
            raise ValueError(f"{where} needs {', '.join(missing)}")
        provider = {key: str(entry[key]).strip() for key in REQUIRED}
        provider["name"] = str(entry.get("name") or "").strip() or _label(provider["id"])
        provider["scope"] = str(entry.get("scope") or "")
        providers.append(_checked(provider, where))
    return providers


def _from_variables(environ: Mapping[str, str]) -> list[dict]:
    providers = []
    for variable in sorted(environ):
        match = ENV_ISSUER.match(variable)
        if not match:
            continue
        name = match["name"]
        prefix = f"OIDC_{name}_"
        values = {
            "issuer": environ[variable],
            "client_id": environ.get(prefix + "CLIENT_ID", ""),
            "secret": environ.get(prefix + "SECRET", ""),
        }
        missing = [prefix + key.upper() for key, value in values.items() if not value.strip()]
        if missing:
            raise ValueError(f"OIDC: {variable} is set, but {', '.join(missing)} is not")
        provider_id = name.lower().replace("_", "-")
        provider = {key: value.strip() for key, value in values.items()}
        provider["id"] = provider_id
        provider["name"] = environ.get(prefix + "NAME", "").strip() or _label(provider_id)
        provider["scope"] = environ.get(prefix + "SCOPE", "")
        providers.append(_checked(provider, variable))
    return providers


def _checked(provider: dict, where: str) -> dict:
    if not PROVIDER_ID.match(provider["id"]):
        raise ValueError(
            f"{where}: the id {provider['id']!r} may hold only lower-case letters, digits, "
            "'-' and '_'"
        )
    parts = urlsplit(provider["issuer"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}: the issuer {provider['issuer']!r} is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        # The client secret and the codes travel to it: plain HTTP only on this machine.
        raise ValueError(f"{where}: the issuer {provider['issuer']!r} must use https")
    if provider["scope"].strip() and "openid" not in provider["scope"].split():
        raise ValueError(f"{where}: the scope {provider['scope']!r} must include openid")
    return provider


def _app(provider: dict) -> dict:
    settings: dict = {
        # allauth adds /.well-known/openid-configuration to it.
        "server_url": provider["issuer"].rstrip("/"),
        "oauth_pkce_enabled": True,
    }
    if provider["scope"].strip():
        settings["scope"] = provider["scope"].split()
    return {
        "provider_id": provider["id"],
        "name": provider["name"],
        "client_id": provider["client_id"],
        "secret": provider["secret"],
        "settings": settings,
    }


def _label(provider_id: str) -> str:
    return provider_id.replace("-", " ").replace("_", " ").title()
