"""The secret asgpatch seals its state tags with: an SSM SecureString parameter (default
/asgpatch/state-key), read once per process and created on first use by a run that writes."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from asgpatch.aws.permissions import Scope, grant, needs
from asgpatch.cloud import CloudError
from asgpatch.seal import new_key

DEFAULT_PARAMETER = "/asgpatch/state-key"


@dataclass
class StateKey:
    parameter: str = DEFAULT_PARAMETER
    _key: bytes | None = field(default=None, repr=False)
    _absent: bool = field(default=False, repr=False)  # read once and not there: no reread per group

    def get(self, api: Any, create: bool) -> bytes | None:
        """The key; None when it does not exist yet and `create` is False (a plan changes nothing)."""
        if self._key is None and not (self._absent and not create):
            self._key = (None if self._absent else self._read(api)) or (self._create(api) if create else None)
            self._absent = self._key is None
        return self._key

    @needs(grant(Scope.STATE_KEY_PARAMETER, "ssm:GetParameter"))
    def _read(self, api: Any) -> bytes | None:
        try:
            answer = api.call(api.ssm.get_parameter, Name=self.parameter, WithDecryption=True)
        except CloudError as error:
            if error.code == "ParameterNotFound":
                return None
            raise
        try:
            return base64.b64decode(str(answer["Parameter"]["Value"]), validate=True)
        except (binascii.Error, ValueError):
            raise CloudError(
                "InvalidStateKey", f"{self.parameter} does not hold a base64 key", "GetParameter"
            ) from None

    @needs(grant(Scope.STATE_KEY_PARAMETER, "ssm:PutParameter"))
    def _create(self, api: Any) -> bytes | None:
        try:
            api.call(
                api.ssm.put_parameter,
                Name=self.parameter,
                Value=new_key(),
                Type="SecureString",
                Overwrite=False,
                Description="asgpatch: the key its asgpatch:state tags are sealed with; readable by asgpatch only",
            )
        except CloudError as error:
            if error.code != "ParameterAlreadyExists":  # another run created it first: use theirs
                raise
        return self._read(api)
