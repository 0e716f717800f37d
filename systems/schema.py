from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SystemTokenScheme(OpenApiAuthenticationExtension):
    """Documents the per-system bearer token in the OpenAPI schema."""

    target_class = "systems.authentication.SystemTokenAuthentication"
    name = "systemToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A per-system token (fsk_…), issued on the system's page or with "
            "`manage.py create_token <slug>`.",
        }
