"""Identity providers from the environment: OIDC_PROVIDERS and OIDC_<NAME>_* (pure)."""

import json
import re

import pytest

from accounts.oidc_config import form_action_origins, oidc_apps

OKTA = {
    "OIDC_OKTA_ISSUER": "https://acme.okta.com/oauth2/default",
    "OIDC_OKTA_CLIENT_ID": "0oa1",
    "OIDC_OKTA_SECRET": "s1",
}


def test_nothing_set_means_no_provider():
    assert oidc_apps("", {"HOME": "/root"}) == []


def test_a_provider_from_its_own_variables_becomes_an_allauth_app():
    [app] = oidc_apps("", OKTA)
    assert app == {
        "provider_id": "okta",
        "name": "Okta",
        "client_id": "0oa1",
        "secret": "s1",
        "settings": {
            "server_url": "https://acme.okta.com/oauth2/default",
            "oauth_pkce_enabled": True,
        },
    }


def test_the_name_variable_labels_the_button_and_underscores_become_dashes_in_the_id():
    environ = {
        "OIDC_ENTRA_ID_ISSUER": "https://login.microsoftonline.com/tenant-1/v2.0",
        "OIDC_ENTRA_ID_CLIENT_ID": "app-1",
        "OIDC_ENTRA_ID_SECRET": "s2",
        "OIDC_ENTRA_ID_NAME": "Microsoft",
    }
    [app] = oidc_apps("", environ)
    assert (app["provider_id"], app["name"]) == ("entra-id", "Microsoft")


def test_providers_from_json_and_from_variables_add_up():
    keycloak = {
        "id": "keycloak",
        "name": "Company SSO",
        "issuer": "https://sso.example.com/realms/ops/",
        "client_id": "failsafe",
        "secret": "s3",
    }
    apps = oidc_apps(json.dumps([keycloak]), OKTA)
    assert [(a["provider_id"], a["name"]) for a in apps] == [
        ("keycloak", "Company SSO"),
        ("okta", "Okta"),
    ]
    # allauth appends /.well-known/openid-configuration itself.
    assert apps[0]["settings"]["server_url"] == "https://sso.example.com/realms/ops"


def test_a_json_provider_without_a_name_is_labelled_after_its_id():
    entry = {"id": "acme-sso", "issuer": "https://a.example", "client_id": "c", "secret": "s"}
    assert oidc_apps(json.dumps([entry]), {})[0]["name"] == "Acme Sso"


@pytest.mark.parametrize(
    ("providers_json", "environ", "message"),
    [
        ("{not json", {}, "OIDC_PROVIDERS is not valid JSON"),
        ('{"id": "a"}', {}, "must be a JSON list"),
        ('[{"id": "a", "issuer": "https://a"}]', {}, "OIDC_PROVIDERS[0] needs client_id, secret"),
        (
            '[{"id": "A b", "issuer": "https://a", "client_id": "c", "secret": "s"}]',
            {},
            "may hold only lower-case letters",
        ),
        ("", {**OKTA, "OIDC_OKTA_SECRET": ""}, "OIDC_OKTA_SECRET is not"),
        ("", {**OKTA, "OIDC_OKTA_ISSUER": "acme.okta.com"}, "is not an http(s) URL"),
        ("", {**OKTA, "OIDC_OKTA_ISSUER": "http://acme.okta.com"}, "must use https"),
        (
            '[{"id": "okta", "issuer": "https://a", "client_id": "c", "secret": "s"}]',
            OKTA,
            "'okta' is configured twice",
        ),
    ],
)
def test_a_mistake_stops_the_start_naming_what_is_wrong(providers_json, environ, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        oidc_apps(providers_json, environ)


def test_a_scope_of_its_own_replaces_allauths_for_that_provider():
    [okta] = oidc_apps("", {**OKTA, "OIDC_OKTA_SCOPE": "openid profile email groups"})
    assert okta["settings"]["scope"] == ["openid", "profile", "email", "groups"]
    entry = {"id": "k", "issuer": "https://k.example", "client_id": "c", "secret": "s"}
    [keycloak] = oidc_apps(json.dumps([entry]), {})
    assert "scope" not in keycloak["settings"]


def test_a_scope_without_openid_is_refused():
    with pytest.raises(ValueError, match="must include openid"):
        oidc_apps("", {**OKTA, "OIDC_OKTA_SCOPE": "profile groups"})


def test_plain_http_is_accepted_on_this_machine_only():
    environ = {**OKTA, "OIDC_OKTA_ISSUER": "http://127.0.0.1:8080/realms/dev"}
    assert oidc_apps("", environ)[0]["settings"]["server_url"].startswith("http://127.0.0.1")


def test_the_form_may_go_on_to_each_providers_origin_once():
    environ = {
        **OKTA,
        "OIDC_OKTA2_ISSUER": "https://acme.okta.com/oauth2/other",
        "OIDC_OKTA2_CLIENT_ID": "c",
        "OIDC_OKTA2_SECRET": "s",
    }
    assert form_action_origins(oidc_apps("", environ)) == ["https://acme.okta.com"]
