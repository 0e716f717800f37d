"""The one error type every service raises: a message a person can act on, and the field
of the input at fault. `core.api.exception_handler` turns it into the API's error shape and
`core.forms.add_service_error` into a form's errors; nothing else converts it."""


class ServiceError(ValueError):
    """A change the rules refuse. `status` is the HTTP status an API answers it with."""

    status = 400

    def __init__(self, message: str, field: str | None = "non_field_errors"):
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def api_field(self) -> str | None:
        return None if self.field in (None, "non_field_errors") else self.field
