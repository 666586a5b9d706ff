"""Rate limits per (client, subject) with the ``limits`` library: in memory, or in Redis."""

from __future__ import annotations

import logging
import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.errors import RateLimited, RateLimitUnavailable, RequestError
from api.settings import Settings
from auth.policy.principal import Principal

log = logging.getLogger("steward.ratelimit")

MAX_CAUSE = 200
"""Characters of a Redis failure's description in its log line."""


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
            self.pool = ConnectionPool.from_url(url, socket_connect_timeout=1, socket_timeout=1)
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
            log.error("rate-limit store unavailable: %s", _cause(error))
            raise RateLimitUnavailable from None
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
