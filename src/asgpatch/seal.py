"""A state tag is a claim, not a command: asgpatch obeys one only when it can tell that it wrote it, on
that group.

Tag write permission is often granted broadly (cost allocation), and a state tag tells asgpatch what
to restore a group to — capacity, processes — with asgpatch's own permissions. So every state asgpatch
writes carries a seal, `asgpatch:seal`: a MAC over the group's name, the state and its reason, keyed
by a secret only asgpatch's principal can read (an SSM SecureString parameter, created on first use).
A genuine tag copied to another group, edited, or written by hand does not verify; asgpatch reports
it and leaves the group alone — unless an operator names the group in `asgpatch recover --asg`.
Pure: HMAC-SHA256 from the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from asgpatch.state import REASON_TAG, STATE_TAG

SEAL_TAG = "asgpatch:seal"
SCHEME = "1"  # how the seal is made: HMAC-SHA256 over group, state and reason, 16 bytes, base64url
KEY_BYTES = 32


def new_key() -> str:
    """A fresh secret, as it is stored (base64)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def seal(key: bytes, group: str, state: str, reason: str) -> str:
    digest = hmac.new(key, "\n".join((group, state, reason)).encode(), hashlib.sha256).digest()[:16]
    return f"{SCHEME}:{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def verified(key: bytes | None, group: str, tags: Mapping[str, str]) -> bool:
    """Whether the group's state tag is one asgpatch wrote on this group, as it wrote it."""
    state, given = tags.get(STATE_TAG), tags.get(SEAL_TAG)
    if key is None or state is None or given is None:
        return False
    return hmac.compare_digest(given, seal(key, group, state, tags.get(REASON_TAG, "")))
