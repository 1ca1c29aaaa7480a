--[[
outpost_verdicts.lua - report rspamd's spam verdicts on outbound mail to
outpost's verdict stream in Redis (SPEC §7).

For every message from an authenticated user (task:get_user(), i.e. mail
submitted on 587/465 through the milter) whose final action is one of
`actions` (default: reject, add header, rewrite subject) or whose score
is at least `min_score` (when set), it appends one entry to the stream
P{verdicts} (P = outpost's redis.prefix, default "outpost:"):

  XADD outpost:{verdicts} MAXLEN ~ 100000 * account ALICE weight 1
       recipients 12 queue_id 4Xk2b3 ref <message-id> source rspamd

fields: account     the SASL login (outpost normalises it as it does
                    sasl_username: trimmed, lower-cased by default)
        weight      base weight of this verdict (per action, below)
        recipients  number of SMTP envelope recipients
        queue_id    Postfix queue id (may be empty)
        ref         free text for support: the Message-ID
        source      "rspamd"

Every outpostd consumes the stream as one consumer group (verdicts.group),
applies each verdict exactly once and suspends accounts per their class's
auto_suspend (doc/keys.md "Spam verdicts").  Malformed entries end up in
<prefix>{verdicts}:dead with the reason.

Loading: see contrib/rspamd/README.  Options come from the top-level UCL
section `outpost_verdicts { ... }` (contrib/rspamd/outpost_verdicts.conf);
Redis servers from that section (`servers`, `password`, `db`, `timeout`) or,
when it has none, from rspamd's global `redis { }` settings (local.d/redis.conf).

Written for rspamd 3.x (checked with Debian 12's rspamd 3.4).
]]--

local N = 'outpost_verdicts'

local rspamd_logger = require "rspamd_logger"
local lua_redis = require "lua_redis"
local lua_util = require "lua_util"

local settings = {
  -- the stream: outpost's redis.prefix followed by {verdicts}
  key = 'outpost:{verdicts}',
  -- approximate cap of the stream (XADD MAXLEN ~); 0 = no cap
  maxlen = 100000,
  -- final actions that are a spam verdict, with the weight each reports
  -- (an action set to 0 in the configuration is not reported)
  actions = {
    ['reject'] = 1,
    ['add header'] = 1,
    ['rewrite subject'] = 1,
  },
  -- also report messages scoring at least this much whatever the action
  -- (nil = only the actions above)
  min_score = nil,
  -- weight of a verdict that qualified by min_score only
  score_weight = 1,
  -- the value of the "source" field
  source = 'rspamd',
  -- the symbol's name (disable it per user with settings, as any symbol)
  symbol = 'OUTPOST_VERDICT',
}

local redis_params

-- Numbers go to Redis as plain decimal text: integers without ".0".
local function num(v)
  if v == math.floor(v) then
    return string.format('%d', v)
  end
  local s = string.format('%.3f', v):gsub('%.?0+$', '')
  return s
end

local function verdict_weight(task)
  local action = task:get_metric_action()
  local w = tonumber(settings.actions[action])
  if w and w > 0 then
    return w, action
  end
  if settings.min_score then
    local score = (task:get_metric_score() or {})[1] or 0
    if score >= settings.min_score then
      return settings.score_weight, action
    end
  end
  return nil, action
end

local function outpost_verdict(task)
  -- outbound only: the message was submitted by an authenticated user
  local user = task:get_user()
  if not user or user == '' then
    return
  end
  local weight, action = verdict_weight(task)
  if not weight then
    return
  end

  local rcpts = task:get_recipients('smtp') or {}
  local args = { settings.key }
  if settings.maxlen and settings.maxlen > 0 then
    table.insert(args, 'MAXLEN')
    table.insert(args, '~')
    table.insert(args, num(settings.maxlen))
  end
  local fields = {
    'account', user,
    'weight', num(weight),
    'recipients', num(#rcpts),
    'queue_id', task:get_queue_id() or '',
    'ref', task:get_message_id() or '',
    'source', settings.source,
  }
  table.insert(args, '*')
  for _, v in ipairs(fields) do
    table.insert(args, v)
  end

  local function xadd_cb(err, data)
    if err then
      rspamd_logger.errx(task, '%s: XADD %s failed: %s', N, settings.key, err)
    else
      lua_util.debugm(N, task, 'verdict for %s (%s, weight %s, %s rcpts): %s',
          user, action, weight, #rcpts, data)
    end
  end

  local ret = lua_redis.redis_make_request(task, redis_params,
      settings.key, -- sharding key: always the same stream
      true,         -- a write
      xadd_cb, 'XADD', args)
  if not ret then
    rspamd_logger.errx(task, '%s: cannot send XADD to Redis', N)
  end
end

local opts = rspamd_config:get_all_opt(N)
if opts then
  settings = lua_util.override_defaults(settings, opts)
end

redis_params = lua_redis.parse_redis_server(N)
if not redis_params then
  rspamd_logger.infox(rspamd_config, '%s: no Redis servers configured, not loaded', N)
  lua_util.disable_module(N, 'redis')
else
  rspamd_config:register_symbol({
    name = settings.symbol,
    -- idempotent: runs once the final action and score are known, and
    -- cannot change them
    type = 'idempotent',
    callback = outpost_verdict,
    flags = 'empty,explicit_disable,ignore_passthrough',
    augmentations = { string.format('timeout=%f', redis_params.timeout or 0.0) },
  })
  rspamd_logger.infox(rspamd_config, '%s: reporting verdicts to %s', N, settings.key)
end
