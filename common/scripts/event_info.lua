-- event_info: what GET /v1/events/{id} shows, with the state judged by Redis TIME.
-- KEYS: 1 meta, 2 survey, 3 stock
-- Returns nil for an unknown event, else {title, state, survey, stock_left, meta_state,
-- opens_at_ms, closes_at_ms, now_ms}: entry-api formats the times from the milliseconds
-- (the meta hash's one source of truth, DESIGN §5) and keeps the last four to work out
-- the state itself while it answers from memory (entry-api/evinfo.h).
local m = redis.call('HMGET', KEYS[1], 'title', 'opens_at_ms', 'closes_at_ms', 'state')
if not m[2] or not m[3] then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = m[4]
if state ~= 'sold_out' and state ~= 'closed' then
  if now < tonumber(m[2]) then
    state = 'scheduled'
  elseif now >= tonumber(m[3]) then
    state = 'closed'
  else
    state = 'open'
  end
end
return {m[1] or '', state, redis.call('GET', KEYS[2]) or '{"questions":[]}',
        tonumber(redis.call('GET', KEYS[3]) or '0'), m[4] or '', tonumber(m[2]), tonumber(m[3]),
        now}
