"""The origin policy's decisions, without a network: which origin a bearer may go to, and
which URLs an access answer or a WHIP answer may send the device to."""

from __future__ import annotations

import json

import pytest

from alo_edge.errors import SignallingError
from alo_edge.transport.access import check_answer_url, parse_access_answer
from alo_edge.transport.origin import OriginPolicy, OriginRefused, target_allowed

ACCESS = "https://alo.example.net/v1/video/access"
DEVICE_TOKEN = "device-token"


def test_a_bearer_goes_only_to_the_origins_it_was_issued_for() -> None:
    policy = OriginPolicy()
    policy.issue("media-1", "https://sfu-1.example.net/whip/front", what="test")
    assert policy.may_carry("media-1", "https://sfu-1.example.net:443/whip/front/resource/7")
    assert not policy.may_carry("media-1", "https://sfu-2.example.net/whip/front")
    assert not policy.may_carry("media-1", "http://sfu-1.example.net/whip/front")
    assert not policy.may_carry("never-issued", "https://sfu-1.example.net/whip/front")
    # The access service may send the same media token to another server tomorrow.
    policy.issue("media-1", "wss://sfu-2.example.net/janus", what="test")
    assert policy.may_carry("media-1", "https://sfu-2.example.net/janus")


def test_a_url_without_an_origin_gets_no_token() -> None:
    with pytest.raises(OriginRefused, match="has no origin"):
        OriginPolicy().issue("t", "/whip/front", what="test")


def test_plain_text_is_refused_beyond_loopback_unless_allowed() -> None:
    with pytest.raises(OriginRefused, match=r"network\.allow_insecure"):
        OriginPolicy().check_url("http://192.168.1.20:8080/whip", what="test")
    OriginPolicy().check_url("http://127.0.0.1:8080/whip", what="test")
    OriginPolicy(allow_insecure=True).check_url("http://192.168.1.20:8080/whip", what="test")


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("https://whip.example.net/whip/front/resource/1", True),
        ("https://whip.example.net:443/events", True),
        ("https://other.example.net/whip/front/resource/1", False),
        ("http://whip.example.net/whip/front/resource/1", False),  # a downgrade
        ("https://whip.example.net:8443/resource/1", False),
        ("https://u:p@whip.example.net/resource/1", False),  # credentials of its own
    ],
)
def test_a_location_or_link_is_used_only_on_the_endpoints_origin(
    target: str, allowed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = "https://whip.example.net/whip/front"
    assert target_allowed(target, endpoint, what="WHIP Location") is allowed
    assert ("not used" in caplog.text) is not allowed


# --- the access answer's url ---------------------------------------------------------------


def answer(**fields: object) -> bytes:
    body = {"transport": "whip", "url": "https://whip.example.net/whip/front", **fields}
    return json.dumps(body).encode()


def checked(payload: bytes, access_url: str = ACCESS, **policy: bool) -> None:
    access = parse_access_answer(payload, default_token=DEVICE_TOKEN)
    check_answer_url(access, access_url, OriginPolicy(**policy), device_token=DEVICE_TOKEN)


def test_the_answers_media_token_goes_to_the_answers_url() -> None:
    checked(answer(token="media"))  # another origin, its own token: fine


def test_the_device_token_never_follows_the_answer_to_another_origin() -> None:
    with pytest.raises(SignallingError, match="names no 'token': the device token goes only to"):
        checked(answer())
    with pytest.raises(SignallingError, match="the device token goes only to"):
        checked(answer(token=DEVICE_TOKEN))  # the same, spelled out
    # On the access endpoint's own origin the device token may serve as the media token.
    checked(answer(url="https://alo.example.net/whip/front"))


def test_an_answer_may_not_step_down_from_tls() -> None:
    with pytest.raises(SignallingError, match="refusing the downgrade"):
        checked(answer(url="http://whip.example.net/whip/front", token="media"))
    with pytest.raises(SignallingError, match="refusing the downgrade"):
        checked(
            json.dumps({"transport": "janus", "url": "ws://127.0.0.1:8188", "token": "m"}).encode()
        )


def test_an_answer_may_not_send_the_device_in_the_clear_beyond_loopback() -> None:
    local_access = "http://127.0.0.1:8080/v1/video/access"
    plain = answer(url="http://192.168.1.20:8080/whip/front", token="media")
    with pytest.raises(SignallingError, match=r"plain http:// to 192\.168\.1\.20"):
        checked(plain, local_access)
    checked(plain, local_access, allow_insecure=True)


def test_an_answer_url_with_credentials_is_refused_without_showing_them() -> None:
    with pytest.raises(SignallingError) as caught:
        checked(answer(url="https://door:pa55@whip.example.net/whip/front", token="media"))
    assert "carries a user name or password" in str(caught.value)
    assert "pa55" not in str(caught.value)


@pytest.mark.parametrize(
    "payload",
    [b"[" * 50_000, b'{"a":' * 20_000],
    ids=["array", "object"],
)
def test_json_nested_too_deeply_is_a_signalling_error(payload: bytes) -> None:
    # json.loads raises RecursionError (not ValueError): on 73a265e it escaped as an
    # "unexpected error" with a traceback in the journal.
    with pytest.raises(SignallingError, match="nested too deeply"):
        parse_access_answer(payload, default_token=DEVICE_TOKEN)
