"""The client's address: django-axes keys its password-guessing lockout on it (AXES_CLIENT_IP_CALLABLE).

X-Forwarded-For is believed only from a trusted proxy, named in the environment:

- FLIGHTDECK_TRUSTED_PROXIES: addresses or networks of the proxies in front of Flightdeck
  ("10.0.0.0/8,192.168.4.7"). When the request comes from one of them, the forwarded chain is read from
  the right, skipping every trusted proxy; the first address that is not one is the client. Addresses a
  client wrote into the header itself stand left of that and are never read.
- FLIGHTDECK_TRUSTED_PROXY_COUNT: how many proxies stand in front, when their addresses are not known
  in advance. The client is the address that many hops left of the peer.

With neither set, X-Forwarded-For is ignored and the peer's address (REMOTE_ADDR) is the client, so a
client cannot choose the address its guesses are counted against.
"""

import functools
import ipaddress
import logging

from django.conf import settings

log = logging.getLogger(__name__)


def client_ip(request) -> str:
    meta = request.META
    peer = meta.get("REMOTE_ADDR", "")
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    proxies = trusted_networks(getattr(settings, "FLIGHTDECK_TRUSTED_PROXIES", ()))
    count = getattr(settings, "FLIGHTDECK_TRUSTED_PROXY_COUNT", 0)
    if not forwarded:
        return peer
    if proxies:
        return _through_trusted(peer, forwarded, proxies)
    if count > 0:
        chain = [*forwarded, peer]
        return _valid_or(chain[-(count + 1)] if len(chain) > count else chain[0], peer)
    _warn_ignored_once()
    return peer


def trusted_networks(entries) -> tuple:
    """FLIGHTDECK_TRUSTED_PROXIES as networks; the settings refuse a malformed entry at start-up."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _through_trusted(peer: str, forwarded: list[str], proxies: tuple) -> str:
    if not _in(peer, proxies):
        return peer  # not from our proxy: whatever the header says was written by the client
    chain = [*forwarded, peer]
    for address in reversed(chain):
        if not _in(address, proxies):
            return _valid_or(address, peer)
    return _valid_or(chain[0], peer)  # every hop is one of ours: the first is the nearest we know


def _in(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _valid_or(address: str, fallback: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return fallback


@functools.cache  # once per process
def _warn_ignored_once() -> None:
    log.warning(
        "A request carries X-Forwarded-For but no trusted proxy is configured: the header is ignored. "
        "Behind a proxy, set FLIGHTDECK_TRUSTED_PROXIES (or FLIGHTDECK_TRUSTED_PROXY_COUNT), or every "
        "client shares the proxy's address for the password lockout."
    )
