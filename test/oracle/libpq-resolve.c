/*
 * The conformance oracle: what the system's libpq makes of a connection string and the
 * environment it runs in. argv[1] is the string ("" for none). Prints one JSON object:
 *   {"error": "..."}                                  libpq refused the input
 *   {"options": {...}, "hosts": [{host, hostaddr, port, password}, ...]}
 * The options are PQconninfo's after libpq's defaults (environment, service file). The hosts
 * are read while libpq walks its host list: PQconnectStart, then PQconnectPoll until it gives up,
 * noting PQhost/PQhostaddr/PQport/PQpass at each step (the password comes from the password
 * file per host, as libpq reads it). Test inputs point at ports and sockets where nothing
 * listens, so every host fails at once and the walk is quick.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

static void json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++)
	{
		unsigned char c = (unsigned char) *s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* The first line of libpq's message, without its trailing newline. */
static void json_error(const char *msg)
{
	char buf[1024];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", msg ? msg : "");
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	printf("{\"error\": ");
	json_string(buf);
	printf("}\n");
}

/* An option-processing failure, not a failure to reach a host. */
static int is_option_error(const char *msg)
{
	static const char *reached[] = {"connection to server", "could not translate host name",
		"could not connect", "could not create socket", "could not parse network address",
		"server closed the connection", "could not receive data", "could not send", "Unix-domain socket path",
		"timeout expired", "could not initiate", NULL};

	for (int i = 0; reached[i]; i++)
		if (strstr(msg, reached[i]))
			return 0;
	return 1;
}

static void host_entry(PGconn *conn, int first)
{
	printf("%s{\"host\": ", first ? "" : ", ");
	json_string(PQhost(conn));
	printf(", \"hostaddr\": ");
	json_string(PQhostaddr(conn));
	printf(", \"port\": ");
	json_string(PQport(conn));
	printf(", \"password\": ");
	json_string(PQpass(conn));
	printf("}");
}

/* The n-th piece of a comma list (libpq's host, hostaddr and port lists), or the whole of a one-piece list. */
static void list_piece(const char *list, int n, char *out, size_t size)
{
	const char *p = list;

	if (!strchr(list, ','))
	{
		snprintf(out, size, "%s", list);
		return;
	}
	for (int i = 0; i < n && p; i++)
	{
		p = strchr(p, ',');
		if (p)
			p++;
	}
	snprintf(out, size, "%.*s", p ? (int) strcspn(p, ",") : 0, p ? p : "");
}

/*
 * libpq reads every host's password from the file when it processes the options, but shows only
 * the current host's. So each host is opened alone, with every other option as libpq resolved it.
 */
static void one_host(PQconninfoOption *opts, int n, int first)
{
	const char *keys[128];
	const char *vals[128];
	char pieces[3][1024];
	int k = 0;
	PGconn *conn;

	for (PQconninfoOption *o = opts; o && o->keyword && k < 127; o++)
	{
		int which = strcmp(o->keyword, "host") == 0 ? 0 : strcmp(o->keyword, "hostaddr") == 0 ? 1 : strcmp(o->keyword, "port") == 0 ? 2 : -1;

		if (!o->val)
			continue;
		keys[k] = o->keyword;
		vals[k] = o->val;
		if (which >= 0)
		{
			list_piece(o->val, n, pieces[which], sizeof(pieces[which]));
			vals[k] = pieces[which];
		}
		k++;
	}
	keys[k] = NULL;
	vals[k] = NULL;
	conn = PQconnectStartParams(keys, vals, 0);
	host_entry(conn, first);
	PQfinish(conn);
}

static int host_count(PQconninfoOption *opts)
{
	int n = 1;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0) && o->val[0])
		{
			int c = 1;

			for (const char *p = o->val; *p; p++)
				c += *p == ',';
			if (c > n)
				n = c;
		}
	return n;
}

int main(int argc, char **argv)
{
	const char *conninfo = argc > 1 ? argv[1] : "";
	char *err = NULL;
	PQconninfoOption *parsed = PQconninfoParse(conninfo, &err);
	PGconn *conn;
	PQconninfoOption *opts;
	int first = 1;

	if (!parsed)
	{
		json_error(err ? err : "out of memory");
		return 0;
	}
	PQconninfoFree(parsed);
	conn = PQconnectStart(conninfo);
	if (!conn)
	{
		json_error("out of memory");
		return 0;
	}
	if (PQstatus(conn) == CONNECTION_BAD && is_option_error(PQerrorMessage(conn)))
	{
		json_error(PQerrorMessage(conn));
		return 0;
	}
	opts = PQconninfo(conn);
	printf("{\"options\": {");
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
	{
		if (!o->val)
			continue;
		printf("%s", first ? "" : ", ");
		json_string(o->keyword);
		printf(": ");
		json_string(o->val);
		first = 0;
	}
	printf("}, \"hosts\": [");
	for (int i = 0, n = host_count(opts); i < n; i++)
		one_host(opts, i, i == 0);
	printf("]}\n");
	PQconninfoFree(opts);
	PQfinish(conn);
	return 0;
}
