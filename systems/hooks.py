"""Questions a lower layer asks about a system that only a higher layer can answer. The
higher layer registers the answer in its AppConfig.ready(); asking before that is a
configuration error, never a silent default."""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured


class Question:
    def __init__(self, name: str):
        self.name = name
        self._answer: Callable[..., bool] | None = None

    def answer_with(self, answer: Callable[..., bool]) -> None:
        self._answer = answer

    def __call__(self, system) -> bool:
        if self._answer is None:
            raise ImproperlyConfigured(f"Nothing answers {self.name}: is incidents installed?")
        return self._answer(system)


# Asked by rollbacks (breaking the glass needs one); answered by incidents.
has_open_incident = Question("has_open_incident")
