"""How often one client may try a password: a few free attempts, then an exponential wait.

After ``FREE_ATTEMPTS`` failures in a row a client's next attempt must wait ``BASE_DELAY_S``
after its last one, then twice that, and so on up to ``MAX_DELAY_S``. That is no faster a
guessing rate than a hard lockout of five attempts per five minutes, but the real admin,
who may share an address with an attacker (a proxy nobody declared trusted), waits a
minute at worst rather than being locked out for as long as the attacker keeps guessing.

An attempt counts as a failure as soon as it is admitted, before its password is checked,
so concurrent guesses cannot all slip past the count; a success forgets the client.
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_ATTEMPTS = 5
BASE_DELAY_S = 5.0
MAX_DELAY_S = 60.0
FORGET_AFTER_S = 300.0  # a client without a failure for this long starts afresh
MAX_CLIENTS = 10_000  # beyond this, the client quiet for the longest is forgotten


@dataclass
class _Failures:
    count: int
    last: float

    def next_allowed(self) -> float:
        if self.count < FREE_ATTEMPTS:
            return self.last
        return self.last + min(BASE_DELAY_S * 2 ** (self.count - FREE_ATTEMPTS), MAX_DELAY_S)


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._clients: OrderedDict[str, _Failures] = OrderedDict()  # oldest failure first

    def __len__(self) -> int:
        return len(self._clients)

    def reserve(self, client: str) -> float:
        """Count an attempt of ``client`` and return 0, or return how many seconds it must
        wait first (counting nothing)."""
        now = self._clock()
        self._forget_old(now)
        failures = self._clients.get(client)
        if failures is None:
            if len(self._clients) >= MAX_CLIENTS:
                self._clients.popitem(last=False)
            failures = self._clients[client] = _Failures(0, now)
        wait = failures.next_allowed() - now
        if wait > 0:
            return wait
        failures.count += 1
        failures.last = now
        self._clients.move_to_end(client)
        return 0.0

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)

    def _forget_old(self, now: float) -> None:
        while self._clients and now - next(iter(self._clients.values())).last > FORGET_AFTER_S:
            self._clients.popitem(last=False)
