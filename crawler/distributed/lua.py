"""The Redis scripts of the shared frontier (:mod:`crawler.distributed.frontier`).

Each runs atomically in Redis: a worker can be killed between any two of its own commands,
never inside one of these.
"""

# Pop the most urgent request and record it as this worker's, in one step: a kill can come anywhere.
CLAIM = """
local popped = redis.call('ZPOPMIN', KEYS[1])
if #popped == 0 then return false end
redis.call('HSET', KEYS[2], redis.sha1hex(popped[1]), popped[1])
return popped[1]
"""

# inflight -> written (or just gone, when no dataset is written).
DONE = """
local data = redis.call('HGET', KEYS[1], ARGV[1])
if not data then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[2] == '1' then redis.call('HSET', KEYS[2], ARGV[1], data) end
return 1
"""

# True when no other worker is alive or holds requests and nothing is queued: the crawl is over
# (or never began), so its seen-set can go. KEYS: workers, requests; ARGV[1]: key prefix, ARGV[2]: this worker.
_CRAWL_OVER_LUA = """
local function crawl_over()
  if redis.call('ZCARD', KEYS[2]) > 0 then return false end
  for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if w ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. ':worker:' .. w, ARGV[1] .. ':inflight:' .. w,
                                   ARGV[1] .. ':written:' .. w) > 0 then
      return false
    end
  end
  return true
end
"""

# KEYS: workers, requests, dupefilter, stats. ARGV: prefix, worker, token, ttl ms, now.
REGISTER = _CRAWL_OVER_LUA + """
local heartbeat = ARGV[1] .. ':worker:' .. ARGV[2]
local holder = redis.call('GET', heartbeat)
if holder and holder ~= ARGV[3] then return -1 end
local fresh = 0
if crawl_over() then
  redis.call('DEL', KEYS[3], KEYS[4])
  redis.call('HSET', KEYS[4], 'started_at', ARGV[5])
  fresh = 1
end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SET', heartbeat, ARGV[3], 'PX', ARGV[4])
return fresh
"""

# KEYS: workers, requests, dupefilter, stats. ARGV: prefix, worker.
LEAVE = _CRAWL_OVER_LUA + """
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('DEL', ARGV[1] .. ':worker:' .. ARGV[2], ARGV[1] .. ':inflight:' .. ARGV[2], ARGV[1] .. ':written:' .. ARGV[2])
if crawl_over() then
  redis.call('DEL', KEYS[3], KEYS[4])
  return 1
end
return 0
"""
