#!lua flags=no-writes
--[[ decide.lua - the decision script of one policy request (SPEC §5,
doc/keys.md "The decision script"), run with EVALSHA.  It only reads.

KEYS (11):
   1  P{a:ACCOUNT}:susp           HASH reason by at until note
   2  P{lists}:allow:account      HASH field = normalised account
   3  P{lists}:allow:client       HASH field = HEX32/LEN
   4  P{lists}:allow:clientlens   HASH field = LEN, value = entries with it
   5  P{lists}:allow:sender       HASH field = lower-cased address
   6  P{lists}:allow:domain       HASH field = domain or .domain
   7..11  the same five of the deny list
ARGV (5): account ("" unauthenticated), client HEX32 ("" if none),
   sender (lower-cased, "" null sender), sender domain (lower-cased),
   flags ("d": a static deny entry matched).

Order, the first that decides ends it:
   allow account, allow client, (unauthenticated only: allow sender,
   allow domain), static deny flag, deny account, deny client, deny sender,
   deny domain, suspension.
Returns {rule, detail...}:
   {'allow:account'} {'allow:client'} {'allow:sender'} {'allow:domain'}
   {'deny:static'}
   {'deny:account', entry} {'deny:client', entry} {'deny:sender', entry}
   {'deny:domain', entry}          entry: the matching hash field
   {'suspended', reason, until}    until in ms, '0' = until reinstated
   {'ok'}

Domains: an entry "example.com" matches that domain only, ".example.com"
every subdomain of it; for "x.y.example.com" the script looks up the
domain itself, then ".y.example.com", ".example.com" and ".com".
Clients: the client's 32 hex digits are masked to every prefix length
present in clientlens and each "MASKED/LEN" looked up (longest first). ]]

local account, client, sender, domain, flags =
    ARGV[1] or '', ARGV[2] or '', ARGV[3] or '', ARGV[4] or '', ARGV[5] or ''

-- The 32 hex digits hex with the bits past len (0..128) cleared: LEN/4
-- digits kept, the next one cut to its LEN%4 top bits, zeros after.
local function mask(hex, len)
    local full = math.floor(len / 4)
    local rest = len % 4
    local out = string.sub(hex, 1, full)
    if rest > 0 then
        local d = tonumber(string.sub(hex, full + 1, full + 1), 16)
        local unit = 2 ^ (4 - rest)
        out = out .. string.format('%x', math.floor(d / unit) * unit)
    end
    return out .. string.rep('0', 32 - string.len(out))
end

-- The field of hash key that matches the client, or nil.
local function client_match(key, lenskey)
    if not string.match(client, '^' .. string.rep('%x', 32) .. '$') then
        return nil
    end
    local lens = {}
    for _, l in ipairs(redis.call('HKEYS', lenskey)) do
        local n = tonumber(l)
        if n and n >= 0 and n <= 128 and n == math.floor(n) then
            lens[#lens + 1] = n
        end
    end
    if #lens == 0 then
        return nil
    end
    table.sort(lens, function(a, b) return a > b end)
    local fields = {}
    for i, n in ipairs(lens) do
        fields[i] = mask(string.lower(client), n) .. '/' .. n
    end
    local got = redis.call('HMGET', key, unpack(fields))
    for i = 1, #fields do
        if got[i] then return fields[i] end
    end
    return nil
end

-- The field of hash key that matches the sender domain (exact, then the
-- '.parent' forms), or nil.
local function domain_match(key)
    if domain == '' then
        return nil
    end
    local fields = { domain }
    local rest = domain
    for _ = 1, 128 do                  -- bounded: at most 128 labels
        local dot = string.find(rest, '.', 2, true)
        if not dot then break end
        rest = string.sub(rest, dot + 1)
        if rest == '' then break end
        fields[#fields + 1] = '.' .. rest
    end
    local got = redis.call('HMGET', key, unpack(fields))
    for i = 1, #fields do
        if got[i] then return fields[i] end
    end
    return nil
end

local function has(key, field)
    return field ~= '' and redis.call('HEXISTS', key, field) == 1
end

-- 1. the allow list
if has(KEYS[2], account) then return { 'allow:account' } end
if client_match(KEYS[3], KEYS[4]) then return { 'allow:client' } end
if account == '' then
    if has(KEYS[5], sender) then return { 'allow:sender' } end
    if domain_match(KEYS[6]) then return { 'allow:domain' } end
end

-- 2. the deny list: the static one first (decided by outpostd), then Redis
if string.find(flags, 'd', 1, true) then return { 'deny:static' } end
if has(KEYS[7], account) then return { 'deny:account', account } end
local hit = client_match(KEYS[8], KEYS[9])
if hit then return { 'deny:client', hit } end
if has(KEYS[10], sender) then return { 'deny:sender', sender } end
hit = domain_match(KEYS[11])
if hit then return { 'deny:domain', hit } end

-- 3. suspension (an expired hash is gone already; `until` is checked too,
-- so that a late expiry never keeps an account suspended)
if account ~= '' then
    local s = redis.call('HMGET', KEYS[1], 'reason', 'until')
    if s[1] then
        local untl = s[2] or '0'
        local u = tonumber(untl)
        if not u or u == 0 then
            return { 'suspended', s[1], '0' }
        end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        if u > now then
            return { 'suspended', s[1], untl }
        end
    end
end

return { 'ok' }
