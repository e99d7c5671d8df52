#!/usr/bin/env bash
# crm.pipeline_report on the demo sample (test/sample.sql +
# test/sample_sales.sql): the figures match a hand computation in plain SQL
# over crm.deals and the stage history, for the whole history, per owner
# and per month up to the sample's today (5 November 2026), and they are
# plausible for a B2B pipeline (docs/deals.md#the-pipeline-report).
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..6"

db=crm_report_sample
fresh_db $db
q -d $db -c 'SET client_min_messages = warning; CREATE EXTENSION crm CASCADE;'
q -d $db -f test/sample.sql -f test/sample_sales.sql >/dev/null
ok $? "sample data loaded"

ask() { q -d $db -c "SELECT crm.use_workspace('acme') IS NULL" -c "$1" | tail -n 1; }

# the hand computation: deals closed in [lo, hi] (all when NULL), open at t,
# grouped by owner when asked; the workspace currency is EUR, as every deal's
hand="CREATE TEMP VIEW hand AS
SELECT m.lo, m.hi, o.owner,
	   (SELECT count(*) FROM crm.deals d
		 WHERE (o.owner IS NULL OR d.owner = o.owner)
		   AND EXISTS (SELECT 1 FROM crm.deal_stage_history h JOIN crm.stages s ON s.id = h.stage_id
						WHERE h.deal_id = d.id AND s.kind = 'open'
						  AND h.entered_at <= m.t AND coalesce(h.left_at, 'infinity') > m.t)) AS open_deals,
	   count(d.id) FILTER (WHERE d.status = 'won') AS won,
	   count(d.id) FILTER (WHERE d.status = 'lost') AS lost,
	   avg(d.value) FILTER (WHERE d.status = 'won') AS avg_won,
	   avg(extract(epoch FROM d.closed_at - least(d.created_at,
			(SELECT min(h.entered_at) FROM crm.deal_stage_history h WHERE h.deal_id = d.id))) / 86400)
		   FILTER (WHERE d.status = 'won') AS cycle
  FROM (VALUES (NULL::date, NULL::date, now()),
			   ('2026-10-01', '2026-10-31', '2026-11-01 00:00+00'),
			   ('2026-11-01', '2026-11-05', '2026-11-06 00:00+00')) m(lo, hi, t)
 CROSS JOIN (SELECT NULL::text AS owner UNION SELECT DISTINCT owner FROM crm.deals) o
  LEFT JOIN crm.deals d ON d.status <> 'open' AND (o.owner IS NULL OR d.owner = o.owner)
					   AND (m.lo IS NULL OR d.closed_at::date BETWEEN m.lo AND m.hi)
 GROUP BY m.lo, m.hi, m.t, o.owner;"
same="r.open_deals = h.open_deals AND r.won = h.won AND r.lost = h.lost
			 AND r.win_rate = round(h.won::numeric / (h.won + h.lost), 4)
			 AND r.avg_won_value = round(h.avg_won, 2) AND r.avg_cycle_days = round(h.cycle, 2)
			 AND r.velocity = round(h.open_deals * h.won::numeric / (h.won + h.lost) * h.avg_won / h.cycle, 2)"
check() {  # check <report call> <join to the hand rows> <description>
	local res
	res=$(q -d $db -c "SET timezone = 'UTC'" -c "SELECT crm.use_workspace('acme') IS NULL" -c "$hand" \
		  -c "SELECT count(*) FILTER (WHERE $same) || '/' || count(*) FROM $1 r JOIN hand h ON $2" | tail -n 1)
	echo "# $3: $res rows match"
	[ "${res%/*}" = "${res#*/}" ] && [ "${res#*/}" -gt 0 ]
	ok $? "$3 matches the hand computation ($res)"
}
check "crm.pipeline_report()" "h.lo IS NULL AND h.owner IS NULL" "the whole history"
check "crm.pipeline_report(by_owner => true)" "h.lo IS NULL AND h.owner = r.deal_owner" "per owner"
check "crm.pipeline_report(since => '2026-10-01', until => '2026-11-05', period => 'month')" \
	"h.lo = r.period_start AND h.hi = r.period_end AND h.owner IS NULL" "per month to 5 November"

# plausible for a B2B pipeline: some deals won, some lost, cycles of weeks to months
read -r rate cycle velocity <<<"$(ask "SELECT win_rate || ' ' || avg_cycle_days || ' ' || velocity FROM crm.pipeline_report()")"
echo "# win rate $rate, average cycle $cycle days, velocity $velocity EUR a day"
awk -v r="$rate" -v c="$cycle" -v v="$velocity" 'BEGIN { exit !(r > 0.2 && r < 0.8 && c >= 14 && c <= 180 && v > 0) }'
ok $? "win rate between 0.2 and 0.8, cycle between 14 and 180 days ($rate, $cycle)"

# the owners' rows add up to the pipeline's
sums=$(ask "SELECT (SELECT sum(won) || '/' || sum(lost) || '/' || sum(open_deals) FROM crm.pipeline_report(by_owner => true))
				   = (SELECT won || '/' || lost || '/' || open_deals FROM crm.pipeline_report())")
[ "$sums" = t ]
ok $? "the owners' won, lost and open deals add up to the pipeline's"
"$PG_BINDIR/dropdb" $db
[ "$failures" = 0 ]
