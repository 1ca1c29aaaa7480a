#!lua name=outpost_decide_3
--[[ decide.lua - the Redis 7 Functions library "outpost_decide_3": the
decision of a policy request (SPEC §5, §4, §6).  outpost_decide_3 decides
one request; outpost_decide_3_batch, what outpostd calls, the requests it
read together, in order, as that many calls of the first would.
doc/keys.md "The decision Function" and "The batch" are its contract
(KEYS, ARGV, the configuration text, replies) and "Rate limits" the
window it keeps.

The name carries the version of the argument layout: outpostd calls the
function named on this file's first line, so MTAs of two releases with
different layouts, sharing one Redis during an upgrade, each call their
own.  Loaded by outpostd at every connect (FUNCTION LOAD REPLACE), and
again when a call finds it missing.

At RCPT it only reads.  At END-OF-MESSAGE, when nothing refuses, it
counts the message in every limit of the account's class and writes the
dedupe key, in this one call: check and count are atomic across all MTAs.

Order, the first that decides ends it:
   allow account, allow client, (unauthenticated only: allow sender,
   allow domain), static deny flag, deny account, deny client, deny
   sender, deny domain, suspension, sender identity (enforce), per-message
   recipient cap, limits.  At MAIL (flag m) only the lists, the suspension
   and the identity.

The classes and limits of outpostd's configuration are one text, which
travels only when this library does not have it: every call carries the
text's SHA-1 (ARGV[11]); a call whose text is not kept here is answered
with the error OUTPOSTCFG before anything is read or written, and
outpostd sends the same call once more with the text as ARGV[14].  The
text is kept (parsed) under its SHA-1, computed here (redis.sha1hex), so
it can never answer for a configuration it was not given.  At most
SPECS_MAX texts are kept (more: the cache starts again).  The cache lives
as long as this library in this Redis process (a restart, a failover or
any FUNCTION LOAD of it start it empty); nothing is written to Redis for
it.  A large configuration thus costs nothing per call (a 5 KB argument
costs Redis about 6 us per call).

Events (identity_violation, limit_reached) are written only when the
configuration text has an events line.

Sender identity: only when the configuration text has an identity line
and outpostd passes the sender's address (ARGV[13]; authenticated
requests at the configured stage).  A verified, unexpired
grant of the exact address, or of "@domain", authorizes.  If none does:
on the first request of a message (flag f in the line) the address is
recorded as observed for the account (bounded, with a TTL) and, at most
once per event_window per address, an identity_violation event is
appended to the events stream; enforce (from enforce_from on) refuses,
monitor lets the evaluation go on and the final reply carries
'#identity', STATE, ADDRESS, NEW after the rule's own elements (before
the shadow limit names of an 'ok').

Domains: an entry "example.com" matches that domain only, ".example.com"
every subdomain of it.  Clients: the client's 32 hex digits are masked to
every prefix length present in clientlens and each "MASKED/LEN" looked up.
Time: Redis TIME, read at most once per call, unless ARGV[6] carries a
test clock (never in production). ]]

local SPECS_MAX = 16
local HEADER = 'outpost-decide 2'

-- Locals for what every call uses a few dozen times (a local costs less
-- than a global and a field lookup): the string functions now, the rest
-- at the first call, as the library's top level has no math, tonumber or
-- redis.call in Redis 7.0 (only the strings' methods).
local sfind, ssub, smatch, sformat = ('').find, ('').sub, ('').match, ('').format
local floor, tonum, call

local specs, nspecs = {}, 0

-- An integer (below 2^53) as decimal digits, by printf's integer path: a
-- number given to redis.call as it is, or formatted with %.0f, goes
-- through the floating-point formatter, several times slower (a tenth of
-- Redis' time at END-OF-MESSAGE before this).
local function fmt(x)
    return sformat('%d', x)
end

-- The configuration text -> { classes = {NAME = {maxrcpt, susp, limits}},
-- kev, evmax, limwin, id } or nil and why.  Lines (tab-separated fields;
-- doc/keys.md "The configuration text"):
--   outpost-decide 2
--   e KIDX EVMAX LIMIT_WINDOW_MS
--   i MODE FROM_MS DOMAIN_GRANTS WINDOW_MS OBSMAX OBSTTL_MS KIDX
--   c NAME MAXRCPT SUSPENDED
--   l CLASS NAME COUNT MAX PER_MS ACTION SHADOW KIDX
local function parse(text)
    local spec = { classes = {}, nc = 0 }       -- nc: counter keys (the highest KIDX - 13)
    local n = 0
    for line in string.gmatch(text, '[^\n]+') do
        n = n + 1
        local kind = ssub(line, 1, 2)
        if n == 1 then
            if line ~= HEADER then return nil, 'the first line is not "' .. HEADER .. '"' end
        elseif kind == 'e\t' then
            local i, m, w = smatch(line, '^e\t(%d+)\t(%d+)\t(%d+)$')
            if not i then return nil, 'bad events line ' .. n end
            spec.kev, spec.evmax, spec.limwin = tonum(i), m, tonum(w)
        elseif kind == 'i\t' then
            local mode, from, g, win, obsmax, obsttl, kidx = smatch(line,
                '^i\t([em])\t(%d+)\t([01])\t(%d+)\t(%d+)\t(%d+)\t(%d+)$')
            if not mode then return nil, 'bad identity line ' .. n end
            spec.id = { enforce = mode == 'e', from = tonum(from), domains = g == '1',
                        win = tonum(win), obsmax = tonum(obsmax), obsttl = obsttl,
                        kidx = tonum(kidx) }
        elseif kind == 'c\t' then
            local name, maxrcpt, susp = smatch(line, '^c\t([^\t]+)\t(%d+)\t([RH])$')
            if not name then return nil, 'bad class line ' .. n end
            spec.classes[name] = { maxrcpt = tonum(maxrcpt), susp = susp, limits = {} }
        elseif kind == 'l\t' then
            local class, name, cnt, max, per, act, shadow, kidx = smatch(line,
                '^l\t([^\t]+)\t([^\t]+)\t([mrb])\t(%d+)\t(%d+)\t([DRH])\t([01])\t(%d+)$')
            local k = class and spec.classes[class]
            per = tonum(per)
            if not k or per < 1 then return nil, 'bad limit line ' .. n end
            local w = math.ceil(per / 60)
            if tonum(kidx) - 13 > spec.nc then spec.nc = tonum(kidx) - 13 end
            k.limits[#k.limits + 1] = {
                name = name, cnt = cnt, max = tonum(max), per = per, act = act,
                shadow = shadow == '1', kidx = tonum(kidx), w = w, ws = fmt(w),
                ttl = fmt(per + w + 60000) }
        else
            return nil, 'bad line ' .. n
        end
    end
    if n == 0 then return nil, 'empty' end
    return spec
end

-- The parsed configuration of SHA-1 id: kept, or parsed from text (nil:
-- not sent) and kept.  nil and why if it is neither.
local function spec_of(id, text)
    local spec = specs[id]
    if spec then return spec end
    if not text then return nil, 'OUTPOSTCFG' end
    if redis.sha1hex(text) ~= id then
        return nil, 'ERR outpost: decide: the configuration text is not the one of its SHA-1'
    end
    local why
    spec, why = parse(text)
    if not spec then return nil, 'ERR outpost: decide: configuration text: ' .. why end
    if nspecs >= SPECS_MAX then specs, nspecs = {}, 0 end
    -- a cache that cannot be written only costs the parse of every call
    if pcall(rawset, specs, id, spec) then nspecs = nspecs + 1 end
    return spec
end

-- Redis time in ms, read once per call (clock_arg: the test clock or
-- ''); reset at the start of every call.  Redis runs one call at a time.
local now, clock_arg
local function now_ms()
    if not now then
        if clock_arg ~= '' then
            now = tonum(clock_arg)
        else
            local t = call('TIME')
            now = tonum(t[1]) * 1000 + floor(tonum(t[2]) / 1000)
        end
    end
    return now
end

-- The 32 hex digits hex with the bits past len (0..128) cleared: LEN/4
-- digits kept, the next one cut to its LEN%4 top bits, zeros after.
local function mask(hex, len)
    local full = floor(len / 4)
    local rest = len % 4
    local out = ssub(hex, 1, full)
    if rest > 0 then
        local d = tonum(ssub(hex, full + 1, full + 1), 16)
        local unit = 2 ^ (4 - rest)
        out = out .. sformat('%x', floor(d / unit) * unit)
    end
    return out .. string.rep('0', 32 - string.len(out))
end

-- (a method call: the library's top level has no global `string` in Redis 7.0)
local HEX32 = '^' .. ('%x'):rep(32) .. '$'

-- The field of hash key that matches the client, or nil.
local function client_match(client, key, lenskey)
    if not smatch(client, HEX32) then
        return nil
    end
    local lens = {}
    for _, l in ipairs(call('HKEYS', lenskey)) do
        local n = tonum(l)
        if n and n >= 0 and n <= 128 and n == floor(n) then
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
    local got = call('HMGET', key, unpack(fields))
    for i = 1, #fields do
        if got[i] then return fields[i] end
    end
    return nil
end

-- The field of hash key that matches the sender domain (exact, then the
-- '.parent' forms), or nil.
local function domain_match(domain, key)
    if domain == '' then
        return nil
    end
    local fields = { domain }
    local rest = domain
    for _ = 1, 128 do                  -- bounded: at most 128 labels
        local dot = sfind(rest, '.', 2, true)
        if not dot then break end
        rest = ssub(rest, dot + 1)
        if rest == '' then break end
        fields[#fields + 1] = '.' .. rest
    end
    local got = call('HMGET', key, unpack(fields))
    for i = 1, #fields do
        if got[i] then return fields[i] end
    end
    return nil
end

local function has(key, field)
    return field ~= '' and call('HEXISTS', key, field) == 1
end

-- The sender identity (doc/keys.md "Sender identities") of address addr
-- (the normal form; "<>" a refused null sender, "!" not an address), by
-- the configuration's identity line id.  flags: f the first request of a
-- message (record), u the state marker is missing (enforce acts as
-- monitor).  Returns the refusing reply (enforce), or nil and the note
-- for the final reply (monitor, or enforce before enforce_from), or nil.
local function identity(kids, kobs, kobsidx, account, addr, flags, id, kev, evmax)
    local real = addr ~= '' and addr ~= '<>' and addr ~= '!'
    if real then
        local got
        if id.domains then
            got = call('HMGET', kids, addr, '@' .. (smatch(addr, '@([^@]*)$') or ''))
        else
            got = call('HMGET', kids, addr)
        end
        -- the grant is JSON written by outpost_identity: the two fields
        -- needed are read with plain finds of the spelling cjson writes,
        -- patterns only as the fallback (cheaper than cjson.decode; a
        -- pattern costs Redis about 0.4 us per grant)
        for i = 1, #got do
            local g = got[i]
            if g and (sfind(g, '"state":"verified"', 1, true)
                      or sfind(g, '"state"%s*:%s*"verified"')) then
                local at = sfind(g, '"until":', 1, true)
                local u = at and smatch(g, '^%d+', at + 8)
                          or smatch(g, '"until"%s*:%s*(%d+)')
                u = tonum(u) or 0
                if u == 0 or u > now_ms() then return nil end
            end
        end
    end
    local enforce = id.enforce and not sfind(flags, 'u', 1, true)
    local new = '0'
    if real and sfind(flags, 'f', 1, true) then
        local t = now_ms()
        local rec
        local cur = call('HGET', kobs, addr)
        if cur then
            local okj, r = pcall(cjson.decode, cur)
            if okj and type(r) == 'table' then rec = r end
        end
        if rec then
            rec.count = (tonum(rec.count) or 0) + 1
            rec.last = t
        elseif cur or call('HLEN', kobs) - call('HEXISTS', kobs, 'overflow')
                      < id.obsmax then     -- 'overflow' is no address
            rec = { count = 1, first = t, last = t, ev = 0 }
        else
            call('HINCRBY', kobs, 'overflow', 1)
        end
        if rec then
            local state = enforce and (id.from == 0 or t >= id.from) and 'enforce' or 'monitor'
            if t - (tonum(rec.ev) or 0) >= id.win then
                rec.ev = t
                new = '1'
                call('XADD', kev, 'MAXLEN', '~', evmax, '*', 'v', '1',
                           'type', 'identity_violation', 'account', account,
                           'json', cjson.encode({ v = 1, type = 'identity_violation',
                               op = 'identity_violation', at = t,
                               account = account, address = addr,
                               mode = state, count = rec.count }))
            end
            call('HSET', kobs, addr, cjson.encode(rec))
        end
        call('PEXPIRE', kobs, id.obsttl)
        call('ZADD', kobsidx, t, account)
    end
    if enforce and (id.from == 0 or now_ms() >= id.from) then
        return { 'identity', addr, new }
    end
    return nil, { '#identity', enforce and 'early' or 'monitor', addr, new }
end

-- A counter hash holds its width 'w', a bucket field per bucket number,
-- and the running figures 't' (the sum of every bucket in the hash), 'o'
-- and 'n' (bounds: no bucket below o or above n).  The window of a limit
-- is the buckets from lo on (lo = floor((now - per + 1) / w)): up to b =
-- floor(now / w) they cover the last PER and lie within the last PER + w.
-- A bucket above b exists only when Redis' clock went back (an NTP step,
-- a failover to a replica whose clock is behind): its units were counted,
-- so they count, and a step back never lets more through.
--
-- window_all(): the whole hash h (HGETALL) read into the limit's state l
-- (fields: same width, exists, the buckets, those in the window); returns
-- the window's sum.
local function window_all(l, h)
    local fields, same = {}, false
    for i = 1, #h, 2 do
        if h[i] == 'w' then
            same = tonum(h[i + 1]) == l.w
        else
            local bk, u = tonum(h[i]), tonum(h[i + 1])
            if bk and u then fields[#fields + 1] = { bk, u } end
        end
    end
    l.exists, l.same, l.fast = #h > 0, same, false
    l.fields, l.inwin = same and fields or {}, {}
    local sum = 0
    for _, f in ipairs(l.fields) do
        if f[1] >= l.lo then
            sum = sum + f[2]
            l.inwin[#l.inwin + 1] = f
        end
    end
    return sum
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

-- s as a JSON string.  Keys are printable ASCII (keys.c escapes the
-- rest), so only '"' and '\\' need cjson; the rest is quoted as it is
-- (cjson.encode of the whole record cost a tenth of the count).  Two
-- plain finds: the bracket pattern '["\\]' cost Redis 14k instructions
-- per END-OF-MESSAGE, 6 % of it.
local function jstr(s)
    if sfind(s, '"', 1, true) or sfind(s, '\\', 1, true) then return cjson.encode(s) end
    return '"' .. s .. '"'
end

-- reply with the identity note (if any) added: the reply that ends the
-- evaluation
local function fin(idnote, reply)
    if idnote then
        for _, v in ipairs(idnote) do reply[#reply + 1] = v end
    end
    return reply
end

local KINDS = { a = 'account', c = 'client_address', d = 'sender_domain' }

-- The evaluation of one request of a batch (KEYS and ARGV of the batch
-- layout, below: the shared keys KEYS[1..12], the request's own keys
-- from KEYS[kb + 1], its arguments from ARGV[ab + 1]) by the parsed
-- configuration spec; lists: one of the list keys or the account's
-- suspension key exists (else none of them is read).  Time (now) is set
-- by the caller.  It reads the tables where they are: copying a
-- request's 19 keys and arguments into tables of their own cost Redis
-- more than 5k instructions per request.
local function evaluate(KEYS, kb, ARGV, ab, spec, lists)
    local account, client, sender, domain, flags =
        ARGV[ab + 1], ARGV[ab + 2], ARGV[ab + 3], ARGV[ab + 4], ARGV[ab + 5]
    local at_eom = sfind(flags, 'e', 1, true) ~= nil

    -- 1. the allow list, 2. the deny list, 4. the suspension: the caller
    -- asked EXISTS of their keys first, as most requests meet empty lists
    -- and no suspension (a client list exists iff its clientlens hash does)
    if lists then
        if has(KEYS[1], account) then return { 'allow:account' } end
        if client_match(client, KEYS[2], KEYS[3]) then return { 'allow:client' } end
        if account == '' then
            if has(KEYS[4], sender) then return { 'allow:sender' } end
            if domain_match(domain, KEYS[5]) then return { 'allow:domain' } end
        end
    end
    -- the static deny list first (decided by outpostd), then Redis
    if sfind(flags, 'd', 1, true) then return { 'deny:static' } end
    if lists then
        if has(KEYS[6], account) then return { 'deny:account', account } end
        local hit = client_match(client, KEYS[7], KEYS[8])
        if hit then return { 'deny:client', hit } end
        if has(KEYS[9], sender) then return { 'deny:sender', sender } end
        hit = domain_match(domain, KEYS[10])
        if hit then return { 'deny:domain', hit } end
    end

    -- 3. the account's class: its own (acct hash) if the configuration
    -- knows it, else the class argument (default_class, or
    -- unauthenticated_class)
    local class = ARGV[ab + 9]
    local overrides
    if account ~= '' then
        local h = call('HGETALL', KEYS[kb + 2])
        for i = 1, #h, 2 do
            local f, v = h[i], h[i + 1]
            if f == 'class' then
                if spec.classes[v] then class = v end
            elseif ssub(f, 1, 3) == 'ovr' then
                overrides = overrides or {}
                if ssub(f, 1, 4) == 'ovr:' then
                    local name = ssub(f, 5)
                    overrides[name] = overrides[name] or {}
                    overrides[name].max = tonum(v)
                elseif ssub(f, 1, 10) == 'ovr_until:' then
                    local name = ssub(f, 11)
                    overrides[name] = overrides[name] or {}
                    overrides[name].untl = tonum(v)
                end
            end
        end
    end
    local kclass = spec.classes[class]

    -- 4. suspension (an expired hash is gone already; `until` is checked
    -- too, so that a late expiry never keeps an account suspended)
    if lists and account ~= '' then
        local s = call('HMGET', KEYS[kb + 1], 'reason', 'until')
        if s[1] then
            local untl = s[2] or '0'
            local u = tonum(untl)
            local susp = kclass and kclass.susp or 'R'
            if not u or u == 0 then
                return { 'suspended', s[1], '0', susp }
            end
            if u > now_ms() then
                return { 'suspended', s[1], untl, susp }
            end
        end
    end

    -- 4b. the sender identity.  idnote is set in monitor mode (or enforce
    -- before enforce_from) when the sender is not authorized; fin() adds
    -- it to the reply that ends the evaluation.
    local idnote
    local kev = spec.kev and KEYS[11]
    local idaddr = ARGV[ab + 11]
    if account ~= '' and spec.id and kev and idaddr ~= '' then
        local refused
        refused, idnote = identity(KEYS[kb + 4], KEYS[kb + 5], KEYS[12], account, idaddr,
                                   flags, spec.id, kev, spec.evmax)
        if refused then return refused end
    end
    if sfind(flags, 'm', 1, true) then   -- MAIL: nothing is counted here
        return fin(idnote, { 'ok', class, '0' })
    end
    if not kclass then
        return fin(idnote, { 'ok', class, '0' })
    end

    -- 5. the per-message recipient cap
    local um, ur, ub = tonum(ARGV[ab + 6]) or 1, tonum(ARGV[ab + 7]) or 0, tonum(ARGV[ab + 8]) or 0
    if kclass.maxrcpt > 0 and ur > kclass.maxrcpt then
        return fin(idnote, { 'recipients', tostring(kclass.maxrcpt) })
    end

    -- A message counted before (Postfix retried the same END-OF-MESSAGE)
    -- is admitted again without checking or counting; an undone count
    -- ("[]") does not count as counted.
    local eomkey = KEYS[kb + 3]
    local dedupe = at_eom and eomkey ~= ''
        and not sfind(flags, 'n', 1, true)
    if dedupe then
        local v = call('GET', eomkey)
        if v and v ~= '[]' then return fin(idnote, { 'ok', class, 'dup' }) end
    end

    -- 6. the class's limits.  Fast path, one HMGET of 'w', 't', 'o' (and
    -- at END-OF-MESSAGE 'n' and the bucket b, for the count): when every
    -- bucket lies in the window (lo <= o) the sum is t.  Otherwise (a
    -- bucket aged out, a hash of an older version, another width) the
    -- whole hash is read (HGETALL).  A limit's state l is kept only when
    -- it is used: to count (END-OF-MESSAGE), to refuse, or after a full
    -- read.
    -- absent: the single layout's KEYS indexes with no counter for this
    -- request (e.g. a client_address limit for a client that is not an IP
    -- address): "14,17".  Counter key k (KEYS[13 + k] of one request
    -- alone) is KEYS[kb + 5 + k] here.
    local absent
    local absarg = ARGV[ab + 10]
    if absarg ~= '' then
        absent = {}
        for idx in string.gmatch(absarg, '%d+') do absent[tonum(idx)] = true end
    end
    local kc = kb - 8
    local limits, shadows = {}, nil
    local refuse, exceeds
    for _, L in ipairs(kclass.limits) do
        local key = not (absent and absent[L.kidx]) and KEYS[kc + L.kidx]
        if key and key ~= '' then
            local max, per, w, name = L.max, L.per, L.w, L.name
            local o = overrides and overrides[name]
            if o and o.max and (not o.untl or o.untl == 0 or o.untl > now_ms()) then
                max = o.max
            end
            local u = L.cnt == 'm' and um or L.cnt == 'r' and ur or ub
            if not at_eom and u < 1 then u = 1 end   -- RCPT: is it exhausted?
            -- the bucket and the window's low end, once per call and limit
            -- (kept in L, which lives as long as the parsed configuration)
            local t = now_ms()
            if L.at ~= t then
                L.at, L.b, L.lo, L.bs = t, floor(t / w), floor((t - per + 1) / w), nil
            end
            local b, lo, bs = L.b, L.lo, nil
            local m
            if at_eom then
                bs = L.bs
                if not bs then bs = fmt(b); L.bs = bs end
                m = call('HMGET', key, 'w', 't', 'o', 'n', bs)
            else
                m = call('HMGET', key, 'w', 't', 'o')
            end
            local sum, fresh
            if m[1] == L.ws or tonum(m[1]) == w then
                local mo = tonum(m[3])
                if mo and mo >= lo then
                    sum = tonum(m[2])
                end
            elseif not m[1] and not at_eom then
                -- no width at all: no bucket counts (what window_all would
                -- find), and a check needs nothing more (a new counter:
                -- every RCPT of an account that has not sent yet)
                sum, fresh = 0, true
            end
            local l
            if not sum or sum + u > max or (u > max and max > 0) then
                l = { name = name, cnt = L.cnt, max = max, per = per, act = L.act,
                      key = key, w = w, b = b, u = u, lo = lo, bs = bs, L = L,
                      exists = not fresh, same = not fresh, fast = not fresh,
                      fields = fresh and {}, inwin = fresh and {} }
                if not sum then
                    sum = window_all(l, call('HGETALL', key))
                end
            end
            if u > max and max > 0 then        -- never admissible: permanent
                if L.shadow then
                    shadows = shadows or {}
                    shadows[#shadows + 1] = name
                elseif not exceeds then
                    exceeds = l
                end
            elseif sum + u > max then
                if L.shadow then
                    shadows = shadows or {}
                    shadows[#shadows + 1] = name
                else
                    if l.fast then          -- the buckets themselves, now
                        window_all(l, call('HGETALL', key))
                    end
                    l.retry = retry_after(l.inwin, sum + u - max, w, per)
                    if not refuse or l.retry > refuse.retry then refuse = l end
                end
            end
            -- what the count needs: a limit read in full is counted from
            -- its buckets (l); one on its running figures from a small
            -- array (a state table per limit was a tenth of the call, with
            -- its garbage): key, bucket b's field, its units (nil: a new
            -- bucket), the units to add, t, L, n as read, b
            if at_eom then
                limits[#limits + 1] = l and not l.fast and l
                    or { key, bs, tonum(m[5]), u, sum, L, m[4], b }
            end
        end
    end
    if exceeds then
        return fin(idnote, { 'exceeds', exceeds.name, exceeds.act, tostring(exceeds.max),
                     tostring(exceeds.per), exceeds.cnt, class })
    end
    if refuse then
        -- one limit_reached event per counter per events.limit_window; the
        -- time of the last one is the counter hash's field 'e' (not a bucket)
        if kev then
            local last = tonum(call('HGET', refuse.key, 'e')) or 0
            if now_ms() - last >= spec.limwin then
                call('HSET', refuse.key, 'e', fmt(now_ms()))
                if not refuse.exists then
                    call('PEXPIRE', refuse.key, refuse.L.ttl)
                end
                call('XADD', kev, 'MAXLEN', '~', spec.evmax, '*', 'v', '1',
                           'type', 'limit_reached', 'account', account,
                           'json', cjson.encode({ v = 1, type = 'limit_reached', at = now_ms(),
                               account = account, limit = refuse.name, class = class,
                               key = KINDS[smatch(refuse.key, '{(%a):') or 'a'],
                               max = refuse.max, per = refuse.per }))
            end
        end
        return fin(idnote, { 'limit', refuse.name, refuse.act, tostring(refuse.max),
                     tostring(refuse.per), refuse.cnt, tostring(refuse.retry), class })
    end

    -- 7. END-OF-MESSAGE: count every limit of the class, once per message
    local counted = '0'
    if at_eom then
        local record = {}
        for _, l in ipairs(limits) do
            if l[1] then
                -- every bucket is in the window: one HSET of the bucket
                -- (read in this same atomic call), t and n.  The TTL is set
                -- when a bucket is created: it then outlasts the newest
                -- bucket's time in the window, so it needs no refresh while
                -- that bucket takes counts.  (n and the TTL change only
                -- with a new bucket, as an existing one made n >= b, and
                -- not after Redis' clock went back (n > b), when a newer
                -- bucket set both already)
                local key, bs, cur, u, t, L = l[1], l[2], l[3], l[4], l[5], l[6]
                if u > 0 then
                    local n, b = l[7], l[8]
                    if cur or (tonum(n) or 0) > b then
                        call('HSET', key, bs, fmt((cur or 0) + u), 't', fmt(t + u))
                    else
                        call('HSET', key, bs, fmt(u), 't', fmt(t + u), 'n', bs)
                        call('PEXPIRE', key, L.ttl)
                    end
                    record[#record + 1] = '[' .. jstr(key) .. ',"' .. bs .. '","' .. fmt(u) .. '"]'
                end
            elseif l.u > 0 then
                if not l.same and l.exists then
                    call('DEL', l.key)      -- width changed: start again
                    l.fields = {}
                end
                -- drop the buckets that left the window (for good: lo only
                -- grows), then rebuild the running figures
                local stale, t, o, n = {}, l.u, l.b, l.b
                for _, f in ipairs(l.fields) do
                    if f[1] < l.lo then
                        stale[#stale + 1] = fmt(f[1])
                    else            -- (above b only if Redis' clock went back)
                        t = t + f[2]
                        if f[1] < o then o = f[1] end
                        if f[1] > n then n = f[1] end
                    end
                end
                if #stale > 0 then call('HDEL', l.key, unpack(stale)) end
                call('HINCRBY', l.key, l.bs, fmt(l.u))
                call('HSET', l.key, 'w', l.L.ws, 't', fmt(t), 'o', fmt(o), 'n', fmt(n))
                call('PEXPIRE', l.key, l.L.ttl)
                record[#record + 1] = '[' .. jstr(l.key) .. ',"' .. l.bs .. '","'
                                      .. fmt(l.u) .. '"]'
            end
        end
        if dedupe then
            call('SET', eomkey, '[' .. table.concat(record, ',') .. ']', 'PX', '600000')
        end
        counted = '1'
    end
    local reply = fin(idnote, { 'ok', class, counted })   -- before the shadow names: never cut off
    for _, name in ipairs(shadows or {}) do reply[#reply + 1] = name end
    return reply
end

-- The upvalues bound at the first call (see above).
local function bind()
    if not call then floor, tonum, call = math.floor, tonumber, redis.call end
end

-- The error reply of a configuration that spec_of() refused.
local function spec_error(why, id)
    if why == 'OUTPOSTCFG' then
        why = 'OUTPOSTCFG configuration ' .. id .. ' not loaded: send it'
    end
    return redis.error_reply(why)
end

-- FCALL outpost_decide_3: one request (doc/keys.md "The decision
-- Function": KEYS and ARGV as listed there), made a batch of one: its
-- keys and arguments copied into the batch layout (outpostd calls the
-- batch form; this one is for operators and tests).
local function decide(KEYS, ARGV)
    bind()
    now, clock_arg = nil, ARGV[6] or ''
    local spec, why = spec_of(ARGV[11] or '', ARGV[14])
    if not spec then return spec_error(why, ARGV[11] or '') end
    local lists = call('EXISTS', KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7],
                             KEYS[9], KEYS[10], KEYS[11], KEYS[1]) > 0
    -- (a key not passed stays missing, as it was: no events without the
    -- events key, no count without a counter key, no dedupe without KEYS 13)
    local id = spec.id
    local K = { KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9],
                KEYS[10], KEYS[11], spec.kev and KEYS[spec.kev],
                id and KEYS[id.kidx + 2], KEYS[1], KEYS[12], KEYS[13] or '',
                id and KEYS[id.kidx], id and KEYS[id.kidx + 1] }
    for c = 1, spec.nc do K[17 + c] = KEYS[13 + c] or '' end
    local A = { '', '', '', '',
                ARGV[1] or '', ARGV[2] or '', ARGV[3] or '', ARGV[4] or '', ARGV[5] or '',
                ARGV[7] or '', ARGV[8] or '', ARGV[9] or '', ARGV[10] or '',
                ARGV[12] or '', ARGV[13] or '' }
    return evaluate(K, 12, A, 4, spec, lists)
end

-- FCALL outpost_decide_3_batch: R requests of one configuration in one
-- call, evaluated in order as R calls of outpost_decide_3 would be (each
-- sees what the ones before it wrote); what outpostd sends (doc/keys.md
-- "The batch").  What is the same for all of them crosses once: the list
-- keys, P{events}, P{idx}:observed, the configuration's SHA-1 and the
-- clock; and so are done once Redis TIME and the EXISTS of the lists.
--   KEYS: 1-10 the lists (KEYS 2-11 of one request), 11 P{events},
--         12 P{idx}:observed, then per request NK keys: susp, acct, eom,
--         ids, observed, its counter keys (NK - 5 of them, the same
--         number for every request of one configuration)
--   ARGV: 1 SHA-1, 2 clock, 3 R, 4 NK, then per request BATCH_ARGS:
--         account, client, sender, domain, flags, messages, recipients,
--         bytes, class, absent, identity address (ARGV 1-5, 7-10, 12, 13
--         of one request); last, only when asked, the configuration text
-- Returns an array of R replies, each what outpost_decide_3 returns for
-- that request, or an error reply where it failed (the others stand).
local BATCH_ARGS = 11
local function decide_batch(KEYS, ARGV)
    bind()
    local R, nk = tonum(ARGV[3]), tonum(ARGV[4])
    if not R or not nk or R < 1 or nk < 5 or R ~= floor(R) or nk ~= floor(nk)
       or #KEYS ~= 12 + R * nk
       or (#ARGV ~= 4 + R * BATCH_ARGS and #ARGV ~= 5 + R * BATCH_ARGS) then
        return redis.error_reply('ERR outpost: decide: bad batch layout')
    end
    local sha = ARGV[1]
    now, clock_arg = nil, ARGV[2]
    local spec, why = spec_of(sha, ARGV[5 + R * BATCH_ARGS])
    if not spec then return spec_error(why, sha) end
    if nk - 5 < spec.nc then
        return redis.error_reply('ERR outpost: decide: bad batch layout (' .. (nk - 5)
                                 .. ' counter keys, the configuration has ' .. spec.nc .. ')')
    end
    -- (a batch of one asks for its suspension key in the same EXISTS)
    local listsx = call('EXISTS', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6],
                              KEYS[8], KEYS[9], KEYS[10], R == 1 and KEYS[13] or KEYS[1]) > 0
    local out = {}
    for r = 1, R do
        local kb, ab = 12 + (r - 1) * nk, 4 + (r - 1) * BATCH_ARGS
        local lists = listsx
            or (R > 1 and ARGV[ab + 1] ~= '' and call('EXISTS', KEYS[kb + 1]) == 1)
        local ok, rep = pcall(evaluate, KEYS, kb, ARGV, ab, spec, lists)
        if not ok then
            -- redis.call raises {err = ...}; Lua itself a string
            local e = type(rep) == 'table' and rep.err or tostring(rep)
            if not smatch(e, '^%u+ ') then e = 'ERR outpost: decide: ' .. e end
            rep = { err = e }
        end
        out[r] = rep
    end
    return out
end

-- No flags: without allow-oom, Redis refuses the whole call when it is
-- over maxmemory, and outpostd answers as if Redis were unreachable (a full
-- Redis is not pushed further; doc/operations.md "Sizing").
redis.register_function('outpost_decide_3', decide)
redis.register_function('outpost_decide_3_batch', decide_batch)
