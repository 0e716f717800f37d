"""The receiver's one refusal: a whole OTLP request answered with a status and a reason."""

from core.errors import ServiceError


class OtlpRefused(ServiceError):
    """Nothing of the request is stored; `status` is the HTTP answer (400, 401, 403, 413,
    415), the message says why, naming the span and attribute at fault when there is one."""

    def __init__(self, status: int, message: str):
        super().__init__(message, None)
        self.status = status
