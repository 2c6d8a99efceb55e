"""The address guard: the one check every outbound destination passes (SSRF protection).

Provider APIs, SMTP relays and webhook receivers are named by the people who configure them, so
the service could be pointed at itself, at the cloud metadata service or at the internal network.
`AddressGuard` refuses every destination that is not public unicast, at two moments:

- when a destination is saved, `refusal(host)` / `url_refusal(url)` judge the host without DNS:
  address literals in every spelling the system resolver accepts (inet_aton forms such as
  ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1`` and ``0``; a trailing dot; any case;
  bracketed IPv6) and names that are internal by definition (``localhost``, ``*.internal``, ...);
- when a connection is made, `resolve(host, port)` resolves the name and refuses it unless every
  address is public; the caller then connects to those addresses only, so a second DNS answer
  (rebinding) never reaches the socket.

IPv6 forms that carry an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo) are
judged by the IPv4 address inside. Only the operator's setting (`allow_private`) lets private
destinations through; nothing a project configures can.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio

__all__ = [
    "AddressGuard",
    "DestinationRefusedError",
    "IPAddress",
    "Resolver",
    "forbidden_reason",
    "normalised_host",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Resolves (host, port) to the addresses a connection may use, like getaddrinfo.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata services outside the link-local range (Alibaba 100.100.100.200 sits in the
# shared address space; AWS also answers on fd00:ec2::254).
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("100.100.100.200"),
        ipaddress.ip_address("fd00:ec2::254"),
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215: a network's own NAT64 prefix, whose mapping to IPv4 only that network knows.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Names that only ever mean this machine or an internal network (RFC 6761, 6762, 8375, and
# ICANN's .internal), whatever a resolver may answer for them today.
_INTERNAL_SUFFIXES = ("localhost", "local", "localdomain", "internal", "home.arpa", "arpa")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class DestinationRefusedError(ValueError):
    """The destination is not a public address; `reason` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"destination refused: {reason}")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of the form."""
    if address.ipv4_mapped is not None:
        return [("IPv4-mapped", address.ipv4_mapped)]
    if address in _NAT64:
        return [("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))]
    if address.sixtofour is not None:
        return [("6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return [("Teredo", client), ("Teredo", server)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return [("IPv4-compatible", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))]
    return []


def forbidden_reason(address: IPAddress) -> str | None:
    """Why this address may not be called, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return "NAT64 local-use address"
        for form, inner in _embedded_ipv4(address):
            reason = forbidden_reason(inner)
            if reason is not None:
                return f"{reason} ({form})"
        if address.ipv4_mapped is not None or address in _NAT64:
            # These reach exactly the IPv4 address inside, which was just found public.
            return None
    if address in METADATA_ADDRESSES:
        return "cloud metadata address"
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # Catches what the flags above miss, e.g. 100.64.0.0/10 (carrier-grade NAT).
        ("not globally routable", not address.is_global),
    )
    for reason, hit in checks:
        if hit:
            return f"{reason} address"
    return None


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The address as the C library's inet_aton reads it, or None if it is no IPv4 address.

    One to four parts, each decimal, octal (leading 0) or hex (0x); the last part fills the
    remaining bytes, so "127.1" is 127.0.0.1 and "2130706433" is 127.0.0.1 too.
    """
    parts = text.split(".")
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        if part.startswith("0x"):
            digits, base = part[2:], 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not (digits.isascii() and digits.isalnum()):
            return None
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def normalised_host(host: str) -> IPAddress | str:
    """The host as the resolver reads it: an address, or a lower-case name without final dot.

    Raises:
        ValueError: not a host at all (empty, spaces, a number that is no IPv4 address).
    """
    text = host
    if text.startswith("[") and text.endswith("]"):
        try:
            return ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise ValueError("is not a valid IPv6 address") from None
    text = text.lower().removesuffix(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    address = _inet_aton(text)
    if address is not None:
        return address
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("is not a valid host name") from None
    labels = text.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError("is not a valid host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        # No top-level domain is numeric: this is an address the resolver may read its own way.
        raise ValueError("is not a valid address")
    return text


def _internal_name_reason(name: str) -> str | None:
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback name"
    if "." not in name:
        # A single label is completed by the resolver's search domains: an internal host.
        return "internal host name"
    if any(name == suffix or name.endswith("." + suffix) for suffix in _INTERNAL_SUFFIXES):
        return "internal host name"
    return None


def _with_article(reason: str) -> str:
    return ("an " if reason[0] in "aeiou" else "a ") + reason


async def system_resolver(host: str, port: int) -> list[str]:
    """The system resolver's addresses for a TCP connection to host:port."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """The operator's outbound policy: public destinations only, unless `allow_private`.

    Attributes:
        allow_private: let destinations be loopback, private, link-local or internal names
            (development, tests, an operator's own relay). Only the operator sets it.
        resolver: how names are resolved at connect time (the system resolver).
    """

    allow_private: bool = False
    resolver: Resolver = field(default=system_resolver, repr=False)

    def refusal(self, host: str) -> str | None:
        """Why a destination host may not be saved (no DNS), or None.

        The answer completes a sentence about the field: "is not a valid host name", "must not
        point at a loopback address".
        """
        try:
            parsed = normalised_host(host)
        except ValueError as exc:
            return str(exc)
        if self.allow_private:
            return None
        reason = (
            _internal_name_reason(parsed) if isinstance(parsed, str) else forbidden_reason(parsed)
        )
        return f"must not point at {_with_article(reason)}" if reason else None

    def url_refusal(self, url: str) -> str | None:
        """`refusal` of an http(s) URL's host; also refuses a URL without one."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            _ = parts.port  # a bad port raises ValueError
        except ValueError:
            return "is not a valid URL"
        if parts.scheme not in ("http", "https") or not host:
            return "must be an http(s) URL with a host"
        return self.refusal(host)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of host:port, refused unless each one is public (or allowed).

        Every address must pass: a name resolving to one public and one private address is
        refused, because a connection could use either.

        Raises:
            DestinationRefusedError: the host or one of its addresses is not allowed.
            OSError: the name does not resolve.
        """
        reason = self.refusal(host)
        if reason is not None:
            raise DestinationRefusedError(reason)
        parsed = normalised_host(host)
        if isinstance(parsed, str):
            answers = await self.resolver(parsed, port)
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        else:
            addresses = [parsed]
        if not addresses:
            raise OSError(f"{parsed} does not resolve")
        if not self.allow_private:
            for address in addresses:
                reason = forbidden_reason(address)
                if reason is not None:
                    raise DestinationRefusedError(f"resolves to {_with_article(reason)}")
        return addresses
