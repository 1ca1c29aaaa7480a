--[[ undo.lua - takes back one END-OF-MESSAGE count (doc/keys.md "The undo
script").  outpostd runs it when a count's reply came after the request's
deadline and the client had already been told DEFER by failure_action, so
the message that was not accepted does not use quota.

KEYS[1] the eom dedupe key; KEYS[2..] the counter keys its record names.
The record is [[key, bucket, units], ...]; it is replaced by "[]" (TTL
kept), so running the script twice subtracts once.  Returns 1 when it
subtracted, 0 when there was nothing (left) to undo. ]]

local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, rec = pcall(cjson.decode, v)
if not ok or type(rec) ~= 'table' or #rec == 0 then return 0 end
local declared = {}
for i = 2, #KEYS do declared[KEYS[i]] = true end
for _, r in ipairs(rec) do
    local key, b, u = r[1], r[2], tonumber(r[3])
    if declared[key] and u then
        local cur = tonumber(redis.call('HGET', key, b))
        if cur then
            if cur - u > 0 then
                redis.call('HSET', key, b, cur - u)
            else
                redis.call('HDEL', key, b)
            end
            -- the running total follows (o and n stay valid bounds)
            if redis.call('HEXISTS', key, 't') == 1 then
                redis.call('HINCRBY', key, 't', -math.min(cur, u))
            end
        end
    end
end
redis.call('SET', KEYS[1], '[]', 'KEEPTTL')
return 1
