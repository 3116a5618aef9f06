"""Token faults: the token expires during a session and the server ends the session."""

from __future__ import annotations

import pytest

from tests.faults import tokens
from tests.faults.rig import FaultRig
from tests.faults.scenarios import assert_sane

TTL = 10


@pytest.mark.timeout(120)
def test_a_session_ended_at_token_expiry_is_connected_again_with_a_renewed_token(
    rig: FaultRig,
) -> None:
    result, requests = tokens.token_expiry(rig, ttl=TTL)

    # The session lived until its token expired (the lab ended it then) ...
    assert result.detect_s is not None, result
    assert TTL - 3 <= result.detect_s <= TTL + 2, result
    # ... and the device was CONNECTED again within 6 s, by itself.
    assert result.recover_s is not None, result
    assert result.recover_s <= 6.0, result
    assert_sane(result)
    fetched = [r for r in requests if r["path"] == "/v1/oauth/token"]
    # The first token, then its renewal at 80 % of its life, before the session ended.
    assert len([r for r in fetched if r["at"] < 0]) >= 2, requests
    # The reconnect used the renewed token: it asked the token endpoint nothing, and no
    # request was refused (no 401 for an expired token, ever). The one DELETE of the session
    # the lab had already ended (the device asks why it ended) finds it gone.
    assert not [r for r in fetched if 0 <= r["at"] <= result.recover_s], requests
    refused = [(r["method"], r["path"], r["status"]) for r in requests if r["status"] in (401, 403)]
    assert refused == [], requests
    assert all(
        r["status"] < 300 or (r["method"] == "DELETE" and r["status"] in (404, 410))
        for r in requests
    ), requests
    assert "401" not in result.messages[0], result
    assert "expired" not in result.messages[0], result
