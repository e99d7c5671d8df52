/*-------------------------------------------------------------------------
 *
 * profiles.c
 *	  Canonical forms of a contact's postal address and social profiles,
 *	  applied by the normalize_row trigger (src/normalize.c).
 *
 * Countries come from ICU, which PostgreSQL links already: its list of
 * ISO 3166-1 codes, their alpha-3 forms and their English names, so that
 * "fr", "FRA" and "France" are all stored as FR and a made-up code is
 * refused.  (libphonenumber's regions, which workspaces.default_country
 * uses, lack the codes without a numbering plan, such as AQ.)
 *
 * A social profile is stored as one canonical URL per network, whatever
 * the writer gave: "@jane", "jane", "twitter.com/Jane" and
 * "https://mobile.x.com/jane?s=20" are all https://x.com/jane.  A URL of
 * another network in the column is refused rather than stored as a link
 * to the wrong site.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include <unicode/uloc.h>
#include <unicode/ustring.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "crm.h"

#define MAX_POSTAL_CODE 16

static char *
Trimmed(const char *raw)
{
	const char *start = raw;
	const char *end = raw + strlen(raw);

	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	return pnstrdup(start, end - start);
}

static void
AsciiLowerInPlace(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

/* ----------------------------------------------------------------
 * Countries
 * ----------------------------------------------------------------
 */
typedef struct Country
{
	char		code[3];
	char		code3[4];
	char	   *name;			/* English, ASCII lower-cased for matching */
} Country;

static Country *countries = NULL;
static int	ncountries = 0;

/* ICU's ISO 3166 table, read once per backend */
static void
LoadCountries(void)
{
	const char *const *codes = uloc_getISOCountries();
	int			n = 0;
	int			i;

	while (codes[n])
		n++;
	countries = MemoryContextAllocZero(TopMemoryContext, sizeof(Country) * n);
	for (i = 0; i < n; i++)
	{
		Country    *c = &countries[i];
		char		locale[16];
		UChar		uname[128];
		char		name[256];
		UErrorCode	status = U_ZERO_ERROR;
		int32_t		len;

		strlcpy(c->code, codes[i], sizeof(c->code));
		snprintf(locale, sizeof(locale), "und_%s", codes[i]);
		strlcpy(c->code3, uloc_getISO3Country(locale), sizeof(c->code3));
		len = uloc_getDisplayCountry(locale, "en", uname, lengthof(uname), &status);
		if (U_SUCCESS(status))
			u_strToUTF8(name, sizeof(name), NULL, uname, len, &status);
		if (U_FAILURE(status))
			name[0] = '\0';
		AsciiLowerInPlace(name);
		c->name = MemoryContextStrdup(TopMemoryContext, name);
	}
	ncountries = n;
}

/* The ISO 3166-1 alpha-2 code of a code, alpha-3 code or English name, or NULL */
const char *
CrmCountryCode(const char *raw)
{
	char	   *s = Trimmed(raw);
	size_t		len = strlen(s);
	int			i;

	if (countries == NULL)
		LoadCountries();
	AsciiLowerInPlace(s);
	for (i = 0; i < ncountries; i++)
	{
		Country    *c = &countries[i];

		if ((len == 2 && pg_strcasecmp(s, c->code) == 0) ||
			(len == 3 && pg_strcasecmp(s, c->code3) == 0) ||
			(len > 3 && c->name[0] && strcmp(s, c->name) == 0))
			return c->code;
	}
	return NULL;
}

char *
CrmNormalizeAddressCountry(const char *raw)
{
	const char *code = CrmCountryCode(raw);

	if (code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown country: \"%s\"", raw),
				 errhint("A country is an ISO 3166-1 code such as FR, GB or US (FRA, GBR, USA), or its English name such as France.")));
	return pstrdup(code);
}

/*
 * "sw1a  1aa" -> "SW1A 1AA": letters, digits, hyphens and single spaces.
 * The format is not checked against the country.
 */
char *
CrmNormalizePostalCode(const char *raw)
{
	char	   *s = Trimmed(raw);
	char	   *out = palloc(strlen(s) + 1);
	int			n = 0;
	const char *p;

	for (p = s; *p; p++)
	{
		if (isspace((unsigned char) *p))
		{
			if (n > 0 && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		if (!(isalnum((unsigned char) *p) || *p == '-') || n >= MAX_POSTAL_CODE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid postal code: \"%s\"", raw),
					 errhint("A postal code has at most %d letters, digits, spaces and hyphens, such as 75001 or SW1A 1AA.",
							 MAX_POSTAL_CODE)));
		out[n++] = pg_ascii_toupper((unsigned char) *p);
	}
	out[n] = '\0';
	return out;
}

/* ----------------------------------------------------------------
 * Social profiles
 * ----------------------------------------------------------------
 */
typedef struct Network
{
	const char *name;			/* the column */
	const char *domains[3];		/* a host is one of them or a subdomain */
	const char *prefix;			/* canonical URL before the handle */
	const char *handle_chars;	/* besides a-z and 0-9 */
	int			max_handle;
	const char *example;		/* handle */
} Network;

static const Network networks[] = {
	/* LinkedIn names may be percent-encoded UTF-8 (/in/j%c3%b6rg) */
	{"linkedin", {"linkedin.com", NULL}, "https://www.linkedin.com/in/", "-_%", 100, "jane-doe"},
	{"x", {"x.com", "twitter.com", NULL}, "https://x.com/", "_", 15, "janedoe"},
	{"instagram", {"instagram.com", "instagr.am", NULL}, "https://www.instagram.com/", "._", 30, "jane.doe"},
	{"facebook", {"facebook.com", "fb.com", NULL}, "https://www.facebook.com/", ".", 50, "jane.doe"},
	{"github", {"github.com", NULL}, "https://github.com/", "-", 39, "janedoe"},
};

int
CrmSocialNetwork(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(networks); i++)
		if (strcmp(name, networks[i].name) == 0)
			return i;
	return -1;
}

/* The network whose site host is, or -1 */
static int
HostNetwork(const char *host)
{
	size_t		hlen = strlen(host);
	int			i;
	int			d;

	for (i = 0; i < lengthof(networks); i++)
		for (d = 0; networks[i].domains[d]; d++)
		{
			const char *dom = networks[i].domains[d];
			size_t		dlen = strlen(dom);

			if (strcmp(host, dom) == 0 ||
				(hlen > dlen && host[hlen - dlen - 1] == '.' && strcmp(host + hlen - dlen, dom) == 0))
				return i;
		}
	return -1;
}

typedef struct Url
{
	char	   *scheme;			/* NULL when the writer gave none */
	char	   *host;			/* lower-cased, port and user cut */
	char	   *port;			/* digits after ":", or NULL */
	char	   *path;			/* from the first "/", before "?" and "#" */
	char	   *query;			/* after "?", before "#", or NULL */
} Url;

/* Split s, which has no white space; false when it has no plausible host */
static bool
ParseUrl(const char *s, Url *u)
{
	const char *sep = strstr(s, "://");
	const char *rest = s;
	size_t		hlen;
	char	   *p;

	memset(u, 0, sizeof(*u));
	if (sep)
	{
		u->scheme = pnstrdup(s, sep - s);
		AsciiLowerInPlace(u->scheme);
		if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
			return false;
		rest = sep + 3;
	}
	hlen = strcspn(rest, "/?#");
	u->host = pnstrdup(rest, hlen);
	AsciiLowerInPlace(u->host);
	if ((p = strrchr(u->host, '@')) != NULL)
		u->host = p + 1;
	if ((p = strchr(u->host, ':')) != NULL)
	{
		*p = '\0';
		u->port = p + 1;
	}
	rest += hlen;
	u->path = pnstrdup(rest, strcspn(rest, "?#"));
	rest += strlen(u->path);
	if (*rest == '?')
		u->query = pnstrdup(rest + 1, strcspn(rest + 1, "#"));
	return strchr(u->host, '.') != NULL && u->host[0] != '.' && u->host[strlen(u->host) - 1] != '.';
}

/* The first segment of a path after skip of them, or "" */
static char *
PathSegment(const char *path, int skip)
{
	const char *p = path;

	for (;;)
	{
		size_t		len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (skip-- == 0)
			return pnstrdup(p, len);
		p += len;
	}
}

static bool
ValidHandle(const Network *net, const char *h)
{
	const char *p;

	if (*h == '\0' || strlen(h) > net->max_handle)
		return false;
	for (p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr(net->handle_chars, *p)))
			return false;
	return true;
}

/* Raises the error of a bad profile; with soft (a search term), returns NULL */
static char *
BadProfile(const Network *net, const char *raw, bool soft)
{
	if (soft)
		return NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid %s profile: \"%s\"", net->name, raw),
			 errhint("Give the %s handle, such as %s, or the profile's URL, such as %s%s.",
					 net->name, net->example, net->prefix, net->example)));
	pg_unreachable();
}

static char *
OtherNetwork(const char *column, const char *raw, int other, bool soft)
{
	if (soft)
		return NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s \"%s\" is an address on %s", column, raw, networks[other].name),
			 errhint("Store it in the %s column.", networks[other].name)));
	pg_unreachable();
}

/* Whether s names a host before any "/": "linkedin.com/in/jane", not "jane.doe" */
static bool
LooksLikeUrl(const char *s)
{
	Url			u;

	if (strstr(s, "://") || strchr(s, '/'))
		return true;
	return ParseUrl(s, &u) && HostNetwork(u.host) >= 0;
}

/*
 * The canonical URL of a profile on network i.  With soft, a value that is
 * no profile of the network returns NULL instead of raising the error (a
 * search term, src/search_key.c).
 */
static char *
NormalizeProfile(int i, const char *raw, bool soft)
{
	const Network *net = &networks[i];
	char	   *s = Trimmed(raw);
	char	   *handle;
	Url			u;
	const char *p;

	for (p = s; *p; p++)
		if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
			return BadProfile(net, raw, soft);
	if (!LooksLikeUrl(s))
	{
		handle = s[0] == '@' ? s + 1 : s;
		AsciiLowerInPlace(handle);
		if (!ValidHandle(net, handle))
			return BadProfile(net, raw, soft);
		return psprintf("%s%s", net->prefix, handle);
	}
	if (!ParseUrl(s, &u))
		return BadProfile(net, raw, soft);
	if (HostNetwork(u.host) < 0)
		return BadProfile(net, raw, soft);
	if (HostNetwork(u.host) != i)
		return OtherNetwork(net->name, raw, HostNetwork(u.host), soft);

	AsciiLowerInPlace(u.path);
	handle = PathSegment(u.path, 0);
	if (strcmp(net->name, "linkedin") == 0)
	{
		/* a person (in/jane) or an organisation (company/acme) */
		char	   *slug = PathSegment(u.path, 1);

		if ((strcmp(handle, "in") != 0 && strcmp(handle, "company") != 0) || !ValidHandle(net, slug))
			return BadProfile(net, raw, soft);
		return psprintf("https://www.linkedin.com/%s/%s", handle, slug);
	}
	if (strcmp(net->name, "facebook") == 0 && strcmp(handle, "profile.php") == 0)
	{
		/* a profile without a user name: profile.php?id=<digits> */
		const char *id = u.query && strncmp(u.query, "id=", 3) == 0 ? u.query + 3 : "";
		size_t		digits = strspn(id, "0123456789");

		if (digits == 0 || digits > 20 || (id[digits] != '\0' && id[digits] != '&'))
			return BadProfile(net, raw, soft);
		return psprintf("https://www.facebook.com/profile.php?id=%.*s", (int) digits, id);
	}
	if (handle[0] == '@')
		handle++;
	if (!ValidHandle(net, handle))
		return BadProfile(net, raw, soft);
	return psprintf("%s%s", net->prefix, handle);
}

/*
 * A website: an http(s) URL, https:// when none is given, host lower-cased,
 * a bare "/" and the fragment dropped.  A social network's address belongs
 * in its own column.
 */
static char *
NormalizeWebsite(const char *raw, bool soft)
{
	char	   *s = Trimmed(raw);
	const char *p;
	Url			u;
	bool		ok = strlen(s) <= 2048;
	StringInfoData out;

	for (p = s; ok && *p; p++)
		ok = !isspace((unsigned char) *p) && !iscntrl((unsigned char) *p);
	ok = ok && ParseUrl(s, &u);
	ok = ok && (u.port == NULL || (strspn(u.port, "0123456789") == strlen(u.port) && strlen(u.port) <= 5));
	for (p = ok ? u.host : ""; ok && *p; p++)
		ok = isalnum((unsigned char) *p) || *p == '-' || *p == '.' || (unsigned char) *p >= 0x80;
	if (!ok && soft)
		return NULL;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid website: \"%s\"", raw),
				 errhint("A website is an http or https URL or a domain, such as https://example.com/about.")));
	if (HostNetwork(u.host) >= 0)
		return OtherNetwork("website", raw, HostNetwork(u.host), soft);
	initStringInfo(&out);
	appendStringInfo(&out, "%s://%s", u.scheme ? u.scheme : "https", u.host);
	if (u.port && *u.port)
		appendStringInfo(&out, ":%s", u.port);
	appendStringInfoString(&out, strcmp(u.path, "/") == 0 ? "" : u.path);
	if (u.query && *u.query)
		appendStringInfo(&out, "?%s", u.query);
	return out.data;
}

/* network: a CrmSocialNetwork() index, or -1 for the website */
char *
CrmNormalizeSocial(int network, const char *raw)
{
	return network < 0 ? NormalizeWebsite(raw, false) : NormalizeProfile(network, raw, false);
}

/* ----------------------------------------------------------------
 * Search terms
 * ----------------------------------------------------------------
 */

/*
 * The stored-value prefixes a search term stands for, one per
 * CRM_PROFILE_SLOTS slot (NULL where it stands for none): a URL of a
 * network is that network's canonical URL and nothing else (a website's,
 * the website's); a handle ("jane", "@jane") is that handle's URL on every
 * network whose handles it fits, LinkedIn as a person and as a company;
 * anything that could be a host name starts a website, with or without
 * "www.".  The profile columns hold only canonical URLs, so a prefix of one
 * is a range of its index.
 */
void
CrmProfileSearchPrefixes(const char *term, char **slots)
{
	char	   *s = Trimmed(term);
	char	   *handle;
	const char *p;
	int			i;

	for (i = 0; i < CRM_PROFILE_SLOTS; i++)
		slots[i] = NULL;
	for (p = s; *p; p++)
		if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
			return;
	if (*s == '\0')
		return;
	if (LooksLikeUrl(s))
	{
		Url			u;
		int			net = ParseUrl(s, &u) ? HostNetwork(u.host) : -1;

		if (net >= 0)
			slots[net == 0 ? 0 : net + 1] = NormalizeProfile(net, s, true);
		else
			slots[CRM_PROFILE_SLOTS - 2] = NormalizeWebsite(s, true);
		return;
	}
	handle = s[0] == '@' ? s + 1 : s;
	AsciiLowerInPlace(handle);
	for (i = 0; i < lengthof(networks); i++)
		if (ValidHandle(&networks[i], handle))
		{
			if (i == 0)
			{
				slots[0] = psprintf("https://www.linkedin.com/in/%s", handle);
				slots[1] = psprintf("https://www.linkedin.com/company/%s", handle);
			}
			else
				slots[i + 1] = psprintf("%s%s", networks[i].prefix, handle);
		}
	/* a host name's characters: the start of a website */
	if (s[0] != '@' && strspn(handle, "abcdefghijklmnopqrstuvwxyz0123456789.-") == strlen(handle))
	{
		slots[CRM_PROFILE_SLOTS - 2] = psprintf("https://%s", handle);
		slots[CRM_PROFILE_SLOTS - 1] = psprintf("https://www.%s", handle);
	}
}
