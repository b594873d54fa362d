"""How long a failing server waits before its next scan."""

# 2**32 poll intervals is past any maximum wait: no need to compute larger powers.
_MAX_DOUBLINGS = 32


def backoff_seconds(poll_interval_s: int, failures: int, max_wait_s: int) -> int:
    """The wait after the ``failures``-th consecutive failed scan: the poll interval doubled
    per failure (2x after the first), at most ``max_wait_s``, but never less than the poll
    interval, so a server polled rarely is not retried sooner than it is polled."""
    doubled = poll_interval_s * 2 ** min(max(failures, 0), _MAX_DOUBLINGS)
    return max(poll_interval_s, min(doubled, max_wait_s))
