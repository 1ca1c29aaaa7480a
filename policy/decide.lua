--[[ decide.lua - the decision script of one policy request (SPEC §5, §4,
§6), run with EVALSHA; doc/keys.md "The decision script" is its contract
(KEYS, ARGV, replies) and "Rate limits" the window it keeps.

At RCPT it only reads.  At END-OF-MESSAGE, when nothing refuses, it
counts the message in every limit of the account's class and writes the
dedupe key, in this one call: check and count are atomic across all MTAs.

Order, the first that decides ends it:
   allow account, allow client, (unauthenticated only: allow sender,
   allow domain), static deny flag, deny account, deny client, deny
   sender, deny domain, suspension, sender identity (enforce), per-message
   recipient cap, limits.  At MAIL (flag m) only the lists, the suspension
   and the identity.

Events (identity_violation, limit_reached) are written only when outpostd
passes the events line (the argument after the absent counters).

Sender identity: only when outpostd passes the identity line (the argument
after the events line; authenticated requests at the configured stage).  A verified,
unexpired grant of the exact address, or of "@domain", authorizes.  If
none does: on the first request of a message (flag f in the line) the
address is recorded as observed for the account (bounded, with a TTL) and,
at most once per event_window per address, an identity_violation event is
appended to the events stream; enforce (from enforce_from on) refuses,
monitor lets the evaluation go on and the final reply carries
'#identity', STATE, ADDRESS, NEW after the rule's own elements (before
the shadow limit names of an 'ok').

Domains: an entry "example.com" matches that domain only, ".example.com"
every subdomain of it.  Clients: the client's 32 hex digits are masked to
every prefix length present in clientlens and each "MASKED/LEN" looked up.
Time: Redis TIME, unless ARGV[6] carries a test clock (never in
production). ]]

local account, client, sender, domain, flags =
    ARGV[1] or '', ARGV[2] or '', ARGV[3] or '', ARGV[4] or '', ARGV[5] or ''
local at_eom = string.find(flags, 'e', 1, true) ~= nil

-- Redis time in ms, read once; ARGV[6] is the test clock.
local now
local function now_ms()
    if not now then
        if ARGV[6] and ARGV[6] ~= '' then
            now = tonumber(ARGV[6])
        else
            local t = redis.call('TIME')
            now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
    end
    return now
end

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

-- 1. the allow list (one EXISTS first: most requests meet empty lists;
-- a client list exists iff its clientlens hash does)
if redis.call('EXISTS', KEYS[2], KEYS[4], KEYS[5], KEYS[6]) > 0 then
    if has(KEYS[2], account) then return { 'allow:account' } end
    if client_match(KEYS[3], KEYS[4]) then return { 'allow:client' } end
    if account == '' then
        if has(KEYS[5], sender) then return { 'allow:sender' } end
        if domain_match(KEYS[6]) then return { 'allow:domain' } end
    end
end

-- 2. the deny list: the static one first (decided by outpostd), then Redis
if string.find(flags, 'd', 1, true) then return { 'deny:static' } end
if redis.call('EXISTS', KEYS[7], KEYS[9], KEYS[10], KEYS[11]) > 0 then
    if has(KEYS[7], account) then return { 'deny:account', account } end
    local hit = client_match(KEYS[8], KEYS[9])
    if hit then return { 'deny:client', hit } end
    if has(KEYS[10], sender) then return { 'deny:sender', sender } end
    hit = domain_match(KEYS[11])
    if hit then return { 'deny:domain', hit } end
end

-- 3. the account's class: its own (acct hash) if the config knows it,
-- else ARGV[10] (default_class, or unauthenticated_class)
local classes, nclass = {}, tonumber(ARGV[11]) or 0
for i = 12, 11 + nclass do
    local name, maxrcpt, susp = string.match(ARGV[i], '^([^\t]*)\t(%d+)\t(%a)$')
    if name then classes[name] = { maxrcpt = tonumber(maxrcpt), susp = susp } end
end
local class = ARGV[10] or ''
local overrides = {}
if account ~= '' and KEYS[12] then
    local h = redis.call('HGETALL', KEYS[12])
    for i = 1, #h, 2 do
        local f, v = h[i], h[i + 1]
        if f == 'class' then
            if classes[v] then class = v end
        elseif string.sub(f, 1, 4) == 'ovr:' then
            local name = string.sub(f, 5)
            overrides[name] = overrides[name] or {}
            overrides[name].max = tonumber(v)
        elseif string.sub(f, 1, 10) == 'ovr_until:' then
            local name = string.sub(f, 11)
            overrides[name] = overrides[name] or {}
            overrides[name].untl = tonumber(v)
        end
    end
end
local kclass = classes[class]

-- 4. suspension (an expired hash is gone already; `until` is checked too,
-- so that a late expiry never keeps an account suspended)
if account ~= '' then
    local s = redis.call('HMGET', KEYS[1], 'reason', 'until')
    if s[1] then
        local untl = s[2] or '0'
        local u = tonumber(untl)
        local susp = kclass and kclass.susp or 'R'
        if not u or u == 0 then
            return { 'suspended', s[1], '0', susp }
        end
        if u > now_ms() then
            return { 'suspended', s[1], untl, susp }
        end
    end
end
-- 4b. the sender identity (doc/keys.md "Sender identities").  idnote is
-- set in monitor mode (or enforce before enforce_from) when the sender is
-- not authorized; fin() adds it to the reply that ends the evaluation.
local idnote
local nlimits = tonumber(ARGV[12 + nclass]) or 0
-- the events line: "KIDX\tEVMAX\tLIMIT_WINDOW_MS" (absent: no events)
local kev, evmax, limwin
do
    local i, m, w = string.match(ARGV[14 + nclass + nlimits] or '', '^(%d+)\t(%d+)\t(%d+)$')
    if i and KEYS[tonumber(i)] then
        kev, evmax, limwin = KEYS[tonumber(i)], m, tonumber(w)
    end
end
local idline = ARGV[15 + nclass + nlimits]
if account ~= '' and kev and idline and idline ~= '' then
    local mode, from, addr, iflags, win, obsmax, obsttl, kidx = string.match(idline,
        '^(%a)\t(%d+)\t([^\t]*)\t(%a*)\t(%d+)\t(%d+)\t(%d+)\t(%d+)$')
    if mode then
        kidx = tonumber(kidx)
        local kids, kobs, kobsidx = KEYS[kidx], KEYS[kidx + 1], KEYS[kidx + 2]
        local real = addr ~= '' and addr ~= '<>' and addr ~= '!'
        local authorized = false
        if real then
            local fields = { addr }
            if string.find(iflags, 'g', 1, true) then
                fields[2] = '@' .. string.match(addr, '@([^@]*)$')
            end
            local got = redis.call('HMGET', kids, unpack(fields))
            -- the grant is JSON written by outpost_identity; two patterns
            -- read the two fields needed (cheaper than cjson.decode)
            for i = 1, #fields do
                local g = got[i]
                if g and string.find(g, '"state"%s*:%s*"verified"') then
                    local u = tonumber(string.match(g, '"until"%s*:%s*(%d+)')) or 0
                    if u == 0 or u > now_ms() then authorized = true end
                end
            end
        end
        if not authorized then
            local new = '0'
            if real and string.find(iflags, 'f', 1, true) then
                local t = now_ms()
                local rec
                local cur = redis.call('HGET', kobs, addr)
                if cur then
                    local okj, r = pcall(cjson.decode, cur)
                    if okj and type(r) == 'table' then rec = r end
                end
                if rec then
                    rec.count = (tonumber(rec.count) or 0) + 1
                    rec.last = t
                elseif cur or redis.call('HLEN', kobs) - redis.call('HEXISTS', kobs, 'overflow')
                              < tonumber(obsmax) then     -- 'overflow' is no address
                    rec = { count = 1, first = t, last = t, ev = 0 }
                else
                    redis.call('HINCRBY', kobs, 'overflow', 1)
                end
                if rec then
                    local state = mode == 'e' and
                        (tonumber(from) == 0 or t >= tonumber(from)) and 'enforce' or 'monitor'
                    if t - (tonumber(rec.ev) or 0) >= tonumber(win) then
                        rec.ev = t
                        new = '1'
                        redis.call('XADD', kev, 'MAXLEN', '~', evmax, '*', 'v', '1',
                                   'type', 'identity_violation', 'account', account,
                                   'json', cjson.encode({ v = 1, type = 'identity_violation',
                                       op = 'identity_violation', at = t,
                                       account = account, address = addr,
                                       mode = state, count = rec.count }))
                    end
                    redis.call('HSET', kobs, addr, cjson.encode(rec))
                end
                redis.call('PEXPIRE', kobs, obsttl)
                redis.call('ZADD', kobsidx, t, account)
            end
            if mode == 'e' and (tonumber(from) == 0 or now_ms() >= tonumber(from)) then
                return { 'identity', addr, new }
            end
            idnote = { '#identity', mode == 'e' and 'early' or 'monitor', addr, new }
        end
    end
end
local function fin(reply)
    if idnote then
        for _, v in ipairs(idnote) do reply[#reply + 1] = v end
    end
    return reply
end
if string.find(flags, 'm', 1, true) then       -- MAIL: nothing is counted here
    return fin({ 'ok', class, '0' })
end

if not kclass then
    return fin({ 'ok', class, '0' })
end

-- 5. the per-message recipient cap
local units = { m = tonumber(ARGV[7]) or 1, r = tonumber(ARGV[8]) or 0,
                b = tonumber(ARGV[9]) or 0 }
if kclass.maxrcpt > 0 and units.r > kclass.maxrcpt then
    return fin({ 'recipients', tostring(kclass.maxrcpt) })
end

-- A message counted before (Postfix retried the same END-OF-MESSAGE) is
-- admitted again without checking or counting; an undone count ("[]")
-- does not count as counted.
local dedupe = at_eom and KEYS[13] and KEYS[13] ~= ''
    and not string.find(flags, 'n', 1, true)
if dedupe then
    local v = redis.call('GET', KEYS[13])
    if v and v ~= '[]' then return fin({ 'ok', class, 'dup' }) end
end

-- 6. the class's limits.  A counter hash holds its width 'w', a bucket
-- field per bucket number, and the running figures 't' (the sum of every
-- bucket in the hash), 'o' and 'n' (bounds: no bucket below o or above n).
-- window(): the units in the buckets lo..b (lo = floor((now - per + 1) /
-- w): they cover the last P and lie within the last P + w).  Fast path,
-- one HMGET of 4 fields: when every bucket lies in the window (lo <= o, n
-- <= b) the sum is t.  Otherwise (a bucket aged out, a hash of an older
-- version, another width) the whole hash is read (HGETALL).  Returns the
-- sum and the state kept for counting (l fields: same, exists, fast,
-- fields, inwin, t, o, n).
local function window_all(l, h)
    local fields, same = {}, false
    for i = 1, #h, 2 do
        if h[i] == 'w' then
            same = tonumber(h[i + 1]) == l.w
        else
            local bk, u = tonumber(h[i]), tonumber(h[i + 1])
            if bk and u then fields[#fields + 1] = { bk, u } end
        end
    end
    l.exists, l.same, l.fast = #h > 0, same, false
    l.fields, l.inwin = same and fields or {}, {}
    local sum = 0
    for _, f in ipairs(l.fields) do
        if f[1] >= l.lo and f[1] <= l.b then
            sum = sum + f[2]
            l.inwin[#l.inwin + 1] = f
        end
    end
    return sum
end

-- The fast path alone: the sum, or nil (then read the whole hash).
local function window_fast(key, w, lo, b)
    local m = redis.call('HMGET', key, 'w', 't', 'o', 'n')
    if tonumber(m[1]) == w then
        local o, n = tonumber(m[3]), tonumber(m[4])
        if o and n and o >= lo and n <= b then
            return tonumber(m[2]), n
        end
    end
    return nil
end

-- ms until the oldest buckets have freed `need` units: bucket k leaves
-- the window when floor((t - per + 1) / w) > k, i.e. at (k+1)w + per - 1.
-- If they never can (N = 0), a whole period.
local function retry_after(inwin, need, w, per)
    table.sort(inwin, function(x, y) return x[1] < y[1] end)
    local freed = 0
    for _, f in ipairs(inwin) do
        freed = freed + f[2]
        if freed >= need then return (f[1] + 1) * w + per - 1 - now_ms() end
    end
    return per
end

-- KEYS indexes with no counter for this request (e.g. a client_address
-- limit for a client that is not an IP address): "14,17"
local absent = {}
for idx in string.gmatch(ARGV[13 + nclass + nlimits] or '', '%d+') do
    absent[tonumber(idx)] = true
end
local limits, shadows = {}, {}
local refuse, exceeds
local prefix = class .. '\t'
for i = 13 + nclass, 12 + nclass + nlimits do
    local line = ARGV[i]
    if string.sub(line, 1, #prefix) == prefix then
        local name, cnt, max, per, act, shadow, keyidx = string.match(line,
            '^[^\t]*\t([^\t]+)\t(%a)\t(%d+)\t(%d+)\t(%a)\t(%d)\t(%d+)$')
        local key = name and not absent[tonumber(keyidx)] and KEYS[tonumber(keyidx)]
        if key and key ~= '' then
            max, per = tonumber(max), tonumber(per)
            local o = overrides[name]
            if o and o.max and (not o.untl or o.untl == 0 or o.untl > now_ms()) then
                max = o.max
            end
            local u = units[cnt] or 0
            if not at_eom and u < 1 then u = 1 end   -- RCPT: is it exhausted?
            local w = math.ceil(per / 60)
            local b, lo = math.floor(now_ms() / w), math.floor((now_ms() - per + 1) / w)
            local sum, n = window_fast(key, w, lo, b)
            -- the state of a limit is kept only when it will be used: to
            -- count (END-OF-MESSAGE), to refuse, or after a full read
            local l
            if not sum or at_eom or sum + u > max or (u > max and max > 0) then
                l = { name = name, cnt = cnt, max = max, per = per, act = act,
                      key = key, w = w, b = b, u = u, lo = lo }
                if sum then
                    l.exists, l.same, l.fast, l.n, l.t = true, true, true, n, sum
                else
                    sum = window_all(l, redis.call('HGETALL', key))
                end
                limits[#limits + 1] = l
            end
            if u > max and max > 0 then        -- never admissible: permanent
                if shadow == '1' then
                    shadows[#shadows + 1] = name
                elseif not exceeds then
                    exceeds = l
                end
            elseif sum + u > max then
                if shadow == '1' then
                    shadows[#shadows + 1] = name
                else
                    if l.fast then          -- the buckets themselves, now
                        window_all(l, redis.call('HGETALL', key))
                    end
                    l.retry = retry_after(l.inwin, sum + u - max, w, per)
                    if not refuse or l.retry > refuse.retry then refuse = l end
                end
            end
        end
    end
end
if exceeds then
    return fin({ 'exceeds', exceeds.name, exceeds.act, tostring(exceeds.max),
                 tostring(exceeds.per), exceeds.cnt, class })
end
if refuse then
    -- one limit_reached event per counter per events.limit_window; the
    -- time of the last one is the counter hash's field 'e' (not a bucket)
    if kev then
        local last = tonumber(redis.call('HGET', refuse.key, 'e')) or 0
        if now_ms() - last >= limwin then
            redis.call('HSET', refuse.key, 'e', now_ms())
            if not refuse.exists then
                redis.call('PEXPIRE', refuse.key, refuse.per + refuse.w + 60000)
            end
            local kinds = { a = 'account', c = 'client_address', d = 'sender_domain' }
            redis.call('XADD', kev, 'MAXLEN', '~', evmax, '*', 'v', '1',
                       'type', 'limit_reached', 'account', account,
                       'json', cjson.encode({ v = 1, type = 'limit_reached', at = now_ms(),
                           account = account, limit = refuse.name, class = class,
                           key = kinds[string.match(refuse.key, '{(%a):') or 'a'],
                           max = refuse.max, per = refuse.per }))
        end
    end
    return fin({ 'limit', refuse.name, refuse.act, tostring(refuse.max),
                 tostring(refuse.per), refuse.cnt, tostring(refuse.retry), class })
end

-- 7. END-OF-MESSAGE: count every limit of the class, once per message
local counted = '0'
if at_eom then
    do
        local record = {}
        for _, l in ipairs(limits) do
            if l.u > 0 then
                if l.fast then
                    -- every bucket is in the window: add, keep t and n
                    -- (t was read in this same atomic call)
                    redis.call('HINCRBY', l.key, l.b, l.u)
                    redis.call('HSET', l.key, 't', string.format('%.0f', l.t + l.u),
                               'n', string.format('%.0f', math.max(l.n, l.b)))
                else
                    if not l.same and l.exists then
                        redis.call('DEL', l.key)      -- width changed: start again
                        l.fields = {}
                    end
                    -- drop the buckets that left the window (for good: lo
                    -- only grows), then rebuild the running figures
                    local stale, t, o, n = {}, l.u, l.b, l.b
                    for _, f in ipairs(l.fields) do
                        if f[1] < l.lo then
                            stale[#stale + 1] = f[1]
                        else            -- (above b only if Redis' clock went back)
                            t = t + f[2]
                            if f[1] < o then o = f[1] end
                            if f[1] > n then n = f[1] end
                        end
                    end
                    if #stale > 0 then redis.call('HDEL', l.key, unpack(stale)) end
                    redis.call('HINCRBY', l.key, l.b, l.u)
                    redis.call('HSET', l.key, 'w', l.w, 't', string.format('%.0f', t),
                               'o', string.format('%.0f', o), 'n', string.format('%.0f', n))
                end
                redis.call('PEXPIRE', l.key, l.per + l.w + 60000)
                record[#record + 1] = { l.key, l.b, l.u }
            end
        end
        if dedupe then
            redis.call('SET', KEYS[13], cjson.encode(record), 'PX', 600000)
        end
        counted = '1'
    end
end
local reply = { 'ok', class, counted }
reply = fin(reply)                 -- before the shadow names: never cut off
for _, name in ipairs(shadows) do reply[#reply + 1] = name end
return reply
