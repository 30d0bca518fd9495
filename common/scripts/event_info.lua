-- event_info: what GET /v1/events/{id} shows, with the state judged by Redis TIME.
-- KEYS: 1 meta, 2 survey, 3 stock
-- Returns nil for an unknown event, else {title, opens_at, closes_at, state, survey, stock_left,
-- meta_state, opens_at_ms, closes_at_ms, now_ms}: entry-api keeps the last four to work out
-- the state itself while it answers from memory (entry-api/evinfo.h).
local m = redis.call('HMGET', KEYS[1], 'title', 'opens_at', 'closes_at', 'opens_at_ms',
                     'closes_at_ms', 'state')
if not m[4] then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = m[6]
if state ~= 'sold_out' and state ~= 'closed' then
  if now < tonumber(m[4]) then
    state = 'scheduled'
  elseif now >= tonumber(m[5]) then
    state = 'closed'
  else
    state = 'open'
  end
end
return {m[1], m[2], m[3], state, redis.call('GET', KEYS[2]) or '{"questions":[]}',
        tonumber(redis.call('GET', KEYS[3]) or '0'), m[6] or '', tonumber(m[4]), tonumber(m[5]),
        now}
