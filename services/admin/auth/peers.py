"""Which address a login comes from: the peer's, or the one a trusted proxy forwarded.

Behind a reverse proxy every request arrives from the proxy, so the login throttle would
treat all users as one client. The forwarding header (``X-Forwarded-For`` by default) is
read only when the peer is in ``INTAKE_TRUSTED_PROXIES``; the client is then its right-most
address that is not itself a trusted proxy, since everything further left was written by
the client and may be anything.
"""

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

Networks = Sequence[IPv4Network | IPv6Network]


def _is_trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return any(ip in network for network in trusted)


def client_address(peer: str, forwarded: Sequence[str], trusted: Networks) -> str:
    """``forwarded``: every value of the forwarding header, in the order received."""
    if not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
