/*-------------------------------------------------------------------------
 *
 * crm-webhook-worker.c
 *	  Delivers one integration's deliveries (docs/integrations.md) as
 *	  signed HTTP POSTs: claims them with crm.claim_deliveries(), POSTs each
 *	  payload, and settles it with crm.ack_delivery() or crm.fail_delivery().
 *
 * All state is in the database: a worker that dies leaves its deliveries
 * leased, and they are claimed again once the lease runs out, so delivery
 * is at least once.  A claim returns at most one delivery per object and
 * the next one of that object only after this one is settled, so each
 * object's deliveries arrive in order.  Between claims the worker sleeps on
 * LISTEN crm_events (or poll_interval, whichever comes first).
 *
 * Signature: X-CRM-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>"
 * with the integration's secret>, the timestamp in X-CRM-Timestamp (Unix
 * seconds), so a receiver can refuse a replayed request.
 *
 * Usage: crm-webhook-worker CONFIG_FILE   (see docs/integrations.md)
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_RESPONSE 1000		/* bytes of a response body kept in the log */

typedef struct Config
{
	char	   *conninfo;		/* libpq connection string of a service role */
	char	   *workspace;		/* crm.workspace_id, or NULL for the default */
	char	   *integration;	/* the integration's key */
	int			batch;			/* deliveries per claim */
	int			poll_ms;		/* longest sleep between claims */
	int			timeout_s;		/* HTTP timeout of one POST */
	int			purge_s;		/* seconds between crm.purge_deliveries() calls; 0: never */
} Config;

typedef struct Response
{
	char		body[MAX_RESPONSE + 1];
	size_t		len;
} Response;

static volatile sig_atomic_t stopping = 0;

static void
on_signal(int sig)
{
	(void) sig;
	stopping = 1;
}

static void
logmsg(const char *fmt,...)
{
	va_list		ap;
	time_t		now = time(NULL);
	char		stamp[32];

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(stderr, "%s crm-webhook-worker: ", stamp);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *
trim(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* key = value lines; # starts a comment, at the start of a line or after a blank */
static int
read_config(const char *path, Config *cfg)
{
	FILE	   *f = fopen(path, "r");
	char		line[4096];
	int			lineno = 0;

	if (f == NULL)
	{
		logmsg("cannot open config file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	cfg->batch = 50;
	cfg->poll_ms = 1000;
	cfg->timeout_s = 10;
	cfg->purge_s = 3600;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *s = line;
		char	   *eq;
		char	   *key;
		char	   *value;
		char	   *hash;

		lineno++;
		for (hash = strchr(s, '#'); hash != NULL; hash = strchr(hash + 1, '#'))
			if (hash == s || hash[-1] == ' ' || hash[-1] == '\t')
			{
				*hash = '\0';
				break;
			}
		s = trim(s);
		if (*s == '\0')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL)
		{
			logmsg("%s:%d: expected key = value", path, lineno);
			fclose(f);
			return -1;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (strcmp(key, "conninfo") == 0)
			cfg->conninfo = strdup(value);
		else if (strcmp(key, "workspace") == 0)
			cfg->workspace = strdup(value);
		else if (strcmp(key, "integration") == 0)
			cfg->integration = strdup(value);
		else if (strcmp(key, "batch") == 0)
			cfg->batch = atoi(value);
		else if (strcmp(key, "poll_interval_ms") == 0)
			cfg->poll_ms = atoi(value);
		else if (strcmp(key, "http_timeout_s") == 0)
			cfg->timeout_s = atoi(value);
		else if (strcmp(key, "purge_interval_s") == 0)
			cfg->purge_s = atoi(value);
		else
		{
			logmsg("%s:%d: unknown setting \"%s\"", path, lineno, key);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	if (cfg->conninfo == NULL || cfg->integration == NULL)
	{
		logmsg("%s: conninfo and integration are required", path);
		return -1;
	}
	if (cfg->batch < 1 || cfg->batch > 10000 || cfg->poll_ms < 10 || cfg->timeout_s < 1 || cfg->purge_s < 0)
	{
		logmsg("%s: batch is 1 to 10000, poll_interval_ms at least 10, http_timeout_s at least 1, purge_interval_s at least 0", path);
		return -1;
	}
	return 0;
}

static PGconn *
connect_db(const Config *cfg)
{
	PGconn	   *conn = PQconnectdb(cfg->conninfo);
	PGresult   *res;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		logmsg("cannot connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	if (cfg->workspace != NULL)
	{
		const char *params[1] = {cfg->workspace};

		res = PQexecParams(conn, "SELECT pg_catalog.set_config('crm.workspace_id', $1, false)",
						   1, NULL, params, NULL, NULL, 0);
		PQclear(res);
	}
	res = PQexec(conn, "LISTEN crm_events");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		logmsg("LISTEN failed: %s", PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

static size_t
collect(char *data, size_t size, size_t nmemb, void *arg)
{
	Response   *r = arg;
	size_t		n = size * nmemb;
	size_t		room = MAX_RESPONSE - r->len;
	size_t		take = n < room ? n : room;

	memcpy(r->body + r->len, data, take);
	r->len += take;
	r->body[r->len] = '\0';
	return n;
}

/* hex HMAC-SHA256 of "<timestamp>.<body>" */
static void
sign(const char *secret, const char *stamp, const char *body, char *hex)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t		slen = strlen(stamp);
	size_t		blen = strlen(body);
	unsigned char *msg = malloc(slen + 1 + blen);

	memcpy(msg, stamp, slen);
	msg[slen] = '.';
	memcpy(msg + slen + 1, body, blen);
	HMAC(EVP_sha256(), secret, (int) strlen(secret), msg, slen + 1 + blen, mac, &maclen);
	free(msg);
	for (unsigned int i = 0; i < maclen; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	hex[2 * maclen] = '\0';
}

/*
 * POSTs one payload.  Returns the HTTP status (0 when no response came) and
 * fills error with why it was not a 2xx.
 */
static long
post(CURL *curl, const Config *cfg, const char *url, const char *secret, const char *id,
	 const char *body, Response *resp, char *error, size_t errlen)
{
	struct curl_slist *headers = NULL;
	char		header[256];
	char		stamp[32];
	char		hex[2 * EVP_MAX_MD_SIZE + 1];
	char		curl_error[CURL_ERROR_SIZE] = "";
	long		status = 0;
	CURLcode	rc;

	snprintf(stamp, sizeof(stamp), "%ld", (long) time(NULL));
	headers = curl_slist_append(headers, "Content-Type: application/json");
	snprintf(header, sizeof(header), "X-CRM-Delivery: %s", id);
	headers = curl_slist_append(headers, header);
	snprintf(header, sizeof(header), "X-CRM-Integration: %s", cfg->integration);
	headers = curl_slist_append(headers, header);
	snprintf(header, sizeof(header), "X-CRM-Timestamp: %s", stamp);
	headers = curl_slist_append(headers, header);
	if (secret != NULL && *secret != '\0')
	{
		sign(secret, stamp, body, hex);
		snprintf(header, sizeof(header), "X-CRM-Signature: sha256=%s", hex);
		headers = curl_slist_append(headers, header);
	}

	resp->len = 0;
	resp->body[0] = '\0';
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) cfg->timeout_s);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);

	if (rc != CURLE_OK)
		snprintf(error, errlen, "%s", curl_error[0] ? curl_error : curl_easy_strerror(rc));
	else if (status < 200 || status > 299)
		snprintf(error, errlen, "HTTP %ld: %.200s", status, resp->body);
	return rc == CURLE_OK ? status : 0;
}

/* crm.ack_delivery or crm.fail_delivery; false when the connection is gone */
static int
settle(PGconn *conn, const char *id, long status, const Response *resp, const char *error)
{
	PGresult   *res;
	char		code[16];

	snprintf(code, sizeof(code), "%ld", status);
	if (error[0] == '\0')
	{
		const char *params[3] = {id, code, resp->body};

		res = PQexecParams(conn,
						   "SELECT crm.ack_delivery($1::bigint, pg_catalog.jsonb_build_object('status', $2::int, 'body', $3::text))",
						   3, NULL, params, NULL, NULL, 0);
	}
	else
	{
		const char *params[2] = {id, error};

		res = PQexecParams(conn, "SELECT crm.fail_delivery($1::bigint, $2)", 2, NULL, params, NULL, NULL, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		/* 55000: the lease ran out and another worker took it; go on */
		logmsg("settling delivery %s: %s", id, PQerrorMessage(conn));
		PQclear(res);
		return PQstatus(conn) == CONNECTION_OK;
	}
	PQclear(res);
	return 1;
}

/* Claims one batch and delivers it; returns the number claimed, -1 on a lost connection */
static int
run_batch(PGconn *conn, CURL *curl, const Config *cfg)
{
	PGresult   *ep;
	PGresult   *res;
	const char *params[2];
	char		batch[16];
	char	   *url;
	char	   *secret;
	int			n;

	params[0] = cfg->integration;
	ep = PQexecParams(conn, "SELECT config ->> 'url', secret, enabled FROM crm.integration_endpoint($1)",
					  1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(ep) != PGRES_TUPLES_OK || PQntuples(ep) != 1)
	{
		logmsg("integration \"%s\": %s", cfg->integration, PQerrorMessage(conn));
		PQclear(ep);
		return PQstatus(conn) == CONNECTION_OK ? 0 : -1;
	}
	url = PQgetvalue(ep, 0, 0);
	secret = PQgetisnull(ep, 0, 1) ? NULL : PQgetvalue(ep, 0, 1);
	if (PQgetisnull(ep, 0, 0) || *url == '\0')
	{
		logmsg("integration \"%s\" has no config.url", cfg->integration);
		PQclear(ep);
		return 0;
	}

	snprintf(batch, sizeof(batch), "%d", cfg->batch);
	params[1] = batch;
	res = PQexecParams(conn, "SELECT id, payload::text FROM crm.claim_deliveries($1, $2::int) ORDER BY position, id",
					   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		logmsg("claim: %s", PQerrorMessage(conn));
		PQclear(res);
		PQclear(ep);
		return PQstatus(conn) == CONNECTION_OK ? 0 : -1;
	}
	n = PQntuples(res);
	for (int i = 0; i < n && !stopping; i++)
	{
		Response	resp;
		char		error[512] = "";
		const char *id = PQgetvalue(res, i, 0);
		long		status = post(curl, cfg, url, secret, id, PQgetvalue(res, i, 1), &resp, error, sizeof(error));

		if (!settle(conn, id, status, &resp, error))
		{
			n = -1;
			break;
		}
	}
	PQclear(res);
	PQclear(ep);
	return n;
}

/*
 * Deletes the deliveries delivered longer ago than their integration's
 * retention (crm.purge_deliveries), so the queue's table stays the size of
 * its open work; a failure is logged and tried again next time.
 */
static void
purge(PGconn *conn)
{
	PGresult   *res = PQexec(conn, "SELECT crm.purge_deliveries()");

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		logmsg("purged %s delivered deliveries past their retention", PQgetvalue(res, 0, 0));
	else
		logmsg("purge: %s", PQerrorMessage(conn));
	PQclear(res);
}

/* Sleeps until a NOTIFY arrives or poll_ms passes */
static int
wait_for_events(PGconn *conn, int poll_ms)
{
	int			sock = PQsocket(conn);
	fd_set		fds;
	struct timeval tv = {poll_ms / 1000, (poll_ms % 1000) * 1000};
	PGnotify   *note;

	if (sock < 0)
		return -1;
	FD_ZERO(&fds);
	FD_SET(sock, &fds);
	if (select(sock + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR)
		return -1;
	if (!PQconsumeInput(conn))
		return -1;
	while ((note = PQnotifies(conn)) != NULL)
		PQfreemem(note);
	return 0;
}

int
main(int argc, char **argv)
{
	Config		cfg = {0};
	CURL	   *curl;
	PGconn	   *conn = NULL;
	int			backoff_s = 1;
	time_t		purged_at = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s CONFIG_FILE\n", argv[0]);
		return 2;
	}
	if (read_config(argv[1], &cfg) != 0)
		return 2;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	logmsg("delivering integration \"%s\"", cfg.integration);

	while (!stopping)
	{
		int			n;

		if (conn == NULL)
		{
			conn = connect_db(&cfg);
			if (conn == NULL)
			{
				sleep(backoff_s);
				backoff_s = backoff_s < 30 ? backoff_s * 2 : 30;
				continue;
			}
			backoff_s = 1;
		}
		if (cfg.purge_s > 0 && time(NULL) - purged_at >= cfg.purge_s)
		{
			purge(conn);
			purged_at = time(NULL);
		}
		n = run_batch(conn, curl, &cfg);
		if (n < 0 || (n == 0 && wait_for_events(conn, cfg.poll_ms) < 0))
		{
			logmsg("connection lost, reconnecting");
			PQfinish(conn);
			conn = NULL;
		}
	}
	logmsg("stopping");
	if (conn != NULL)
		PQfinish(conn);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	return 0;
}
