"""pipeline.netguard: address classes, IPv4 spellings, allow-lists, the guarded resolver."""

from __future__ import annotations

import socket
from ipaddress import ip_address

import pytest

from pipeline.errors import ConfigError, FetchRefused
from pipeline.netguard import AddressPolicy, GuardedResolver, classify_ip

STRICT = AddressPolicy()


@pytest.mark.parametrize(
    ("ip", "klass"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private (unique local)"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%1", "link-local"),
        ("100.64.0.1", "CGNAT 100.64/10"),
        ("100.127.255.254", "CGNAT 100.64/10"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("::ffff:127.0.0.1", "IPv4-mapped IPv6 embedding 127.0.0.1 (loopback)"),
        ("::ffff:10.0.0.1", "IPv4-mapped IPv6 embedding 10.0.0.1 (private)"),
        ("::ffff:169.254.169.254", "IPv4-mapped IPv6 embedding 169.254.169.254 (cloud metadata"),
        ("2002:7f00:1::", "6to4 embedding 127.0.0.1 (loopback)"),
        ("2002:c0a8:101::1", "6to4 embedding 192.168.1.1 (private)"),
        ("64:ff9b::7f00:1", "NAT64 embedding 127.0.0.1 (loopback)"),
        ("64:ff9b::a00:1", "NAT64 embedding 10.0.0.1 (private)"),
        ("::127.0.0.1", "IPv4-compatible IPv6 embedding 127.0.0.1 (loopback)"),
        ("64:ff9b:1::1", "NAT64 local-use"),
        ("fec0::1", "site-local"),
        ("192.0.2.1", "special-purpose"),
        ("198.18.0.1", "special-purpose"),
        ("2001:db8::1", "special-purpose"),
    ],
)
def test_refused_classes(ip: str, klass: str) -> None:
    with pytest.raises(FetchRefused) as info:
        STRICT.check_ip(ip)
    assert klass in info.value.message
    assert info.value.code == "url_refused"
    assert not info.value.transient


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(ip: str) -> None:
    STRICT.check_ip(ip)
    assert classify_ip(ip_address(ip)) is None


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "0x7f000001",
        "127.1",
        "0177.1",
        "127.0.0.1.",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "017700000001",
    ],
)
def test_numeric_ipv4_spellings_are_loopback(host: str) -> None:
    with pytest.raises(FetchRefused, match="loopback"):
        STRICT.check_host(host)


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST.", "foo.localhost", "localhost.localdomain"]
)
def test_localhost_names_refused_by_name(host: str) -> None:
    with pytest.raises(FetchRefused, match="loopback name"):
        STRICT.check_host(host)


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.", "instance-data"])
def test_metadata_names_refused_even_with_allow_private(host: str) -> None:
    for policy in (STRICT, AddressPolicy(allow_private=True)):
        with pytest.raises(FetchRefused, match="metadata name"):
            policy.check_host(host)
    AddressPolicy(allowlist=["metadata.google.internal", "metadata", "instance-data"]) \
        .check_host(host)


def test_check_host_defers_ordinary_names_to_the_resolver() -> None:
    STRICT.check_host("example.com")
    with pytest.raises(FetchRefused, match="no host"):
        STRICT.check_host("")


def test_allowlist_by_ip_and_cidr() -> None:
    policy = AddressPolicy(allowlist=["127.0.0.1", "10.0.0.0/8", "fd00::/8", " "])
    policy.check_ip("127.0.0.1")
    policy.check_host("2130706433")  # the same address, spelled differently
    policy.check_ip("::ffff:127.0.0.1")  # mapped form of an allow-listed v4
    policy.check_ip("10.200.3.4")
    policy.check_ip("fd12::1")
    for refused in ("127.0.0.2", "192.168.0.1", "172.16.0.1"):
        with pytest.raises(FetchRefused):
            policy.check_ip(refused)


def test_allowlist_by_host_and_wildcard() -> None:
    policy = AddressPolicy(allowlist=["localhost", "*.internal.example", "Media.Example."])
    assert policy.host_allowed("localhost")
    assert policy.host_allowed("LOCALHOST.")
    assert policy.host_allowed("a.b.internal.example")
    assert not policy.host_allowed("internal.example")
    assert not policy.host_allowed("evilinternal.example")
    assert policy.host_allowed("media.example")
    assert AddressPolicy(allowlist=["BÜCHER.de"]).host_allowed("xn--bcher-kva.de")
    policy.check_host("localhost")
    with pytest.raises(FetchRefused):
        policy.check_ip("127.0.0.1")  # a host entry does not allow the address everywhere


def test_allow_private_allows_all_but_metadata() -> None:
    policy = AddressPolicy(allow_private=True)
    for ip in ("127.0.0.1", "10.0.0.1", "::1", "169.254.1.1", "100.64.0.1", "::ffff:127.0.0.1"):
        policy.check_ip(ip)
    policy.check_host("localhost")
    for ip in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"):
        with pytest.raises(FetchRefused, match="metadata"):
            policy.check_ip(ip)
    AddressPolicy(allowlist=["169.254.169.254"]).check_ip("169.254.169.254")


@pytest.mark.parametrize("entry", ["not a host", "exa$mple.com", "*.", "10.0.0.0/33"])
def test_bad_allowlist_entry_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError):
        AddressPolicy(allowlist=[entry])


def test_policy_is_frozen_and_hashable() -> None:
    policy = AddressPolicy(allowlist=["127.0.0.1"])
    assert policy == AddressPolicy(allowlist=("127.0.0.1",))
    assert hash(policy) == hash(AddressPolicy(allowlist=["127.0.0.1"]))
    with pytest.raises(AttributeError):
        policy.allow_private = True  # type: ignore[misc]


def test_check_ip_rejects_non_ip() -> None:
    with pytest.raises(FetchRefused, match="not an IP"):
        STRICT.check_ip("example.com")


# --- GuardedResolver (real system resolver: /etc/hosts, no mocks)


async def test_resolver_refuses_localhost() -> None:
    resolver = GuardedResolver(STRICT)
    try:
        with pytest.raises(FetchRefused, match=r"resolves to a refused address.*loopback"):
            await resolver.resolve("localhost", 80, family=socket.AF_UNSPEC)
    finally:
        await resolver.close()


async def test_resolver_allows_allowlisted_host() -> None:
    resolver = GuardedResolver(AddressPolicy(allowlist=["localhost"]))
    try:
        results = await resolver.resolve("localhost", 80, family=socket.AF_INET)
    finally:
        await resolver.close()
    assert {r["host"] for r in results} == {"127.0.0.1"}


async def test_resolver_allows_allowlisted_address() -> None:
    resolver = GuardedResolver(AddressPolicy(allowlist=["127.0.0.0/8"]))
    try:
        results = await resolver.resolve("localhost", 80, family=socket.AF_INET)
    finally:
        await resolver.close()
    assert results and all(r["host"].startswith("127.") for r in results)


async def test_resolver_checks_numeric_spellings() -> None:
    resolver = GuardedResolver(STRICT)
    with pytest.raises(FetchRefused, match="loopback"):
        await resolver.resolve("0x7f.0.0.1", 80)
    allowed = GuardedResolver(AddressPolicy(allowlist=["127.0.0.1"]))
    [result] = await allowed.resolve("0x7f.0.0.1", 8080)
    assert (result["host"], result["port"], result["family"]) == ("127.0.0.1", 8080, socket.AF_INET)


async def test_resolver_refuses_own_hostname_if_not_public() -> None:
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError:
        pytest.skip("this machine's hostname does not resolve")
    if all(classify_ip(ip_address(str(info[4][0]).split("%")[0])) is None for info in infos):
        pytest.skip("this machine's hostname resolves to public addresses only")
    resolver = GuardedResolver(STRICT)
    with pytest.raises(FetchRefused, match="resolves to a refused address"):
        await resolver.resolve(name, 80, family=socket.AF_UNSPEC)


async def test_resolver_passes_dns_failure_through() -> None:
    resolver = GuardedResolver(STRICT)
    with pytest.raises(OSError):
        await resolver.resolve("does-not-exist.invalid", 80)
