"""The login throttle's arithmetic and memory, and which address a login comes from."""

from ipaddress import ip_network

from services.admin.auth.peers import client_address
from services.admin.auth.throttle import (
    FORGET_AFTER_S,
    FREE_ATTEMPTS,
    MAX_CLIENTS,
    MAX_DELAY_S,
    LoginThrottle,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_beyond_the_free_ones_wait_longer_each_time_up_to_a_cap() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    assert [throttle.reserve("a") for _ in range(FREE_ATTEMPTS)] == [0.0] * FREE_ATTEMPTS
    waits = []
    for _ in range(6):
        wait = throttle.reserve("a")
        assert wait > 0
        waits.append(wait)
        clock.now += wait
        assert throttle.reserve("a") == 0.0
    assert waits == sorted(waits) and waits[0] < waits[1]
    assert waits[-1] == MAX_DELAY_S  # never locked out for longer than the cap
    assert throttle.reserve("b") == 0.0  # another client is not affected
    throttle.succeeded("a")
    assert throttle.reserve("a") == 0.0


def test_quiet_clients_are_forgotten_and_the_map_stays_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for i in range(3 * MAX_CLIENTS):
        throttle.reserve(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
    assert len(throttle) <= MAX_CLIENTS
    clock.now += FORGET_AFTER_S + 1
    throttle.reserve("192.0.2.1")
    assert len(throttle) == 1


PROXIES = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


def test_the_forwarded_address_counts_only_from_a_trusted_proxy() -> None:
    assert client_address("192.0.2.7", ["198.51.100.1"], PROXIES) == "192.0.2.7"
    assert client_address("10.0.0.2", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    # The right-most address no trusted proxy wrote is the client; the rest is the client's.
    assert client_address("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.3"],
                          PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.2", ["6.6.6.6", "198.51.100.1"], PROXIES) == "198.51.100.1"
    assert client_address("::ffff:10.0.0.2", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    assert client_address("fd00::1", ["2001:db8::5"], PROXIES) == "2001:db8::5"
    assert client_address("10.0.0.2", [], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["10.0.0.9"], PROXIES) == "10.0.0.9"
    assert client_address("testclient", ["198.51.100.1"], PROXIES) == "testclient"
