#!/usr/bin/env bash
# e2e_event: one whole event through all three services against the real
# RabbitMQ, Redis and PostgreSQL, asserting the counts of DESIGN §2 exactly.
#
#   1,200 eligible members (every one posts twice) + 50 ineligible ones enter
#   for 1,000 coupons with 10 held back: winners == min(990, accepted);
#   every 202 has an outcome row; every winner holds one coupon and the fake
#   provider sent it exactly once; a member's repeats carry one entry_id;
#   nobody ineligible got in; every Redis key of the event expires with it;
#   reconcile --final is clean.
source "$(dirname "$0")/../lib.sh"

MEMBERS=1200 STOCK=1000 SAFETY=10 WINNABLE=990 OUTSIDERS=50
PREFIX="e2e$$-"

start_all
EV=$(new_event 4 $STOCK $SAFETY)
"$BIN_CTL" seed "$EV" --members $MEMBERS --prefix "$PREFIX" --kakao-percent 40 >/dev/null
"$BIN_CTL" arm "$EV" >/dev/null
OPENS=$(opens_ms "$EV")
log "event $EV opens at $OPENS"
# PEXPIREAT calls Redis made so far (the services create keys from here on).
pexpireat_calls() { redis_q INFO commandstats | tr -d '\r' | awk -F'[:=,]' '$1 == "cmdstat_pexpireat" {print $3}'; }
PX0=$(pexpireat_calls)

# Before the opening: 425 with a Retry-After that matches the wait.
TOKEN=$("$BIN_CTL" token "${PREFIX}1")
expect "early POST status" "$(http_status POST "/v1/events/$EV/entries" "$TOKEN" '{"answers":{"q1":"yes"}}')" 425
retry=$(curl -s -D - -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data '{"answers":{"q1":"yes"}}' "$T_API/v1/events/$EV/entries" | tr -d '\r' | awk -F': ' 'tolower($1)=="retry-after"{print $2}')
left=$(((OPENS - $(date +%s%3N) + 999) / 1000))
expect "Retry-After within 1s of the opening" "$([ "$retry" -ge $((left - 1)) ] && [ "$retry" -le $((left + 1)) ] && echo yes || echo "no ($retry vs $left)")" yes
# Bad input changes nothing.
expect "no token" "$(http_status POST "/v1/events/$EV/entries" "" '{"answers":{"q1":"yes"}}')" 401
expect "bad JSON" "$(http_status POST "/v1/events/$EV/entries" "$TOKEN" '{"answers":')" 400
expect "unknown event" "$(http_status GET "/v1/events/$(unused_event_id)")" 404

# Members without a qualifying purchase, at the opening (before any sell-out).
"$BIN_LOADGEN" --url "$T_API" --event "$EV" --members $OUTSIDERS --prefix "out$$-" \
  --concurrency 16 --start-at-ms "$OPENS" --secret "$JWT_SECRET" --quiet >"$T_DIR/outsiders.json"
# The opening spike: everyone released at once, twice each.
"$BIN_LOADGEN" --url "$T_API" --event "$EV" --members $MEMBERS --prefix "$PREFIX" --repeat 2 \
  --concurrency 64 --secret "$JWT_SECRET" --answers '{"q1":"yes"}' \
  --out "$T_DIR/responses.txt" --quiet >"$T_DIR/summary.json"
log "loadgen: $(cat "$T_DIR/summary.json")"
expect "ineligible members refused with 403" "$(jq '.by_status["403"] // 0' "$T_DIR/outsiders.json")" $OUTSIDERS
expect "client errors" "$(jq '.errors' "$T_DIR/summary.json")" 0
expect "5xx answers" "$(awk '$2 >= 500' "$T_DIR/responses.txt" | wc -l)" 0

wait_drained "$EV" 120 || true

# Accepted entries: distinct entry ids answered 202.
awk '$2 == 202 {print $1, $4}' "$T_DIR/responses.txt" | sort -u >"$T_DIR/accepted.txt"
ACCEPTED_MEMBERS=$(cut -d' ' -f1 "$T_DIR/accepted.txt" | sort -u | wc -l)
ACCEPTED_IDS=$(cut -d' ' -f2 "$T_DIR/accepted.txt" | sort -u | wc -l)
expect "one entry_id per member across repeats" "$ACCEPTED_IDS" "$ACCEPTED_MEMBERS"
# Every 202 or 200 a member got names the same entry.
MIXED=$(awk '($2 == 202 || $2 == 200) {print $1, $4}' "$T_DIR/responses.txt" | sort -u | cut -d' ' -f1 | uniq -d | wc -l)
expect "members whose answers named two entry ids" "$MIXED" 0

WANT_WINNERS=$((ACCEPTED_MEMBERS < WINNABLE ? ACCEPTED_MEMBERS : WINNABLE))
WON=$(psql_q "SELECT count(*) FROM entries WHERE event_id=$EV AND outcome='won'")
expect "winners == min(winnable, accepted)" "$WON" "$WANT_WINNERS"
psql_q "CREATE TEMP TABLE a(id uuid); COPY a FROM STDIN; SELECT count(*) FROM a JOIN entries e ON e.entry_id=a.id AND e.event_id=$EV" \
  < <(cut -d' ' -f2 "$T_DIR/accepted.txt") >"$T_DIR/joined" 2>&1 || true
LOST=$((ACCEPTED_IDS - $(tail -n1 "$T_DIR/joined")))
expect "accepted entries without an outcome row (lost)" "$LOST" 0
expect "outcome rows == accepted members" "$(psql_q "SELECT count(*) FROM entries WHERE event_id=$EV")" "$ACCEPTED_MEMBERS"
expect "coupons handed out" "$(psql_q "SELECT count(member_id) FROM coupons WHERE event_id=$EV")" "$WON"
expect "held-back coupons handed out" "$(psql_q "SELECT count(member_id) FROM coupons WHERE event_id=$EV AND safety")" 0
expect "winners with a sent notification" "$(psql_q "SELECT count(*) FROM notifications n JOIN entries e USING (event_id, member_id) WHERE n.event_id=$EV AND n.status='sent' AND e.outcome='won'")" "$WON"

# What the provider saw: exactly one successful send per winner, with the winner's coupon.
curl -sf "$T_PROVIDER/records" >"$T_DIR/records.json"
SENT=$(jq '[.[] | select(.result == "sent")] | length' "$T_DIR/records.json")
SENT_KEYS=$(jq -r '.[] | select(.result == "sent") | .idempotency_key' "$T_DIR/records.json" | sort -u | wc -l)
expect "provider sends" "$SENT" "$WON"
expect "distinct idempotency keys sent" "$SENT_KEYS" "$WON"
jq -r '.[] | select(.result == "sent") | .recipients[0].recipientNo + " " + .recipients[0].templateParameter.coupon_code' \
  "$T_DIR/records.json" | sort >"$T_DIR/provider_pairs"
psql_q "SELECT m.phone || ' ' || c.code FROM coupons c JOIN members m USING (member_id) WHERE c.event_id=$EV ORDER BY 1" \
  | sort >"$T_DIR/db_pairs"
expect "each winner's phone got the coupon the pool assigned it" "$(diff -q "$T_DIR/provider_pairs" "$T_DIR/db_pairs" >/dev/null && echo same || echo different)" same
expect "phones that received two coupons" "$(cut -d' ' -f1 "$T_DIR/provider_pairs" | uniq -d | wc -l)" 0

# The member's view after the event.
W=$(psql_q "SELECT member_id FROM entries WHERE event_id=$EV AND outcome='won' ORDER BY seq LIMIT 1")
curl -s -H "Authorization: Bearer $("$BIN_CTL" token "$W")" "$T_API/v1/events/$EV/entries/me" >"$T_DIR/me.json"
expect "winner's status" "$(jq -r .status "$T_DIR/me.json")" notified
expect "winner's seq" "$(jq -r .seq "$T_DIR/me.json")" 1

# Every key of the event expires with it (DESIGN §5), also those the services
# create after `arm`: entries (gate), winners and losers (claim), notified
# (notifier).  PEXPIRETIME: the absolute instant in ms, -1 = never.
EXPIRES=$(redis_q PEXPIRETIME "ev:{$EV}:meta")
CLOSES=$(psql_q "SELECT (extract(epoch from closes_at)*1000)::bigint FROM events WHERE event_id=$EV")
expect "the event's keys expire at closes_at + EVENT_RETENTION_S" "$EXPIRES" "$((CLOSES + ${EVENT_RETENTION_S:-604800} * 1000))"
for k in survey stock eligible entries winners losers notified; do
  expect "ev:{$EV}:$k expires with the event" "$(redis_q PEXPIRETIME "ev:{$EV}:$k")" "$EXPIRES"
done
# ...given once, when each key is created, not rewritten (and appended to the
# AOF) by every entry, decision and send: one PEXPIREAT per key the services
# created (losers exists only when more entries came in than were winnable).
CREATED=$(for k in entries winners losers notified; do redis_q EXISTS "ev:{$EV}:$k"; done | awk '{s+=$1} END{print s}')
expect "PEXPIREAT calls during the event == keys created by the services" "$(($(pexpireat_calls) - PX0))" "$CREATED"

"$BIN_CTL" reconcile "$EV" --final >"$T_DIR/reconcile.txt" && rc=0 || rc=$?
cat "$T_DIR/reconcile.txt"
expect "reconcile --final exit code" "$rc" 0
log "counts: accepted=$ACCEPTED_MEMBERS winners=$WON lost=$LOST sends=$SENT oversold=$((WON > WINNABLE ? WON - WINNABLE : 0))"
finish
