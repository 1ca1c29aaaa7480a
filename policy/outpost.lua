#!lua name=outpost
--[[ outpost.lua - the Redis 7 Functions library "outpost": every state
change of suspensions, classes and overrides, counter resets, dynamic
allow/deny lists and the state marker, plus the read-only usage report.

Loaded with FUNCTION LOAD REPLACE by outpostd at every connect and by
outpostctl when a call finds it missing.  outpostctl calls exactly these
Functions, so `redis-cli FCALL ...` does the same thing, with the same
indexes, audit trail and events (doc/keys.md lists the keys, the argument
order and examples):

  FCALL outpost_suspend 4 P{a:A}:susp P{a:A}:audit P{idx}:suspended P{events}
        A REASON BY FOR_MS NOTE EVMAX                      -> {at, until}
  FCALL outpost_reinstate 4 P{a:A}:susp P{a:A}:audit P{idx}:suspended P{events}
        A BY NOTE EVMAX                                    -> 1 | 0
  FCALL outpost_list_add 3 P{lists}:L:K P{lists}:L:clientlens P{events}
        L K VALUE TEXT BY EVMAX                            -> 1 | 0
  FCALL outpost_list_remove 3 P{lists}:L:K P{lists}:L:clientlens P{events}
        L K VALUE BY EVMAX                                 -> 1 | 0
  FCALL outpost_init 2 P{meta}:marker P{events} BY EVMAX   -> at
  FCALL outpost_class 3 P{a:A}:acct P{a:A}:audit P{events}
        A CLASS BY EVMAX                                   -> 1
  FCALL outpost_override 3 P{a:A}:acct P{a:A}:audit P{events}
        A LIMIT MAX FOR_MS BY EVMAX                        -> 1 | 0
  FCALL outpost_reset 2+N P{a:A}:audit P{events} P{a:A}:rl:LIMIT...
        A LIMIT BY EVMAX                                   -> keys deleted
  FCALL_RO outpost_usage N P{x:ID}:rl:LIMIT... NOW_MS PER_MS...
                                   -> {{used, w_ms, free_next_ms}, ...}
  FCALL outpost_verdict 7 P{verdicts} P{a:A}:strikes P{a:A}:acct P{a:A}:susp
        P{a:A}:audit P{idx}:suspended P{events} GROUP ID A WEIGHT RECIPIENTS
        QUEUE_ID REF SOURCE DEFAULT_CLASS EVMAX NCLASS CLASSLINE...
                                                  -> {1, strikes, suspended} | {0}
  FCALL outpost_verdict_dead 3 P{verdicts} P{verdicts}:dead P{events}
        GROUP ID REASON [FIELD VALUE]...                   -> 1 | 0
  FCALL outpost_verdict_prune 1 P{verdicts} GROUP MIN_IDLE_MS SELF -> deleted
  FCALL outpost_identity 6 P{a:A}:ids P{id:ADDRESS}:who P{a:A}:audit P{events}
        P{a:A}:observed P{idx}:observed
        OP A ADDRESS FOR_MS BY EVMAX                       -> 1 | 0 | -1

outpost_class: CLASS "" removes the field (default_class applies).
outpost_override: MAX "" clears ovr:LIMIT and ovr_until:LIMIT (1 if an
unexpired override was there, else 0); else MAX 0..2^53-1 (0 blocks the
limit), FOR_MS 0 = no expiry.  outpost_reset: LIMIT "" = the caller passes
every counter key of the account to reset, else only the keys of LIMIT;
audit and event only when a key existed.  outpost_usage (no-writes): NOW_MS
"" = Redis TIME; per key the window sum of the buckets
floor((now - PER + 1) / w) .. floor(now / w) as in decide.lua (0 when the hash's `w` is not ceil(PER_MS / 60)), the width,
and the ms until the oldest non-empty bucket leaves the window (0 if none).

Data flow: arguments are validated first, including that the keys are the
documented ones for the account and list given (an account is %XX-escaped
in its keys exactly as keys.c does; the prefix is not checked) (a bad one is an error reply
"ERR outpost: ...", nothing written); time is Redis TIME in ms; then the
state key, its index, the account's audit list (newest first, 100 at most)
and one entry of the events stream (fields type, account, json; capped with
MAXLEN ~ EVMAX).  Every JSON value written is a string or an integer. ]]

local AUDIT_MAX = 100
local FOR_MS_MAX = 100 * 365 * 86400000         -- 100 years
local VALUE_MAX = 1024                          -- bytes of a list entry
local ACCOUNT_MAX = 256                         -- REQUEST_ACCOUNT_MAX
local NAME_MAX = 64                             -- class and limit names (config.c)
local EXACT_MAX = 9007199254740991              -- 2^53-1: exact in Lua

local LISTS = { allow = true, deny = true }
local KINDS = { account = true, client = true, sender = true, domain = true }

local function fail(msg)
    return redis.error_reply('ERR outpost: ' .. msg)
end

-- Redis TIME in milliseconds since the epoch.
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An integer as a decimal string ("%.0f": no exponent for 13+ digits).
local function istr(n)
    return string.format('%.0f', n)
end

-- A non-negative integer argument, or nil.
local function uint(s)
    if type(s) ~= 'string' or not string.match(s, '^%d+$') or #s > 15 then
        return nil
    end
    return tonumber(s)
end

local function nonempty(s)
    return type(s) == 'string' and s ~= ''
end

-- The account as its keys spell it: '{', '}', '%', space, control bytes
-- and bytes >= 0x7f as %XX (doc/keys.md, keys_escape()).
local function escape(account)
    return (string.gsub(account, '[%z\1-\32{}%%\127-\255]', function(c)
        return string.format('%%%02X', string.byte(c))
    end))
end

local function ends_with(s, tail)
    return #s >= #tail and string.sub(s, -#tail) == tail
end

-- An error reply unless keys are P{a:ACCOUNT}:susp, P{a:ACCOUNT}:audit,
-- P{idx}:suspended, P{events} for this account.
local function account_keys(keys, account)
    if not nonempty(account) or #account > ACCOUNT_MAX then
        return fail('account is empty or longer than ' .. ACCOUNT_MAX .. ' bytes')
    end
    local tag = '{a:' .. escape(account) .. '}:'
    if not ends_with(keys[1], tag .. 'susp') or not ends_with(keys[2], tag .. 'audit')
        or not ends_with(keys[3], '{idx}:suspended')
        or not ends_with(keys[4], '{events}') then
        return fail('keys must be P' .. tag .. 'susp P' .. tag ..
                    'audit P{idx}:suspended P{events} for this account')
    end
    return nil
end

-- cjson.encode() of a flat object whose integers are exact: cjson writes
-- at most 14 significant digits ("9.007199254741e+15"), so integers from
-- 10^14 on (an override's max) go through a placeholder.
local function encode(obj)
    local big, copy = {}, {}
    for k, v in pairs(obj) do
        if type(v) == 'number' and math.abs(v) >= 1e14 and v == math.floor(v) then
            local tok = '@@outpostint' .. (#big + 1) .. '@@'   -- no pattern magic
            big[#big + 1] = { tok, istr(v) }
            copy[k] = tok
        else
            copy[k] = v
        end
    end
    local s = cjson.encode(copy)
    for _, b in ipairs(big) do
        s = string.gsub(s, '"' .. b[1] .. '"', b[2], 1)
    end
    return s
end

-- One entry of the events stream (doc/keys.md "Events"): fields v (the
-- schema version), type, account, json (obj with v and type added).
local EVENT_VERSION = 1
local function event(key, evmax, etype, account, obj)
    obj.v = EVENT_VERSION
    obj.type = etype
    if evmax then
        redis.call('XADD', key, 'MAXLEN', '~', istr(evmax), '*', 'v', EVENT_VERSION,
                   'type', etype, 'account', account, 'json', encode(obj))
    else
        redis.call('XADD', key, '*', 'v', EVENT_VERSION, 'type', etype, 'account', account,
                   'json', encode(obj))
    end
end

local function audit(key, obj)
    redis.call('LPUSH', key, encode(obj))
    redis.call('LTRIM', key, 0, AUDIT_MAX - 1)
end

-- Writes a suspension: the record, its index entry, an audit entry and a
-- "suspended" event (extra: more fields for both).  Returns until.
local function put_suspension(ksusp, kaudit, kidx, kevents, evmax, account, reason, by,
                              for_ms, note, at, extra)
    local untl = 0
    if for_ms > 0 then untl = at + for_ms end
    local old = redis.call('HGET', ksusp, 'reason')

    redis.call('DEL', ksusp)              -- a replaced record keeps no stale field
    redis.call('HSET', ksusp, 'reason', reason, 'by', by, 'at', istr(at),
               'until', istr(untl), 'note', note)
    if untl > 0 then
        redis.call('PEXPIREAT', ksusp, istr(untl))
        redis.call('ZADD', kidx, istr(untl), account)
    else
        redis.call('PERSIST', ksusp)
        redis.call('ZADD', kidx, '+inf', account)
    end

    local rec = { op = 'suspend', at = at, by = by, reason = reason,
                  ['until'] = untl, note = note }
    if old then
        rec.replaced = 1
        rec.old_reason = old
    end
    for k, v in pairs(extra or {}) do rec[k] = v end
    audit(kaudit, rec)
    rec.account = account
    event(kevents, evmax, 'suspended', account, rec)
    return untl
end

-- KEYS susp audit idx events; ARGV ACCOUNT REASON BY FOR_MS NOTE EVMAX
local function suspend(keys, args)
    if #keys ~= 4 or #args ~= 6 then
        return fail('usage: outpost_suspend 4 SUSP AUDIT IDX EVENTS ACCOUNT REASON BY FOR_MS NOTE EVMAX')
    end
    local account, reason, by, note = args[1], args[2], args[3], args[5]
    local for_ms, evmax = uint(args[4]), uint(args[6])
    local e = account_keys(keys, account)
    if e then return e end
    if not nonempty(reason) then return fail('empty reason') end
    if not nonempty(by) then return fail('empty by') end
    if not for_ms or for_ms > FOR_MS_MAX then
        return fail('FOR_MS is not an integer from 0 to ' .. istr(FOR_MS_MAX))
    end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end

    local at = now_ms()
    local untl = put_suspension(keys[1], keys[2], keys[3], keys[4], evmax, account,
                                reason, by, for_ms, note, at, nil)
    return { at, untl }
end

-- KEYS susp audit idx events; ARGV ACCOUNT BY NOTE EVMAX
local function reinstate(keys, args)
    if (#keys ~= 4 and #keys ~= 5) or #args ~= 4 then
        return fail('usage: outpost_reinstate 4|5 SUSP AUDIT IDX EVENTS [STRIKES] ' ..
                    'ACCOUNT BY NOTE EVMAX')
    end
    local account, by, note, evmax = args[1], args[2], args[3], uint(args[4])
    local e = account_keys(keys, account)
    if e then return e end
    if keys[5] and not ends_with(keys[5], '{a:' .. escape(account) .. '}:strikes') then
        return fail('the fifth key must be P{a:' .. escape(account) .. '}:strikes')
    end
    if not nonempty(by) then return fail('empty by') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end
    -- a reinstated account starts from zero strikes (the audit keeps them);
    -- after the checks: a refused call writes nothing
    if keys[5] then redis.call('DEL', keys[5]) end

    -- an expired suspension is already gone: Redis never returns it
    local old = redis.call('HGET', keys[1], 'reason')
    redis.call('ZREM', keys[3], account)
    if not old then
        return 0
    end
    local at = now_ms()
    redis.call('DEL', keys[1])
    local rec = { op = 'reinstate', at = at, by = by, note = note, reason = old }
    audit(keys[2], rec)
    rec.account = account
    event(keys[4], evmax, 'reinstated', account, rec)
    return 1
end

-- Common checks of the list Functions; returns an error reply or nil.
local function list_args(keys, args, nargs, usage)
    if #keys ~= 3 or #args ~= nargs then return fail('usage: ' .. usage) end
    if not LISTS[args[1]] then return fail('list is not allow or deny') end
    if not KINDS[args[2]] then
        return fail('kind is not account, client, sender or domain')
    end
    if not nonempty(args[3]) or #args[3] > VALUE_MAX then
        return fail('value is empty or longer than ' .. VALUE_MAX .. ' bytes')
    end
    local base = '{lists}:' .. args[1] .. ':'
    if not ends_with(keys[1], base .. args[2])
        or not ends_with(keys[2], base .. 'clientlens')
        or not ends_with(keys[3], '{events}') then
        return fail('keys must be P' .. base .. args[2] .. ' P' .. base ..
                    'clientlens P{events}')
    end
    if args[2] == 'client' then
        local len = string.match(args[3], '^' .. string.rep('%x', 32) .. '/(%d%d?%d?)$')
        if not len or tonumber(len) > 128 then
            return fail('client value is not HEX32/LEN')
        end
    end
    return nil
end

-- KEYS entries clientlens events; ARGV L K VALUE TEXT BY EVMAX
local function list_add(keys, args)
    local e = list_args(keys, args, 6,
        'outpost_list_add 3 LIST CLIENTLENS EVENTS L K VALUE TEXT BY EVMAX')
    if e then return e end
    local l, k, value, text, by, evmax = args[1], args[2], args[3], args[4],
                                          args[5], uint(args[6])
    if not nonempty(by) then return fail('empty by') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end

    local at = now_ms()
    local added = redis.call('HSETNX', keys[1], value,
                             cjson.encode({ text = text, by = by, at = at }))
    if added == 0 then
        return 0
    end
    if k == 'client' then
        redis.call('HINCRBY', keys[2], string.match(value, '/(%d+)$'), 1)
    end
    local account = ''
    if k == 'account' then account = value end
    event(keys[3], evmax, 'list_add', account,
          { op = 'list_add', list = l, kind = k, value = value, text = text,
            by = by, at = at })
    return 1
end

-- KEYS entries clientlens events; ARGV L K VALUE BY EVMAX
local function list_remove(keys, args)
    local e = list_args(keys, args, 5,
        'outpost_list_remove 3 LIST CLIENTLENS EVENTS L K VALUE BY EVMAX')
    if e then return e end
    local l, k, value, by, evmax = args[1], args[2], args[3], args[4], uint(args[5])
    if not nonempty(by) then return fail('empty by') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end

    if redis.call('HDEL', keys[1], value) == 0 then
        return 0
    end
    if k == 'client' then
        local len = string.match(value, '/(%d+)$')
        if redis.call('HINCRBY', keys[2], len, -1) <= 0 then
            redis.call('HDEL', keys[2], len)
        end
    end
    local account = ''
    if k == 'account' then account = value end
    event(keys[3], evmax, 'list_remove', account,
          { op = 'list_remove', list = l, kind = k, value = value, by = by,
            at = now_ms() })
    return 1
end

-- KEYS marker events; ARGV BY EVMAX.
local function init(keys, args)
    if #keys ~= 2 or #args ~= 2 then
        return fail('usage: outpost_init 2 MARKER EVENTS BY EVMAX')
    end
    local by = args[1]
    if not nonempty(by) then return fail('empty by') end
    local evmax = uint(args[2])
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end
    if not ends_with(keys[1], '{meta}:marker') or not ends_with(keys[2], '{events}') then
        return fail('keys must be P{meta}:marker P{events}')
    end
    local at = now_ms()
    redis.call('SET', keys[1], cjson.encode({ at = at, by = by, version = 1 }))
    event(keys[2], evmax, 'init', '', { op = 'init', at = at, by = by, version = 1 })
    return at
end

-- A class or limit name as config.c allows it: 1-64 of A-Z a-z 0-9 _ . -
local function is_name(s)
    return type(s) == 'string' and #s >= 1 and #s <= NAME_MAX
        and string.match(s, '^[%w_%.%-]+$') ~= nil
end

-- An integer 0..2^53-1 (decimal digits only), or nil.
local function exact(s)
    if type(s) ~= 'string' or not string.match(s, '^%d+$') or #s > 16 then
        return nil
    end
    local n = tonumber(s)
    if n > EXACT_MAX then return nil end
    return n
end

-- An error reply unless keys are P{a:ACCOUNT}:acct, P{a:ACCOUNT}:audit,
-- P{events} for this account.
local function acct_keys(keys, account)
    if not nonempty(account) or #account > ACCOUNT_MAX then
        return fail('account is empty or longer than ' .. ACCOUNT_MAX .. ' bytes')
    end
    local tag = '{a:' .. escape(account) .. '}:'
    if not ends_with(keys[1], tag .. 'acct') or not ends_with(keys[2], tag .. 'audit')
        or not ends_with(keys[3], '{events}') then
        return fail('keys must be P' .. tag .. 'acct P' .. tag ..
                    'audit P{events} for this account')
    end
    return nil
end

-- KEYS acct audit events; ARGV ACCOUNT CLASS BY EVMAX
local function class(keys, args)
    if #keys ~= 3 or #args ~= 4 then
        return fail('usage: outpost_class 3 ACCT AUDIT EVENTS ACCOUNT CLASS BY EVMAX')
    end
    local account, cls, by, evmax = args[1], args[2], args[3], uint(args[4])
    local e = acct_keys(keys, account)
    if e then return e end
    if cls ~= '' and not is_name(cls) then
        return fail('class is not "" or a name (1 to 64 of A-Z a-z 0-9 _ . -)')
    end
    if not nonempty(by) then return fail('empty by') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end

    local at = now_ms()
    local old = redis.call('HGET', keys[1], 'class') or ''
    if cls == '' then
        redis.call('HDEL', keys[1], 'class')
    else
        redis.call('HSET', keys[1], 'class', cls)
    end
    local rec = { op = 'class', at = at, by = by, class = cls, old_class = old }
    audit(keys[2], rec)
    rec.account = account
    event(keys[3], evmax, 'class', account, rec)
    return 1
end

-- KEYS acct audit events; ARGV ACCOUNT LIMIT MAX FOR_MS BY EVMAX
local function override(keys, args)
    if #keys ~= 3 or #args ~= 6 then
        return fail('usage: outpost_override 3 ACCT AUDIT EVENTS ACCOUNT LIMIT MAX FOR_MS BY EVMAX')
    end
    local account, limit, by = args[1], args[2], args[5]
    local for_ms, evmax = uint(args[4]), uint(args[6])
    local e = acct_keys(keys, account)
    if e then return e end
    if not is_name(limit) then
        return fail('limit is not a name (1 to 64 of A-Z a-z 0-9 _ . -)')
    end
    local max = nil
    if args[3] ~= '' then
        max = exact(args[3])
        if not max then
            return fail('MAX is not "" or an integer from 0 to ' .. istr(EXACT_MAX))
        end
    end
    if not for_ms or for_ms > FOR_MS_MAX then
        return fail('FOR_MS is not an integer from 0 to ' .. istr(FOR_MS_MAX))
    end
    if not nonempty(by) then return fail('empty by') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end

    local fmax, funtil = 'ovr:' .. limit, 'ovr_until:' .. limit
    local at = now_ms()
    local cur = redis.call('HMGET', keys[1], fmax, funtil)
    local old_until = tonumber(cur[2]) or 0
    -- an override whose expiry passed is no override (decide.lua ignores it)
    local active = cur[1] ~= false and (old_until == 0 or old_until > at)
    local rec
    if not max then
        redis.call('HDEL', keys[1], fmax, funtil)
        if not active then
            return 0
        end
        rec = { op = 'override_clear', at = at, by = by, limit = limit,
                old_max = tonumber(cur[1]) or cur[1] }
    else
        local untl = 0
        if for_ms > 0 then
            untl = at + for_ms
            redis.call('HSET', keys[1], fmax, istr(max), funtil, istr(untl))
        else
            redis.call('HSET', keys[1], fmax, istr(max))
            redis.call('HDEL', keys[1], funtil)
        end
        rec = { op = 'override', at = at, by = by, limit = limit, max = max,
                ['until'] = untl }
        if active then rec.old_max = tonumber(cur[1]) or cur[1] end
    end
    audit(keys[2], rec)
    rec.account = account
    event(keys[3], evmax, rec.op, account, rec)
    return 1
end

-- KEYS audit events counter...; ARGV ACCOUNT LIMIT BY EVMAX
local function reset(keys, args)
    if #keys < 2 or #args ~= 4 then
        return fail('usage: outpost_reset 2+N AUDIT EVENTS COUNTER... ACCOUNT LIMIT BY EVMAX')
    end
    local account, limit, by, evmax = args[1], args[2], args[3], uint(args[4])
    if not nonempty(account) or #account > ACCOUNT_MAX then
        return fail('account is empty or longer than ' .. ACCOUNT_MAX .. ' bytes')
    end
    if limit ~= '' and not is_name(limit) then
        return fail('limit is not "" or a name (1 to 64 of A-Z a-z 0-9 _ . -)')
    end
    local tag = '{a:' .. escape(account) .. '}:'
    if not ends_with(keys[1], tag .. 'audit') or not ends_with(keys[2], '{events}') then
        return fail('keys must be P' .. tag .. 'audit P{events} P' .. tag ..
                    'rl:LIMIT... for this account')
    end
    for i = 3, #keys do
        local k = keys[i]
        local ok
        if limit ~= '' then
            ok = ends_with(k, tag .. 'rl:' .. limit)
        else
            local name = string.match(k, '}:rl:([^{}:]+)$')
            ok = name ~= nil and is_name(name) and ends_with(k, tag .. 'rl:' .. name)
        end
        if not ok then
            return fail('counter keys must be P' .. tag .. 'rl:' ..
                        (limit ~= '' and limit or 'LIMIT') .. ' for this account')
        end
    end
    if not nonempty(by) then return fail('empty by') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end

    local n = 0
    for i = 3, #keys do
        n = n + redis.call('DEL', keys[i])
    end
    if n == 0 then
        return 0
    end
    local rec = { op = 'reset', at = now_ms(), by = by, limit = limit, deleted = n }
    audit(keys[1], rec)
    rec.account = account
    event(keys[2], evmax, 'reset', account, rec)
    return n
end

-- KEYS counter...; ARGV NOW_MS PER_MS... (one per key).  Read-only.
local function usage(keys, args)
    if #args ~= #keys + 1 then
        return fail('usage: outpost_usage N COUNTER... NOW_MS PER_MS...')
    end
    local now = args[1]
    if now == '' then
        now = now_ms()
    else
        now = exact(now)
        if not now then return fail('NOW_MS is not "" or an integer') end
    end
    local out = {}
    for i = 1, #keys do
        local per = exact(args[i + 1])
        if not per or per < 1 then
            return fail('PER_MS is not an integer >= 1')
        end
        local w = math.ceil(per / 60)
        local lo = math.floor((now - per + 1) / w)
        local h = redis.call('HGETALL', keys[i])
        local same, used, oldest = false, 0, nil
        for j = 1, #h, 2 do
            if h[j] == 'w' then
                same = tonumber(h[j + 1]) == w
            end
        end
        if same then
            for j = 1, #h, 2 do
                local bk, u = tonumber(h[j]), tonumber(h[j + 1])
                -- the window as decide.lua counts it: from lo on, a bucket
                -- above now's included (Redis' clock went back)
                if h[j] ~= 'w' and bk and u and bk >= lo then
                    used = used + u
                    if u > 0 and (not oldest or bk < oldest) then oldest = bk end
                end
            end
        end
        local free_next = 0
        if used > 0 and oldest then
            free_next = (oldest + 1) * w + per - 1 - now
        end
        out[i] = { used, w, free_next }
    end
    return out
end

-- An identity in normal form (src/identity.c): 1..254 bytes, no space or
-- control byte, "local@domain" or "@domain", the domain without upper-case
-- ASCII and not ending in '.'; nil or the reason.
local ADDR_MAX = 254
local function identity_bad(a)
    if not nonempty(a) or #a > ADDR_MAX then return 'address is empty or longer than 254 bytes' end
    if string.find(a, '[%z\1-\32\127]') then return 'address contains a space or control byte' end
    local dom = string.match(a, '@([^@]*)$')
    if not dom or dom == '' then return 'address has no domain after @' end
    if string.find(dom, '%u') or string.sub(dom, -1) == '.' or string.sub(dom, 1, 1) == '.' then
        return 'address is not in normal form (domain lower-case, no trailing dot)'
    end
    return nil
end

local ID_OPS = { add = true, verify = true, grant = true, remove = true }

-- KEYS ids who audit events observed obsidx;
-- ARGV OP ACCOUNT ADDRESS FOR_MS BY EVMAX
--   add     a pending grant; 0 if the account holds the address already
--   verify  the grant becomes verified; -1 if there is none, 0 if it was
--   grant   verified, created if need be (adopt --verified, bulk import)
--   remove  both sides deleted; -1 if there was none
-- FOR_MS "" keeps the grant's expiry (none for a new one), 0 removes it,
-- N expires the grant N ms from now.  add and grant drop the address from
-- the account's observed senders.
local function identity(keys, args)
    if #keys ~= 6 or #args ~= 6 then
        return fail('usage: outpost_identity 6 IDS WHO AUDIT EVENTS OBSERVED OBSIDX ' ..
                    'OP ACCOUNT ADDRESS FOR_MS BY EVMAX')
    end
    local op, account, addr, by = args[1], args[2], args[3], args[5]
    local evmax = uint(args[6])
    if not ID_OPS[op] then return fail('OP is not add, verify, grant or remove') end
    if not nonempty(account) or #account > ACCOUNT_MAX then
        return fail('account is empty or longer than ' .. ACCOUNT_MAX .. ' bytes')
    end
    local bad = identity_bad(addr)
    if bad then return fail(bad) end
    local tag = '{a:' .. escape(account) .. '}:'
    if not ends_with(keys[1], tag .. 'ids')
        or not ends_with(keys[2], '{id:' .. escape(addr) .. '}:who')
        or not ends_with(keys[3], tag .. 'audit') or not ends_with(keys[4], '{events}')
        or not ends_with(keys[5], tag .. 'observed')
        or not ends_with(keys[6], '{idx}:observed') then
        return fail('keys must be P' .. tag .. 'ids P{id:ADDRESS}:who P' .. tag ..
                    'audit P{events} P' .. tag .. 'observed P{idx}:observed')
    end
    local for_ms = nil
    if args[4] ~= '' then
        for_ms = uint(args[4])
        if not for_ms or for_ms > FOR_MS_MAX then
            return fail('FOR_MS is not "" or an integer from 0 to ' .. istr(FOR_MS_MAX))
        end
    end
    if not nonempty(by) then return fail('empty by') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end

    -- an address granted (or being granted) is no longer "observed"
    local function unobserve()
        redis.call('HDEL', keys[5], addr)
        local left = redis.call('HLEN', keys[5])
        -- only the count of unrecorded uses left: nothing to adopt any more
        if left == 1 and redis.call('HEXISTS', keys[5], 'overflow') == 1 then
            redis.call('DEL', keys[5])
            left = 0
        end
        if left == 0 then
            redis.call('ZREM', keys[6], account)
        end
    end
    local at = now_ms()
    local cur = redis.call('HGET', keys[1], addr)
    local g
    if cur then
        local okj, v = pcall(cjson.decode, cur)
        if okj and type(v) == 'table' then g = v else g = {} end
    end
    local rec = { op = 'identity_' .. op, at = at, by = by, address = addr }
    if op == 'remove' then
        if not cur then
            redis.call('HDEL', keys[2], account)        -- heal a one-sided entry
            return -1
        end
        redis.call('HDEL', keys[1], addr)
        redis.call('HDEL', keys[2], account)
        rec.state = g.state
    else
        if op == 'verify' and not cur then return -1 end
        if op == 'add' and cur then
            unobserve()
            return 0
        end
        local old_state, old_until = g and g.state, g and tonumber(g['until']) or 0
        g = g or { at = at, by = by }
        if op == 'add' then
            g.state = 'pending'
        else
            g.state = 'verified'
            g.verified_at = g.verified_at or at
            g.verified_by = g.verified_by or by
        end
        g.at = tonumber(g.at) or at
        if for_ms then
            g['until'] = for_ms > 0 and at + for_ms or 0
        else
            g['until'] = old_until
        end
        if op ~= 'verify' then unobserve() end
        if cur and old_state == g.state and old_until == g['until'] then
            return 0
        end
        local v = cjson.encode(g)
        redis.call('HSET', keys[1], addr, v)
        redis.call('HSET', keys[2], account, v)
        rec.state = g.state
        rec['until'] = g['until']
        if old_state then rec.old_state = old_state end
    end
    audit(keys[3], rec)
    rec.account = account
    event(keys[4], evmax, rec.op, account, rec)
    return 1
end

-- ---- spam verdicts (doc/keys.md "Spam verdicts") -------------------------

local VERDICT_STRIKES_MAX = 10000               -- members of a strikes ZSET
local DEAD_MAX = 10000                          -- dead-letter stream cap

-- KEYS stream dead events; ARGV GROUP ID REASON FIELD VALUE ...
-- A malformed verdict: acknowledged and kept in the dead-letter stream,
-- in the same call, so it is neither lost nor retried.  1, or 0 when the
-- entry was not pending for the group (handled already).
local function verdict_dead(keys, args)
    if #keys ~= 3 or #args < 3 or #args % 2 ~= 1 or #args > 3 + 2 * 64 then
        return fail('usage: outpost_verdict_dead 3 STREAM DEAD EVENTS GROUP ID REASON ' ..
                    '[FIELD VALUE]... (at most 64 pairs)')
    end
    if not ends_with(keys[1], '{verdicts}') or not ends_with(keys[2], '{verdicts}:dead')
        or not ends_with(keys[3], '{events}') then
        return fail('keys must be P{verdicts} P{verdicts}:dead P{events}')
    end
    if redis.call('XACK', keys[1], args[1], args[2]) == 0 then
        return 0
    end
    local fields = { 'id', args[2], 'error', args[3] }
    for i = 4, #args do fields[#fields + 1] = args[i] end
    redis.call('XADD', keys[2], 'MAXLEN', '~', DEAD_MAX, '*', unpack(fields))
    return 1
end

-- KEYS stream strikes acct susp audit idx events;
-- ARGV GROUP ID ACCOUNT WEIGHT RECIPIENTS QUEUE_ID REF SOURCE DEFAULT_CLASS EVMAX
--      NCLASS "NAME\tK\tWITHIN_MS\tFOR_MS\tRPW\tWITHIN_TEXT"...
-- Applied exactly once: the entry is acknowledged in this same call, and a
-- call for an entry no longer pending does nothing (returns {0}).
local function verdict(keys, args)
    if #keys ~= 7 or #args < 11 then
        return fail('usage: outpost_verdict 7 STREAM STRIKES ACCT SUSP AUDIT IDX EVENTS ' ..
                    'GROUP ID ACCOUNT WEIGHT RECIPIENTS QUEUE_ID REF SOURCE ' ..
                    'DEFAULT_CLASS EVMAX NCLASS CLASSLINE...')
    end
    local group, id, account = args[1], args[2], args[3]
    local weight, rcpts = tonumber(args[4]), uint(args[5])
    local qid, ref, source, defclass = args[6], args[7], args[8], args[9]
    local evmax, nclass = uint(args[10]), uint(args[11])
    if not nonempty(account) or #account > ACCOUNT_MAX then
        return fail('account is empty or longer than ' .. ACCOUNT_MAX .. ' bytes')
    end
    local tag = '{a:' .. escape(account) .. '}:'
    if not ends_with(keys[1], '{verdicts}') or not ends_with(keys[2], tag .. 'strikes')
        or not ends_with(keys[3], tag .. 'acct') or not ends_with(keys[4], tag .. 'susp')
        or not ends_with(keys[5], tag .. 'audit')
        or not ends_with(keys[6], '{idx}:suspended')
        or not ends_with(keys[7], '{events}') then
        return fail('keys must be P{verdicts} P' .. tag .. 'strikes P' .. tag .. 'acct P' ..
                    tag .. 'susp P' .. tag .. 'audit P{idx}:suspended P{events}')
    end
    local idms = tonumber(string.match(id, '^(%d+)%-%d+$') or '')
    if not idms then return fail('ID is not a stream entry id') end
    if not weight or weight <= 0 or weight > 1000 then
        return fail('WEIGHT is not a number from 0 (exclusive) to 1000')
    end
    if not rcpts then return fail('RECIPIENTS is not an integer') end
    if not evmax or evmax < 1 then return fail('EVMAX is not an integer >= 1') end
    if not nclass or #args ~= 11 + nclass then return fail('NCLASS does not match') end
    local classes = {}
    for i = 12, 11 + nclass do
        -- K and RPW as C's "%.6g" writes them: 1000000 is "1e+06"
        local name, k, within, for_ms, rpw, wtext = string.match(args[i],
            '^([^\t]+)\t([^\t]+)\t(%d+)\t(%d+)\t([^\t]+)\t([^\t]*)$')
        k, rpw = tonumber(k), tonumber(rpw)
        if not name or not k or not rpw or not (k >= 0) or not (rpw >= 0) then
            return fail('bad class line ' .. (i - 11))
        end
        classes[name] = { k = k, within = tonumber(within),
                          for_ms = tonumber(for_ms), rpw = rpw, wtext = wtext }
    end

    if redis.call('XACK', keys[1], group, id) == 0 then
        return { 0 }
    end
    local at = now_ms()
    local cls = redis.call('HGET', keys[3], 'class')
    if not cls or not classes[cls] then cls = defclass end
    local c = classes[cls] or { k = 0, within = 86400000, for_ms = 0, rpw = 0, wtext = '24h' }
    -- one verdict weighs WEIGHT x (1 + recipients / recipients_per_weight)
    local w = weight
    if c.rpw > 0 then w = weight * (1 + rcpts / c.rpw) end
    w = math.floor(w * 1000 + 0.5) / 1000
    -- a strike counts from when the verdict was reported (its entry id),
    -- never from the future
    local when = math.min(idms, at)
    redis.call('ZREMRANGEBYSCORE', keys[2], '-inf', '(' .. istr(at - c.within))
    local strikes = 0
    if when > at - c.within then
        redis.call('ZADD', keys[2], istr(when), id .. ' ' .. w)
        redis.call('ZREMRANGEBYRANK', keys[2], 0, -(VERDICT_STRIKES_MAX + 1))
    end
    for _, m in ipairs(redis.call('ZRANGE', keys[2], 0, -1)) do
        strikes = strikes + (tonumber(string.match(m, ' ([%d%.]+)$')) or 0)
    end
    redis.call('PEXPIRE', keys[2], c.within)

    local rec = { op = 'verdict', at = at, id = id, weight = w, recipients = rcpts,
                  queue_id = qid, ref = ref, source = source,
                  strikes = math.floor(strikes * 1000 + 0.5) / 1000, suspended = 0 }
    local suspended_now = false
    if c.k > 0 and strikes >= c.k and not redis.call('HGET', keys[4], 'reason') then
        suspended_now = true
        rec.suspended = 1
        redis.call('DEL', keys[2])      -- the strikes are used up (the audit keeps them)
    end
    audit(keys[5], rec)
    rec.account = account
    event(keys[7], evmax, 'verdict', account, rec)
    if suspended_now then
        put_suspension(keys[4], keys[5], keys[6], keys[7], evmax, account,
                       'auto: ' .. c.k .. ' verdicts in ' .. c.wtext, 'auto', c.for_ms,
                       'verdict ' .. id, at, { strikes = rec.strikes, verdict = id })
    end
    return { 1, tostring(rec.strikes), suspended_now and 1 or 0 }
end

-- KEYS stream; ARGV GROUP MIN_IDLE_MS SELF -> consumers deleted.
-- Every outpostd process is a consumer of its own; those of processes
-- gone would pile up in the group.  A consumer with nothing pending, idle
-- for MIN_IDLE_MS, other than SELF, is deleted: checked and deleted in
-- this one atomic call, so no entry read in between can be lost (a live
-- consumer deleted this way is created again by its next read).
local function verdict_prune(keys, args)
    if #keys ~= 1 or #args ~= 3 then
        return fail('usage: outpost_verdict_prune 1 STREAM GROUP MIN_IDLE_MS SELF')
    end
    if not ends_with(keys[1], '{verdicts}') then return fail('key must be P{verdicts}') end
    local min_idle = uint(args[2])
    if not min_idle then return fail('MIN_IDLE_MS is not an integer') end
    local list = redis.pcall('XINFO', 'CONSUMERS', keys[1], args[1])
    if type(list) ~= 'table' or list.err then return 0 end     -- no group (yet)
    local n = 0
    for _, c in ipairs(list) do
        local f = {}
        for i = 1, #c - 1, 2 do f[c[i]] = c[i + 1] end
        if f.name and f.name ~= args[3] and tonumber(f.pending) == 0
            and (tonumber(f.idle) or 0) >= min_idle then
            redis.call('XGROUP', 'DELCONSUMER', keys[1], args[1], f.name)
            n = n + 1
        end
    end
    return n
end

redis.register_function{ function_name = 'outpost_verdict', callback = verdict, flags = {} }
redis.register_function{ function_name = 'outpost_verdict_prune', callback = verdict_prune,
                         flags = {} }
redis.register_function{ function_name = 'outpost_verdict_dead', callback = verdict_dead,
                         flags = {} }
redis.register_function{ function_name = 'outpost_identity', callback = identity, flags = {} }
redis.register_function{ function_name = 'outpost_suspend', callback = suspend, flags = {} }
redis.register_function{ function_name = 'outpost_reinstate', callback = reinstate, flags = {} }
redis.register_function{ function_name = 'outpost_list_add', callback = list_add, flags = {} }
redis.register_function{ function_name = 'outpost_list_remove', callback = list_remove, flags = {} }
redis.register_function{ function_name = 'outpost_init', callback = init, flags = {} }
redis.register_function{ function_name = 'outpost_class', callback = class, flags = {} }
redis.register_function{ function_name = 'outpost_override', callback = override, flags = {} }
redis.register_function{ function_name = 'outpost_reset', callback = reset, flags = {} }
redis.register_function{ function_name = 'outpost_usage', callback = usage, flags = { 'no-writes' } }
