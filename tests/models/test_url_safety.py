"""The SSRF judgement: an IPv4 address inside any IPv6 form is judged as that IPv4 address."""

from __future__ import annotations

import pytest

from models.url_safety import is_public_address

# Teredo: 2001:0:<server>:<flags>:<port>:<client XOR ffffffff>.
TEREDO_PUBLIC = "2001:0:4136:e378:8000:63bf:f7f7:f7f7"  # server 65.54.227.120, client 8.8.8.8
TEREDO_PRIVATE_CLIENT = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # client 127.0.0.1
TEREDO_PRIVATE_SERVER = "2001:0:a00:1:8000:63bf:f7f7:f7f7"  # server 10.0.0.1


@pytest.mark.parametrize(
    "address",
    [
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT) of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64: refused whatever it carries
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        TEREDO_PRIVATE_CLIENT,
        TEREDO_PRIVATE_SERVER,
        "fec0::1",  # site-local
        "fc00::1",  # unique local
        "fe80::1%1",  # link-local, with a zone
        "ff02::1",  # multicast
        "100::1",  # discard
        "2001:db8::1",  # documentation
        "::",
        "::1",
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104 - an address judged, not bound
    ],
)
def test_non_public_addresses_are_refused_in_every_form(address):
    assert is_public_address(address) is False


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "::8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "2002:808:808::1",  # 6to4 of 8.8.8.8
        TEREDO_PUBLIC,
    ],
)
def test_a_form_that_leads_to_a_public_ipv4_address_is_public(address):
    assert is_public_address(address) is True
