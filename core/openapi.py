"""The OpenAPI schema's refusals: every operation documents the answers in the one error
shape it can give (docs/INTERFACE.md, "Errors"), so a client generated from the schema, or
a fuzzer checking answers against it, knows them."""

ERRORS = {
    "type": "object",
    "description": "The one error shape of the API.",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {
                        "type": "string",
                        "nullable": True,
                        "description": "The input at fault, a dotted path; null for none.",
                    },
                    "message": {"type": "string"},
                    "index": {
                        "type": "integer",
                        "nullable": True,
                        "description": "The events endpoint: the event's position.",
                    },
                },
            },
        }
    },
}

# Every operation needs sign-in and a permission; which others it can give depends on it.
ALWAYS = {
    "401": "No credentials, or an unknown, expired or revoked token",
    "403": "The role, or the token's scopes or system, do not allow it",
}
WITH_PATH_PARAMETERS = {"404": "No such system, incident, hold or review item"}
WITH_INPUT = {"400": "Invalid input, or the rules refuse it; nothing was written"}
WITH_BODY = {"415": "A body that is not JSON (or a form)"}

METHODS = ("get", "put", "post", "patch", "delete")


def error_responses(result, generator, request, public):
    """drf-spectacular's postprocessing hook: the Errors component, and on each operation
    the refusals it can answer, in that shape (a response it already describes keeps its
    description and gets the shape)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Errors"] = ERRORS
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}
    for operations in result.get("paths", {}).values():
        for method in METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            parameters = operation.get("parameters", [])
            refusals = dict(ALWAYS)
            if any(p.get("in") == "path" for p in parameters):
                refusals |= WITH_PATH_PARAMETERS
            if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
                refusals |= WITH_INPUT
            if "requestBody" in operation:
                refusals |= WITH_BODY
            responses = operation.setdefault("responses", {})
            for status, description in refusals.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status.startswith("4") and "content" not in response:
                    response["content"] = content
    return result
