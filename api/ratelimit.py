"""Rate limits per (client, subject): a moving window in memory, or in Redis (``limits``).

In memory, each (client, subject) keeps the times of its hits within the window
(:class:`MovingWindows`): a hit is a few list operations on the event loop. (The ``limits``
library's memory storage starts a task per request that hops to a worker thread to expire old
hits, which cost a request more than its rate limit did.)

A pooled connection to Redis outlives the server it was opened to: after a Redis restart each
one fails its next command. Each command is therefore tried once more, on a new connection,
when its connection fails (not when Redis is slow: a timeout is not tried again), so a
restarted Redis serves the very next request. A refusal (Redis unreachable) is logged once:
its cause goes to the request's ``steward.access`` line (``fault``).
"""

from __future__ import annotations

import math
import time
from collections import deque

from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.errors import RateLimited, RateLimitUnavailable, RequestError
from api.settings import Settings
from auth.policy.principal import Principal

MAX_CAUSE = 200
"""Characters of a Redis failure's description in its log line."""
RETRIES = 1
"""Times a command whose connection failed is tried again, on a new connection."""


class MovingWindows:
    """In-process moving windows: at most ``amount`` hits per key in any ``seconds``.

    Each key keeps the times of its hits within the window, oldest first; a key whose hits
    all left the window is dropped (every key is looked at once per window), so memory
    follows the callers of the last window, not every caller ever seen.

    Args:
        amount: hits a key may make within any window.
        seconds: the window's length.
    """

    def __init__(self, amount: int, seconds: float) -> None:
        self.amount = amount
        self.seconds = seconds
        self._hits: dict[tuple[str, ...], deque[float]] = {}
        self._swept = -math.inf

    def hit(self, key: tuple[str, ...], now: float) -> float | None:
        """Count one hit of ``key`` at ``now`` (monotonic seconds), if its window has room.

        Returns:
            ``None`` when counted; else the seconds until the window has room again.
        """
        if now - self._swept >= self.seconds:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        start = now - self.seconds
        while hits and hits[0] < start:
            hits.popleft()
        if len(hits) >= self.amount:
            return hits[len(hits) - self.amount] - start
        hits.append(now)
        return None

    def _sweep(self, now: float) -> None:
        start = now - self.seconds
        self._hits = {key: hits for key, hits in self._hits.items() if hits and hits[-1] > start}
        self._swept = now


class RateLimiter:
    """A moving window per client and subject (all customers of one app are not one bucket)."""

    def __init__(self, settings: Settings) -> None:
        self.item = parse(settings.rate_limit)
        self.pool: ConnectionPool | None = None
        self.storage: RedisStorage | None = None
        self.limiter: MovingWindows | MovingWindowRateLimiter
        if settings.redis_url is None:
            self.limiter = MovingWindows(self.item.amount, self.item.get_expiry())
        else:
            url = settings.redis_url.get_secret_value()
            self.pool = ConnectionPool.from_url(
                url,
                socket_connect_timeout=1,
                socket_timeout=1,
                retry=Retry(NoBackoff(), RETRIES),
                retry_on_error=[RedisConnectionError],
            )
            self.storage = RedisStorage(
                "async+" + url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="steward-rate",
                connection_pool=self.pool,  # type: ignore[arg-type]  # passed through to redis
            )
            self.limiter = MovingWindowRateLimiter(self.storage)

    async def check(self, principal: Principal) -> None:
        """Count one request; raise `RateLimited` when the window is full."""
        keys = (principal.client_id, principal.subject)
        if isinstance(self.limiter, MovingWindows):
            wait = self.limiter.hit(keys, time.monotonic())
            if wait is not None:
                raise RateLimited(max(1, math.ceil(wait)))
            return
        try:
            if await self.limiter.hit(self.item, *keys):
                return
            stats = await self.limiter.get_window_stats(self.item, *keys)
        except Exception as error:
            if isinstance(error, RequestError):
                raise
            raise RateLimitUnavailable(_cause(error)) from None
        raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))

    async def store_reachable(self) -> bool:
        """Whether the shared store (Redis) answers; memory always does."""
        return self.storage is None or await self.storage.check()

    async def aclose(self) -> None:
        """Close the connections to Redis, if any."""
        if self.pool is not None:
            await self.pool.aclose()


def _cause(error: Exception) -> str:
    """What failed under ``limits``' wrapper: Redis's own error and its first line.

    Redis's connection and timeout messages name the server and the failure, never a key
    (keys hold client ids and subjects); other errors are named by their class only.
    """
    cause: BaseException = getattr(error, "storage_error", None) or error.__cause__ or error
    name = f"{type(cause).__module__}.{type(cause).__qualname__}"
    if isinstance(cause, RedisConnectionError | RedisTimeoutError | OSError):
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        return f"{name}: {message}"[:MAX_CAUSE] if message else name
    return name
