# Conversations and their statistics (docs/conversations.md).
# 1. 2000 one-row message INSERTs as a frontend makes them, into 200
#    conversations, against the same INSERTs into a plain copy of
#    crm.messages (same columns, keys and index, no triggers): what the
#    statistics, the conversation's event, the contact's counters and the
#    list triggers cost per message.  1b: the same for 200 INSERTs of ten
#    messages each (one conversation per statement).  Each message is
#    sent at clock_timestamp(), after every message of the earlier runs:
#    a conversation's new message is its last, the common write (with
#    now() + i seconds, the second and third runs landed among the first
#    run's messages and measured the recomputation).  1c: messages that
#    land among earlier ones, which recompute their conversation.
# 2. A contact filter over the statistics, stats.avgResponseMinutes > 60, over
#    SCALE contacts with two conversations each, through crm.count against
#    the hand-written query of the same question.

bench_sql "SET client_min_messages = warning;
	INSERT INTO crm.contacts (name, email) SELECT 'Contact ' || i, 'c' || i || '@example.com' FROM generate_series(1, $SCALE) i;
	ALTER TABLE crm.conversations DISABLE TRIGGER USER;
	INSERT INTO crm.conversations (workspace_id, contact_id, channel, inbox, started_at,
								   messages_in, messages_out, response_count, response_seconds, first_response_seconds)
	SELECT 1, c, (ARRAY['whatsapp', 'email'])[1 + k], 'bot-' || (c % 10), now() - interval '10 days',
		   2, 1, 1, (c * 37 + k * 11) % 7200, (c * 37 + k * 11) % 7200
	  FROM generate_series(1, $SCALE) c, generate_series(0, 1) k;
	ALTER TABLE crm.conversations ENABLE TRIGGER USER;
	CREATE TABLE public.bare_messages (LIKE crm.messages INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES);
	ALTER TABLE public.bare_messages ADD FOREIGN KEY (workspace_id, conversation_id) REFERENCES crm.conversations (workspace_id, id);"
bench_sql "VACUUM ANALYZE crm.contacts"
bench_sql "VACUUM ANALYZE crm.conversations"

# 1. the same 2000 statements on both sides (contact, agent, bot in turn)
inserts() {
	for i in $(seq 1 2000); do
		printf "INSERT INTO %s (workspace_id, conversation_id, sender, body, sent_at) VALUES (1, %d, '%s', 'hello', clock_timestamp());\n" \
			"$1" $(( i % 200 + 1 )) "$(case $((i % 3)) in 0) echo contact;; 1) echo agent;; *) echo bot;; esac)"
	done
}
crm_sql=$(inserts crm.messages)
bare_sql=$(inserts public.bare_messages)
sum_ms() {
	{ printf 'SET crm.workspace_id = 1;\n\\timing on\n%s\n' "$1"; } |
		psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1 | awk '/^Time: /{t+=$2} END{print t}'
}
crm_runs=(); bare_runs=()
for ((i = 0; i < BENCH_RUNS; i++)); do
	crm_runs+=("$(sum_ms "$crm_sql")")
	bare_runs+=("$(sum_ms "$bare_sql")")
done
spread_record "${crm_runs[*]}" "${bare_runs[*]}"
crm_ms=$(printf '%s\n' "${crm_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
bare_ms=$(printf '%s\n' "${bare_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
report "2000 one-row message INSERTs, statistics and triggers vs plain table" "$crm_ms" "$bare_ms" throughput "-"

# 1b. multi-row statements: 200 INSERTs of 10 messages each (a transcript
#     posted at once), each into one conversation, on both sides
batches() {
	for i in $(seq 1 200); do
		printf "INSERT INTO %s (workspace_id, conversation_id, sender, body, sent_at) SELECT 1, %d, (ARRAY['contact', 'agent', 'bot'])[1 + k %% 3]::crm.message_sender, 'hello', clock_timestamp() + k * interval '1 microsecond' FROM generate_series(1, 10) k;\n" \
			"$1" $(( i % 200 + 201 ))
	done
}
crm_sql=$(batches crm.messages)
bare_sql=$(batches public.bare_messages)
crm_runs=(); bare_runs=()
for ((i = 0; i < BENCH_RUNS; i++)); do
	crm_runs+=("$(sum_ms "$crm_sql")")
	bare_runs+=("$(sum_ms "$bare_sql")")
done
spread_record "${crm_runs[*]}" "${bare_runs[*]}"
crm_ms=$(printf '%s\n' "${crm_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
bare_ms=$(printf '%s\n' "${bare_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
report "200 ten-row message INSERTs, statistics and triggers vs plain table" "$crm_ms" "$bare_ms" throughput "-"

# 1c. 200 one-row INSERTs of messages sent a day before the conversation's
#     others: each recomputes its conversation from all its messages
#     (crm_hidden.sync_conversation_statistics)
earlier() {
	for i in $(seq 1 200); do
		printf "INSERT INTO %s (workspace_id, conversation_id, sender, body, sent_at) VALUES (1, %d, 'contact', 'earlier', now() - interval '1 day' - interval '%d seconds');\n" \
			"$1" $(( i % 200 + 1 )) "$i"
	done
}
crm_sql=$(earlier crm.messages)
bare_sql=$(earlier public.bare_messages)
crm_runs=(); bare_runs=()
for ((i = 0; i < BENCH_RUNS; i++)); do
	crm_runs+=("$(sum_ms "$crm_sql")")
	bare_runs+=("$(sum_ms "$bare_sql")")
done
spread_record "${crm_runs[*]}" "${bare_runs[*]}"
crm_ms=$(printf '%s\n' "${crm_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
bare_ms=$(printf '%s\n' "${bare_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
report "200 one-row message INSERTs among earlier ones (recomputed)" "$crm_ms" "$bare_ms" throughput "-"

# 2. the statistics filter
cql="SELECT crm.count('contact', 'stats.avgResponseMinutes > 60')"
hand="SELECT count(*) FROM crm.contacts c WHERE c.workspace_id = 1 AND c.status < 'merged'
	AND (SELECT sum(cv.response_seconds) / NULLIF(sum(cv.response_count), 0) / 60 FROM crm.conversations cv
		  WHERE cv.workspace_id = c.workspace_id AND cv.contact_id = c.id) > 60"
read -r crm_ms bare_ms < <(bench_pair "SET crm.workspace_id = 1;" "$cql" "SET crm.workspace_id = 1;" "$hand" 3)
report "stats.avgResponseMinutes > 60 over $SCALE contacts, CQL vs hand SQL" "$crm_ms" "$bare_ms" time "<= 1.1"
