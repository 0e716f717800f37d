from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """Documents the personal bearer token in the OpenAPI schema."""

    target_class = "accounts.authentication.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal token (fsp_…), created on Your API tokens "
            "(/account/tokens/): it acts as its person, with that person's role; a read "
            "token makes GET requests only.",
        }
