"""Which hosts a gateway must not let a tool reach: address ranges and host names.

A host is judged the way the weakest URL parser downstream would read it: ``0x7f000001``,
``017700000001``, ``127.1`` and ``2130706433`` are all 127.0.0.1 to ``inet_aton``, so they are
parsed here the same way rather than rejected as "not an IP".
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints: AWS/GCP/Azure/OpenStack, ECS task roles, Alibaba, Oracle,
# Azure WireServer, AWS IMDS over IPv6. Checked before the ranges: the most dangerous targets.
_METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "169.254.169.123",
        "100.100.100.200",
        "192.0.0.192",
        "168.63.129.16",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
# Documentation ranges (TEST-NET, 2001:db8::/32) are deliberately absent: they stand in for public
# hosts in examples, and nothing routable lives there.
_FORBIDDEN_NETWORKS: Final = tuple(
    (ipaddress.ip_network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private_address"),
        ("172.16.0.0/12", "private_address"),
        ("192.168.0.0/16", "private_address"),
        ("100.64.0.0/10", "private_address"),  # carrier-grade NAT, also used inside clouds
        ("192.0.0.0/24", "private_address"),
        ("198.18.0.0/15", "private_address"),
        ("169.254.0.0/16", "link_local"),
        ("224.0.0.0/4", "reserved_address"),  # multicast
        ("240.0.0.0/4", "reserved_address"),  # reserved and 255.255.255.255 broadcast
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "private_address"),  # unique local addresses
        ("fec0::/10", "private_address"),  # deprecated site-local, still routed by some stacks
        ("fe80::/10", "link_local"),
        ("ff00::/8", "reserved_address"),
    )
)
# The same as integer ranges per IP version: comparing ints is ~10x cheaper than ``address in net``.
_FORBIDDEN_RANGES: Final = {
    version: tuple(
        (int(net.network_address), int(net.broadcast_address), kind)
        for net, kind in _FORBIDDEN_NETWORKS
        if net.version == version
    )
    for version in (4, 6)
}
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")

# Names that always mean "this machine" or "the metadata service".
_LOOPBACK_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localhost6", "loopback"}
)
_METADATA_NAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "metadata.azure.com",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
_METADATA_LABELS: Final = ("metadata.", "instance-data.")
# Public DNS names that resolve to loopback by design (or to whatever IP the name embeds), and
# DNS-rebinding services whose answers flip between a public and a private address.
_LOOPBACK_SERVICES: Final = ("localtest.me", "lvh.me", "vcap.me", "lacolhost.com", "localh.st")
_WILDCARD_SERVICES: Final = ("nip.io", "sslip.io", "xip.io", "nip.direct", "traefik.me", "local.gd")
_REBINDING_SERVICES: Final = ("rbndr.us", "1u.ms", "rebind.it", "rebind.network", "rebinder.net")
# Suffixes only resolvable inside an organisation (mDNS, Kubernetes, corporate split DNS).
_INTERNAL_SUFFIXES: Final = (
    "local",
    "internal",
    "localdomain",
    "lan",
    "intranet",
    "intra",
    "corp",
    "home",
    "home.arpa",
    "private",
    "svc",
    "consul",
)
_DOTTED_SUFFIXES: Final[dict[tuple[str, ...], tuple[str, ...]]] = {
    suffixes: tuple("." + suffix for suffix in suffixes)
    for suffixes in (_LOOPBACK_SERVICES, _WILDCARD_SERVICES, _REBINDING_SERVICES, _INTERNAL_SUFFIXES)
}
_DIGIT = re.compile(r"\d")
_NUMERIC_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]+|[1-9][0-9]*|0")
_DASHED_IPV4 = re.compile(r"(?:^|-)(\d{1,3}(?:-\d{1,3}){3})(?:-|$)")
_HEX_IPV4 = re.compile(r"[0-9a-f]{8}")
_MAX_PART: Final = 256


def _loose_part_value(part: str) -> int | None:
    """A part in a spelling only ``inet_aton`` accepts: hex ``0x7f`` or octal ``0177``."""
    if not _NUMERIC_PART.fullmatch(part):
        return None
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part[0] == "0":
        return int(part, 8)
    return int(part)


def parse_ipv4_loose(host: str) -> tuple[ipaddress.IPv4Address, bool] | None:
    """Parse ``host`` like ``inet_aton`` (1-4 parts, decimal/octal/hex, last part fills the rest).

    Returns the address and whether it was written canonically (four plain decimal parts).
    """
    if not host or not host[-1].isalnum() or not host.rpartition(".")[2][:1].isdigit():
        return None  # like WHATWG: only a numeric last label makes a host an IPv4 literal
    parts = host.split(".")
    if len(parts) > 4:
        return None
    canonical = len(parts) == 4
    total = 0
    for index, part in enumerate(parts):
        if part.isascii() and part.isdigit() and (part[0] != "0" or part == "0"):
            value: int | None = int(part)  # plain decimal, the common case: no pattern needed
        else:
            value = _loose_part_value(part)
            canonical = False
        if value is None:
            return None
        if index < len(parts) - 1:
            if value >= _MAX_PART:
                return None
            total = total * _MAX_PART + value
        elif value >= _MAX_PART ** (5 - len(parts)):
            return None
    total = total * _MAX_PART ** (5 - len(parts)) + value
    return ipaddress.IPv4Address(total), canonical


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one smuggles: mapped, compatible, NAT64 or 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = int(address)
    if address in _NAT64 or (packed >> 32 == 0 and packed > 1):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def address_kind(address: IPAddress) -> str | None:
    """The forbidden category of ``address`` ("metadata_host", "loopback", ...) or None if public."""
    if address in _METADATA_ADDRESSES:
        return "metadata_host"
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_kind(embedded)
    value = int(address)
    for first, last, kind in _FORBIDDEN_RANGES[address.version]:
        if first <= value <= last:
            return kind
    return None


def _dotted_ipv4_inside(labels: list[str]) -> ipaddress.IPv4Address | None:
    for index in range(len(labels) - 3):
        window = labels[index : index + 4]
        if all(label.isdigit() and len(label) <= 3 for label in window):
            parsed = parse_ipv4_loose(".".join(window))
            if parsed is not None:
                return parsed[0]
    return None


def _embedded_ip_kind(name: str, hex_allowed: bool) -> str | None:
    """The forbidden category of an IP literal written inside a DNS name, if any."""
    labels = name.split(".")
    candidates: list[ipaddress.IPv4Address] = []
    dotted = _dotted_ipv4_inside(labels)
    if dotted is not None:
        candidates.append(dotted)
    for label in labels:
        dashed = _DASHED_IPV4.search(label)
        if dashed is not None:
            parsed = parse_ipv4_loose(dashed.group(1).replace("-", "."))
            if parsed is not None:
                candidates.append(parsed[0])
        if hex_allowed and _HEX_IPV4.fullmatch(label):
            candidates.append(ipaddress.IPv4Address(int(label, 16)))
    kinds = [address_kind(candidate) for candidate in candidates]
    return next((kind for kind in kinds if kind is not None), None)


def _has_suffix(name: str, suffixes: tuple[str, ...]) -> bool:
    return name in suffixes or name.endswith(_DOTTED_SUFFIXES[suffixes])


def name_kind(name: str) -> str | None:
    """The forbidden category of a DNS name (lower-case, no trailing dot), or None if it is an
    ordinary public name that only DNS resolution can judge."""
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return "loopback"
    if name in _METADATA_NAMES or (
        name.startswith(_METADATA_LABELS) and _has_suffix(name, _INTERNAL_SUFFIXES)
    ):
        return "metadata_host"
    if _has_suffix(name, _REBINDING_SERVICES) or _has_suffix(name, _LOOPBACK_SERVICES):
        return "rebinding_name"
    has_digit = _DIGIT.search(name) is not None
    if has_digit and _embedded_ip_kind(name, hex_allowed=_has_suffix(name, _WILDCARD_SERVICES)) is not None:
        return "rebinding_name"
    if "." not in name or _has_suffix(name, _INTERNAL_SUFFIXES):
        return "internal_name"
    return None


def _not_ending_in(suffixes: frozenset[str]) -> str:
    """Negative lookbehinds, one per width, for a host that is, or ends in ``.``, one of ``suffixes``
    (the host starts after ``//``, hence the slash)."""
    widths = sorted({len(suffix) for suffix in suffixes})
    groups = ("|".join(re.escape(s) for s in sorted(suffixes) if len(s) == width) for width in widths)
    return "".join(rf"(?<![./](?i:{group}))" for group in groups)


def _plain_host_pattern() -> str:
    """A regular-expression fragment for host names that :func:`host_kind` surely passes.

    Conservative by design (what it rejects is judged in full): two or more labels, the last led
    by a letter (so no IP literal), no special suffix or metadata label, and no room for an IPv4
    written inside the name (digits only with at most two dots and two dashes). It lets a scan
    clear the ordinary URLs of a text without judging each host in Python.
    """
    suffixes = frozenset(s for group in _DOTTED_SUFFIXES for s in group) | {"localhost"}
    metadata = "|".join(re.escape(label) for label in _METADATA_LABELS)
    few_separators = (
        r"(?![A-Za-z.-]*+\d)"  # no digit at all, or at most two dots and two dashes
        r"|(?=(?:[A-Za-z0-9-]*+\.){0,2}+[A-Za-z0-9-]*+(?![.A-Za-z0-9-]))"
        r"(?=(?:[A-Za-z0-9.]*+-){0,2}+[A-Za-z0-9.]*+(?![-A-Za-z0-9.]))"
    )
    return (
        rf"(?!(?i:{metadata}))(?:{few_separators})"
        rf"(?:[A-Za-z0-9-]{{1,63}}+\.)+[A-Za-z][A-Za-z0-9-]{{0,62}}+{_not_ending_in(suffixes)}"
    )


PLAIN_HOST: Final = _plain_host_pattern()


def parse_ip_literal(host: str) -> tuple[IPAddress, bool] | None:
    """An IP literal in any accepted spelling (``[v6]``, bare v6, loose v4), with canonical-ness."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare), True
        except ValueError:
            return None
    return parse_ipv4_loose(bare)


def host_kind(host: str) -> str | None:
    """Judge a normalised host: an IP literal by its range (obfuscated spellings of a forbidden
    address report "numeric_host"), otherwise a name by :func:`name_kind`."""
    literal = parse_ip_literal(host)
    if literal is None:
        return name_kind(host) if host else None
    address, canonical = literal
    kind = address_kind(address)
    if kind is not None and not canonical and kind != "metadata_host":
        return "numeric_host"
    return kind
