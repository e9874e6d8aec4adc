"""The webhook HTTP client: at connect time, only public addresses, in every IPv6 form; timeouts."""

from __future__ import annotations

import socket
import time

import pytest

from models.url_safety import is_public_address
from worker.clients import webhook_http

# The forms, each leading to a loopback, link-local or private address.
NON_PUBLIC_FORMS = [
    "::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::7f00:1",
    "2002:7f00:1::",
    "::ffff:0:7f00:1",
    "fec0::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]


def post(url: str, guarded: bool = True, **kwargs) -> webhook_http.Reply:
    return webhook_http.post(
        url,
        b"{}",
        {"content-type": "application/json"},
        timeout=kwargs.pop("timeout", 15),
        connect_timeout=kwargs.pop("connect_timeout", 5),
        is_public=is_public_address if guarded else None,
    )


@pytest.mark.parametrize("address", NON_PUBLIC_FORMS)
def test_every_ipv6_form_of_a_non_public_address_is_refused_before_connecting(address):
    reply = post(f"http://[{address}]:8080/hook")
    assert reply.status_code is None
    # Judged before connecting: none of these is reachable from here, so a check made
    # after connecting would have reported a network error instead.
    assert reply.error.startswith("blocked: ")
    assert address in reply.error


def test_a_mapped_address_reaches_loopback_unless_guarded(receiver):
    url = receiver.url.replace("127.0.0.1", "[::ffff:127.0.0.1]")
    assert post(url, guarded=True).error.startswith("blocked: ")
    assert receiver.received() == []
    assert post(url, guarded=False).status_code == 200  # the form really leads there
    assert len(receiver.received()) == 1


def test_a_name_is_judged_by_the_addresses_it_resolves_to_when_connecting(receiver):
    """A host that passed the check at registration (DNS rebinding) cannot reach a private one."""
    url = receiver.url.replace("127.0.0.1", "localhost")
    reply = post(url)
    assert reply.error.startswith("blocked: ")
    assert "localhost" in reply.error
    assert receiver.received() == []
    assert post(receiver.url, guarded=False).status_code == 200
    assert len(receiver.received()) == 1


def test_a_receiver_that_never_answers_costs_the_attempt_timeout_and_no_more():
    with socket.socket() as listener:  # accepts connections (the kernel does) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        started = time.monotonic()
        reply = post(url, guarded=False, timeout=1.5, connect_timeout=0.5)
        elapsed = time.monotonic() - started
    assert reply.status_code is None
    assert reply.error == "timeout: no answer within 1.5 s"
    assert elapsed >= 1.4
