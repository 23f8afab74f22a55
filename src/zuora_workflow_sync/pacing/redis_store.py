"""Pacing state in Redis, shared by every host: one Lua script, one round trip per step.

Why Lua and not a library: a request may go only if the tenant is not paused, holds fewer slots
than its adaptive limit, and has quota left in its minute, hour and day windows; all of that
must be checked and taken in one atomic step, or two hosts could both take the last slot, or a
request could use quota and then find no slot. Neither pyrate-limiter nor limits offers a
distributed semaphore whose slots expire (a holder that died must not keep its slot forever),
and their Redis buckets run as separate scripts, so the quota counters live in this script too.

Keys (the `{...}` part is a Redis Cluster hash tag, so a tenant's keys share a slot):
    zws:pacing:{KEY}:slots   ZSET, member = slot token, score = expiry (µs, Redis clock),
                             pushed on by its holder while the request runs (`extend`)
    zws:pacing:{KEY}:state   HASH: limit, decreased_at, pause_until, q<µs>:start, q<µs>:used
Every write refreshes a TTL, so an idle tenant's keys disappear. Times come from Redis `TIME`
in integer microseconds (exact in Lua's doubles), so the clocks of the hosts never matter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zuora_workflow_sync.coordination import CoordinationTarget, redis_client
from zuora_workflow_sync.pacing.aimd import DECREASE_FACTOR, INCREASE_STEP, Assessment
from zuora_workflow_sync.pacing.store import (
    STATE_TTL_SECONDS,
    Admission,
    Outcome,
    Refusal,
    SlotRequest,
    TenantSnapshot,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

# KEYS: slots, state. ARGV: [1] max_in_flight, [2] state_ttl_ms,
#   finish part (ignored when [3] is ''): [3] token, [4] started_at, [5] signal, [6] pause_us,
#   [7] decrease_factor, [8] increase_step (finish mirrors aimd.adjust);
#   acquire part (ignored when [9] is ''): [9] token, [10] slot_ttl_us, then (window_us, quota).
# Returns {limit_before, limit_after, paused, pause_left_us,
#          granted, now_us, wait_us, refusal, window_us, reclaimed}; limits as strings (floats);
# paused = 1 when this finish started a pause (not when it extended one).
_STEP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_in_flight = tonumber(ARGV[1])
local reply = {'', '', 0, 0, 0, now, 0, '', 0, 0}

local function finish()
  redis.call('ZREM', KEYS[1], ARGV[3])
  local state = redis.call('HMGET', KEYS[2], 'limit', 'decreased_at', 'pause_until')
  local before = math.min(math.max(tonumber(state[1]) or max_in_flight, 1), max_in_flight)
  local limit = before
  local decreased_at = tonumber(state[2]) or 0
  if ARGV[5] == 'decrease' and tonumber(ARGV[4]) > decreased_at then
    limit = math.max(1, limit * tonumber(ARGV[7]))
    decreased_at = now
  elseif ARGV[5] == 'increase' then
    limit = math.min(max_in_flight, limit + tonumber(ARGV[8]) / limit)
  end
  local pause_until = tonumber(state[3]) or 0
  local pause_us = tonumber(ARGV[6])
  if pause_us > 0 and now + pause_us > pause_until then
    if pause_until <= now then reply[3] = 1 end
    pause_until = now + pause_us
  end
  redis.call('HSET', KEYS[2], 'limit', tostring(limit), 'decreased_at', decreased_at,
    'pause_until', pause_until)
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
  reply[1], reply[2], reply[4] = tostring(before), tostring(limit), math.max(0, pause_until - now)
end

local function acquire()
  reply[10] = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local state = redis.call('HMGET', KEYS[2], 'pause_until', 'limit')
  local pause_until = tonumber(state[1]) or 0
  if pause_until > now then
    reply[7], reply[8] = pause_until - now, 'paused'
    return
  end
  local limit = tonumber(state[2]) or max_in_flight
  local cap = math.max(1, math.min(max_in_flight, math.floor(limit)))
  if redis.call('ZCARD', KEYS[1]) >= cap then
    reply[8] = 'busy'
    return
  end
  local fields = {}
  for i = 11, #ARGV, 2 do
    local width, quota = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
    local start = now - (now % width)
    local name = 'q' .. ARGV[i]
    local stored = redis.call('HMGET', KEYS[2], name .. ':start', name .. ':used')
    local used = 0
    if tonumber(stored[1]) == start then used = tonumber(stored[2]) or 0 end
    if used >= quota then
      reply[7], reply[8], reply[9] = start + width - now, 'quota', width
      return
    end
    table.insert(fields, name .. ':start')
    table.insert(fields, start)
    table.insert(fields, name .. ':used')
    table.insert(fields, used + 1)
  end
  if #fields > 0 then redis.call('HSET', KEYS[2], unpack(fields)) end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[10]), ARGV[9])
  -- outlives every slot, so an expired one is freed (and counted) here, not by Redis
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[10]) / 1000) * 2 + 1000)
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
  reply[5] = 1
end

if ARGV[3] ~= '' then finish() end
if ARGV[9] ~= '' then acquire() end
return reply
"""

# KEYS: slots. ARGV: [1] slot_ttl_us, then the tokens. Returns how many were still held.
_EXTEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl_us = tonumber(ARGV[1])
local held = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) > now then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl_us, ARGV[i])
    held = held + 1
  end
end
if held > 0 then redis.call('PEXPIRE', KEYS[1], math.ceil(ttl_us / 1000) * 2 + 1000) end
return held
"""

# KEYS: slots, state. ARGV: max_in_flight. Returns {limit, in_flight, pause_left_us}.
_SNAPSHOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[2], 'limit', 'pause_until')
local max_in_flight = tonumber(ARGV[1])
local limit = math.min(math.max(tonumber(state[1]) or max_in_flight, 1), max_in_flight)
-- a number argument, not '(' .. now: Lua's own tostring keeps only 14 digits
local in_flight = redis.call('ZCOUNT', KEYS[1], now + 1, '+inf')
local pause_until = tonumber(state[2]) or 0
return {tostring(limit), in_flight, math.max(0, pause_until - now)}
"""

_STATE_TTL_MS = STATE_TTL_SECONDS * 1000
_NO_FINISH: list[str | int | float] = ["", 0, "", 0, 0, 0]
_NO_ACQUIRE: list[str | int | float] = ["", 0]

Args = list[str | int | float]


def _keys(key: str) -> list[str]:
    return [f"zws:pacing:{{{key}}}:slots", f"zws:pacing:{{{key}}}:state"]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _finish_args(request: SlotRequest, started_at_us: int, assessment: Assessment) -> Args:
    pause_us = round((assessment.pause_seconds or 0.0) * 1_000_000)
    signal = assessment.signal.value
    return [request.token, started_at_us, signal, pause_us, DECREASE_FACTOR, INCREASE_STEP]


def _acquire_args(request: SlotRequest) -> Args:
    args: Args = [request.token, request.slot_ttl_us]
    for window in request.windows:
        args += [window.microseconds, window.quota]
    return args


def _outcome(reply: list[Any]) -> Outcome:
    before, after, paused, pause_left_us = reply[:4]
    return Outcome(
        limit_before=float(_text(before)),
        limit_after=float(_text(after)),
        paused=bool(int(paused)),
        pause_seconds=int(pause_left_us) / 1_000_000,
    )


def _admission(reply: list[Any]) -> Admission:
    granted, now_us, wait_us, refusal, window_us, reclaimed = reply[4:]
    if int(granted):
        return Admission(True, int(now_us), reclaimed=int(reclaimed))
    detail = f"{int(window_us) / 1_000_000:g}s window" if int(window_us) else ""
    return Admission(
        False,
        int(now_us),
        wait_seconds=int(wait_us) / 1_000_000,
        refusal=Refusal(_text(refusal)),
        detail=detail,
        reclaimed=int(reclaimed),
    )


class RedisPacingStore:
    """`PacingStore` on Redis; one client (connection pool) per event loop.

    `owned`: `aclose` closes the client (False when it is borrowed from a `JobSession`).
    """

    def __init__(self, client: aioredis.Redis, *, owned: bool = True) -> None:
        self._client = client
        self._owned = owned
        self._step = client.register_script(_STEP)
        self._snapshot = client.register_script(_SNAPSHOT)
        self._extend = client.register_script(_EXTEND)

    @classmethod
    def open(cls, target: CoordinationTarget) -> RedisPacingStore:
        """A store on a new client; connections open on first use, in the running loop."""
        return cls(redis_client(target))

    async def _run(self, key: str, max_in_flight: int, finish: Args, acquire: Args) -> list[Any]:
        args: Args = [max_in_flight, _STATE_TTL_MS, *finish, *acquire]
        reply: list[Any] = await self._step(keys=_keys(key), args=args)
        return reply

    async def try_acquire(self, request: SlotRequest) -> Admission:
        reply = await self._run(
            request.key, request.max_in_flight, _NO_FINISH, _acquire_args(request)
        )
        return _admission(reply)

    async def finish(
        self, request: SlotRequest, *, started_at_us: int, assessment: Assessment
    ) -> Outcome:
        finish = _finish_args(request, started_at_us, assessment)
        reply = await self._run(request.key, request.max_in_flight, finish, _NO_ACQUIRE)
        return _outcome(reply)

    async def renew(
        self,
        released: SlotRequest,
        *,
        started_at_us: int,
        assessment: Assessment,
        request: SlotRequest,
    ) -> tuple[Outcome, Admission]:
        finish = _finish_args(released, started_at_us, assessment)
        reply = await self._run(request.key, request.max_in_flight, finish, _acquire_args(request))
        return _outcome(reply), _admission(reply)

    async def extend(self, key: str, tokens: list[str], ttl_seconds: float) -> int:
        if not tokens:
            return 0
        ttl_us = max(1, round(ttl_seconds * 1_000_000))
        held = await self._extend(keys=_keys(key)[:1], args=[ttl_us, *tokens])
        return int(held)

    async def snapshot(self, key: str, max_in_flight: int) -> TenantSnapshot:
        limit, in_flight, pause_left_us = await self._snapshot(
            keys=_keys(key), args=[max_in_flight]
        )
        return TenantSnapshot(float(_text(limit)), int(in_flight), int(pause_left_us) / 1_000_000)

    async def ping(self) -> None:
        """Raise RedisError or OSError unless Redis answers."""
        await self._client.ping()

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()
