"""Rate limits per (client, subject) with the ``limits`` library: in memory, or in Redis.

A pooled connection to Redis outlives the server it was opened to: after a Redis restart each
one fails its next command. Each command is therefore tried once more, on a new connection,
when its connection fails (not when Redis is slow: a timeout is not tried again), so a
restarted Redis serves the very next request. A refusal (Redis unreachable) is logged once:
its cause goes to the request's ``steward.access`` line (``fault``).
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
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


class RateLimiter:
    """A moving window per client and subject (all customers of one app are not one bucket)."""

    def __init__(self, settings: Settings) -> None:
        self.item = parse(settings.rate_limit)
        storage: Storage
        self.pool: ConnectionPool | None = None
        if settings.redis_url is None:
            storage = MemoryStorage()
        else:
            url = settings.redis_url.get_secret_value()
            self.pool = ConnectionPool.from_url(
                url,
                socket_connect_timeout=1,
                socket_timeout=1,
                retry=Retry(NoBackoff(), RETRIES),
                retry_on_error=[RedisConnectionError],
            )
            storage = RedisStorage(
                "async+" + url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="steward-rate",
                connection_pool=self.pool,  # type: ignore[arg-type]  # passed through to redis
            )
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)

    async def check(self, principal: Principal) -> None:
        """Count one request; raise `RateLimited` when the window is full."""
        keys = (principal.client_id, principal.subject)
        try:
            if await self.limiter.hit(self.item, *keys):
                return
            stats = await self.limiter.get_window_stats(self.item, *keys)
        except Exception as error:
            if isinstance(error, RequestError):
                raise
            raise RateLimitUnavailable(_cause(error)) from None
        raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))

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
