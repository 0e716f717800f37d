"""An OpenFeature provider that answers a system's mode as a string flag.

    from openfeature import api
    from failsafe_client.openfeature import FailsafeProvider

    api.set_provider(FailsafeProvider(failsafe))
    mode = api.get_client().get_string_value("refund-classifier", "ai")

The flag key is the system's slug. Each evaluation reads the client's local cache, like
`Failsafe.mode()`: no HTTP call. A mode change is announced as PROVIDER_CONFIGURATION_CHANGED
with the slug in `flags_changed`. Needs the `openfeature` extra: `pip install
failsafe-client[openfeature]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from failsafe_client.client import Failsafe, Mode

if TYPE_CHECKING:
    from openfeature.flag_evaluation import FlagValueType

T = TypeVar("T")


class FailsafeProvider(AbstractProvider):
    def __init__(self, client: Failsafe) -> None:
        super().__init__()
        self.client = client
        self._listening = False

    def get_metadata(self) -> Metadata:
        return Metadata(name="Failsafe")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if not self._listening:
            self.client.on_change(self._changed)
            self._listening = True

    def _changed(self, slug: str, mode: Mode, revision: int) -> None:
        self.emit_provider_configuration_changed(
            ProviderEventDetails(flags_changed=[slug], message=f"{slug} is now {mode}")
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        mode = self.client.mode(flag_key)
        revision = self.client.revision(flag_key)
        if revision is None:
            # Never heard from the server, nor saved on disk: the caller's default is the
            # declared one at this call site.
            return FlagResolutionDetails(value=default_value, reason=Reason.DEFAULT)
        return FlagResolutionDetails(
            value=mode, reason=Reason.CACHED, variant=mode, flag_metadata={"revision": revision}
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return _mismatch(flag_key, default_value)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return _mismatch(flag_key, default_value)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return _mismatch(flag_key, default_value)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return _mismatch(flag_key, default_value)


def _mismatch(flag_key: str, default_value: T) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value=default_value,
        reason=Reason.ERROR,
        error_code=ErrorCode.TYPE_MISMATCH,
        error_message=f"{flag_key} is a system's mode: a string flag",
    )
