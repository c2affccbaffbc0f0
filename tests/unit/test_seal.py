"""The seal on a state tag: only the value asgpatch wrote, on the group it wrote it on, with its key."""

from hypothesis import given
from hypothesis import strategies as st

from asgpatch.seal import SEAL_TAG, new_key, seal, verified
from asgpatch.state import REASON_TAG, STATE_TAG

KEY = b"\x01" * 32
VALUE = "3|r-20261209T040000Z-1a2b|restoring|0,2,0||BIRSZ|1||i-0123456789abcdef0||||||||||"


def tags(group: str, value: str = VALUE, reason: str = "launched a replacement") -> dict[str, str]:
    return {STATE_TAG: value, REASON_TAG: reason, SEAL_TAG: seal(KEY, group, value, reason)}


def test_a_genuine_tag_verifies_on_its_own_group_only():
    assert verified(KEY, "web", tags("web"))
    assert not verified(KEY, "web-copy", tags("web"))


def test_any_change_to_the_state_the_reason_or_the_key_breaks_the_seal():
    edited = {**tags("web"), STATE_TAG: VALUE.replace("0,2,0", "0,0,0")}
    reason_edited = {**tags("web"), REASON_TAG: "something else"}
    assert not verified(KEY, "web", edited)
    assert not verified(KEY, "web", reason_edited)
    assert not verified(b"\x02" * 32, "web", tags("web"))
    assert not verified(None, "web", tags("web"))


def test_a_tag_without_a_seal_or_state_does_not_verify():
    assert not verified(KEY, "web", {STATE_TAG: VALUE})
    assert not verified(KEY, "web", {SEAL_TAG: tags("web")[SEAL_TAG]})


def test_new_keys_are_random_and_base64():
    import base64

    first, second = new_key(), new_key()
    assert first != second and len(base64.b64decode(first)) == 32


@given(st.text(min_size=1, max_size=255), st.text(max_size=256), st.text(max_size=256))
def test_the_seal_fits_a_tag_value_and_verifies_whatever_the_group_and_value(group, value, reason):
    written = {STATE_TAG: value, REASON_TAG: reason, SEAL_TAG: seal(KEY, group, value, reason)}
    assert len(written[SEAL_TAG]) <= 256 and verified(KEY, group, written)
    assert not verified(KEY, group + "x", written)
