"""SSRF guard: which addresses outbound fetches may connect to.

:class:`AddressPolicy` decides for one IP or host; :class:`GuardedResolver`
plugs it into aiohttp's connector so the check runs on the very addresses the
connection then uses (no second lookup, hence no DNS-rebinding window).
Literal-IP hosts never reach a resolver, so callers check them with
:meth:`AddressPolicy.check_host` before each request and redirect hop.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from pipeline.errors import ConfigError, FetchRefused, InvalidURL
from pipeline.urls import IPAddress, normalize_host, parse_ip_literal

if TYPE_CHECKING:
    from pipeline.settings import Settings

Network = IPv4Network | IPv6Network

# Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS ECS, Alibaba, AWS IPv6).
METADATA_ADDRESSES = frozenset(
    {
        IPv4Address("169.254.169.254"),
        IPv4Address("169.254.170.2"),
        IPv4Address("100.100.100.200"),
        IPv6Address("fd00:ec2::254"),
    }
)

# First match wins; embedded-IPv4 forms are handled before these (see _classify_v6).
_V4_CLASSES: tuple[tuple[str, IPv4Network], ...] = tuple(
    (name, IPv4Network(net))
    for name, net in (
        ("unspecified", "0.0.0.0/8"),
        ("loopback", "127.0.0.0/8"),
        ("link-local", "169.254.0.0/16"),
        ("private", "10.0.0.0/8"),
        ("private", "172.16.0.0/12"),
        ("private", "192.168.0.0/16"),
        ("CGNAT 100.64/10", "100.64.0.0/10"),
        ("multicast", "224.0.0.0/4"),
        ("broadcast", "255.255.255.255/32"),
        ("reserved", "240.0.0.0/4"),
    )
)
_V6_CLASSES: tuple[tuple[str, IPv6Network], ...] = tuple(
    (name, IPv6Network(net))
    for name, net in (
        ("unspecified", "::/128"),
        ("loopback", "::1/128"),
        ("NAT64 local-use", "64:ff9b:1::/48"),
        ("link-local", "fe80::/10"),
        ("site-local", "fec0::/10"),
        ("private (unique local)", "fc00::/7"),
        ("multicast", "ff00::/8"),
        ("reserved", "::/8"),
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = IPv6Network("::/96")
_LOCALHOST_NAMES = ("localhost", "localhost.localdomain")
# Cloud metadata services by name (they resolve to metadata addresses only inside the
# cloud, where the address check catches them too); refused even with allow_private.
_METADATA_NAMES = ("metadata.google.internal", "metadata.goog", "metadata",
                   "instance-data", "instance-data.ec2.internal")


def _embedded_v4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address an IPv6 transition form carries, with the form's name."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped IPv6", ip.ipv4_mapped
    if ip in _NAT64:
        return "NAT64", IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in _V4_COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible IPv6", IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify_ip(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination (e.g. ``"loopback"``), or None if it is."""
    if ip in METADATA_ADDRESSES:
        return f"cloud metadata {ip}"
    if isinstance(ip, IPv6Address):
        if ip.scope_id:
            ip = IPv6Address(ip.compressed.split("%", 1)[0])
        embedded = _embedded_v4(ip)
        if embedded is not None:
            form, v4 = embedded
            inner = classify_ip(v4)
            return f"{form} embedding {v4} ({inner})" if inner else None
        classes: Sequence[tuple[str, Network]] = _V6_CLASSES
    else:
        classes = _V4_CLASSES
    for name, net in classes:
        if ip in net:
            return name
    return None if ip.is_global else "special-purpose (not globally routable)"


def _parse_allowlist(entries: Sequence[str]) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    networks: list[Network] = []
    hosts: list[str] = []
    for raw in entries:
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        ip = parse_ip_literal(entry)
        if ip is not None:
            networks.append(ip_network(ip))
            continue
        try:
            networks.append(ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        wildcard = entry.startswith("*.")
        try:
            name = normalize_host(entry.removeprefix("*."))
        except InvalidURL:
            raise ConfigError(f"URL allow-list entry {raw!r} is not a host, IP or CIDR") from None
        hosts.append(f"*.{name}" if wildcard else name)
    return tuple(networks), tuple(hosts)


@dataclass(frozen=True)
class AddressPolicy:
    """Which destinations outbound fetches may reach.

    ``allow_private`` permits every non-public class except cloud metadata
    addresses (those need an explicit allow-list entry). ``allowlist`` holds
    hostnames (``*.example.com`` for subdomains), IPs and CIDRs that are exempt.
    """

    allow_private: bool = False
    allowlist: Sequence[str] = ()
    _networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)
    _hosts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A tuple keeps the frozen policy hashable; parsing once keeps checks cheap.
        object.__setattr__(self, "allowlist", tuple(self.allowlist))
        networks, hosts = _parse_allowlist(self.allowlist)
        object.__setattr__(self, "_networks", networks)
        object.__setattr__(self, "_hosts", hosts)

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        """The policy from ``PIPELINE_ALLOW_PRIVATE_URLS`` and ``PIPELINE_URL_ALLOWLIST``."""
        return cls(allow_private=settings.allow_private_urls, allowlist=settings.url_allowlist)

    def host_allowed(self, host: str) -> bool:
        """True when the hostname is on the allow-list (exactly or by ``*.`` suffix)."""
        try:
            name = normalize_host(host)
        except InvalidURL:
            return False
        return any(
            name == entry or (entry.startswith("*.") and name.endswith(entry[1:]))
            for entry in self._hosts
        )

    def ip_allowed(self, ip: IPAddress) -> bool:
        """True when the address (or the IPv4 it embeds) is in an allow-listed network."""
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, IPv6Address):
            embedded = _embedded_v4(ip)
            if embedded is not None:
                candidates.append(embedded[1])
        return any(
            c in net for c in candidates for net in self._networks if c.version == net.version
        )

    def check_ip(self, ip: str | IPAddress) -> None:
        """Raise FetchRefused unless a connection to ``ip`` is allowed."""
        addr = parse_ip_literal(ip) if isinstance(ip, str) else ip
        if addr is None:
            raise FetchRefused(f"{ip!r} is not an IP address")
        reason = classify_ip(addr)
        if reason is None or self.ip_allowed(addr):
            return
        if self.allow_private and "cloud metadata" not in reason:
            return
        raise FetchRefused(f"address {addr} is {reason}; refused (allow-list it to fetch)")

    def check_host(self, host: str) -> None:
        """Check a URL host before connecting.

        IP literals (any IPv4 spelling) are checked now; allow-listed names
        pass; ``localhost`` and cloud metadata names are refused by name; other
        names are checked after resolution by :class:`GuardedResolver`.
        """
        if not host:
            raise FetchRefused("URL has no host")
        ip = parse_ip_literal(host)
        if ip is not None:
            self.check_ip(ip)
            return
        name = host.lower().rstrip(".")
        if self.host_allowed(name):
            return
        if name in _METADATA_NAMES:
            raise FetchRefused(f"host {name!r} is a cloud metadata name; refused")
        if self.allow_private:
            return
        if name in _LOCALHOST_NAMES or name.endswith(".localhost"):
            raise FetchRefused(f"host {name!r} is a loopback name; refused")


class GuardedResolver(AbstractResolver):
    """A resolver that refuses the whole answer if ANY address is refused.

    The connector connects only to the addresses returned here, so what was
    checked is what is used.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` via the inner resolver, then check every address."""
        literal = parse_ip_literal(host)
        if literal is not None:
            # Odd IPv4 spellings (0x7f.1) reach us as "names"; answer with the checked address.
            self.policy.check_ip(literal)
            fam = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
            return [
                ResolveResult(
                    hostname=host,
                    host=str(literal),
                    port=port,
                    family=fam,
                    proto=0,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            ]
        if self._inner is None:
            # Created lazily: ThreadedResolver needs the running loop.
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        if not self.policy.host_allowed(host):
            for result in results:
                try:
                    self.policy.check_ip(result["host"])
                except FetchRefused as exc:
                    raise FetchRefused(
                        f"host {host!r} resolves to a refused address: {exc.message}"
                    ) from None
        return results

    async def close(self) -> None:
        """Close the inner resolver."""
        if self._inner is not None:
            await self._inner.close()
