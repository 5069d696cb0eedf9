/**
 * The conformance cases: the same input fed to the system's libpq (libpq-resolve.c) and to
 * pgopt's resolver. First PostgreSQL's own URI vectors (src/interfaces/libpq/t/001_uri.pl),
 * then pgopt's own across keyword/value strings, the environment, service files, the password
 * file, several hosts and sockets. Files are written into a fresh HOME for each case.
 */
export interface ConformanceCase {
  /** The connection string ('' for none: everything from the environment). */
  conninfo: string;
  env?: Record<string, string>;
  /** ~/.pgpass, written with mode 0600 unless `pgpassMode` says otherwise. */
  pgpass?: string;
  pgpassMode?: number;
  /** ~/.pg_service.conf */
  service?: string;
  /** $HOME/sys/pg_service.conf, found through PGSYSCONFDIR=$HOME/sys */
  sysService?: string;
  /** The first libpq major version that knows this input's keywords and values. */
  since?: number;
  /** Why pgopt differs from libpq here on purpose (README "Connecting"). */
  intended?: string;
}

const uri = (conninfo: string, env?: Record<string, string>, since?: number): ConformanceCase => ({ conninfo, env, since });

/** 001_uri.pl, every vector. */
export const POSTGRES_URI_VECTORS: ConformanceCase[] = [
  'postgresql://uri-user:secret@host:12345/db',
  'postgresql://uri-user@host:12345/db',
  'postgresql://uri-user@host/db',
  'postgresql://host:12345/db',
  'postgresql://host/db',
  'postgresql://uri-user@host:12345/',
  'postgresql://uri-user@host/',
  'postgresql://uri-user@',
  'postgresql://host:12345/',
  'postgresql://host:12345',
  'postgresql://host/db',
  'postgresql://host/',
  'postgresql://host',
  'postgresql://',
  'postgresql://?hostaddr=127.0.0.1',
  'postgresql://example.com?hostaddr=63.1.2.4',
  'postgresql://%68ost/',
  'postgresql://host/db?user=uri-user',
  'postgresql://host/db?user=uri-user&port=12345',
  'postgresql://host/db?u%73er=someotheruser&port=12345',
  'postgresql://host/db?u%7aer=someotheruser&port=12345',
  'postgresql://host:12345?user=uri-user',
  'postgresql://host?user=uri-user',
  'postgresql://host?',
  'postgresql://[::1]:12345/db',
  'postgresql://[::1]/db',
  'postgresql://[2001:db8::1234]/',
  'postgresql://[200z:db8::1234]/',
  'postgresql://[::1]',
  'postgres://',
  'postgres:///',
  'postgres:///db',
  'postgres://uri-user@/db',
  'postgres://?host=/path/to/socket/dir',
  'postgresql://host?uzer=',
  'postgre://',
  'postgres://[::1',
  'postgres://[]',
  'postgres://[::1]z',
  'postgresql://host?zzz',
  'postgresql://host?value1&value2',
  'postgresql://host?key=key=value',
  'postgres://host?dbname=%XXfoo',
  'postgresql://a%00b',
  'postgresql://%zz',
  'postgresql://%1',
  'postgresql://%',
  'postgres://@host',
  'postgres://host:/',
  'postgres://:12345/',
  'postgres://otheruser@?host=/no/such/directory',
  'postgres://otheruser@/?host=/no/such/directory',
  'postgres://otheruser@:12345?host=/no/such/socket/path',
  'postgres://otheruser@:12345/db?host=/path/to/socket',
  'postgres://:12345/db?host=/path/to/socket',
  'postgres://:12345?host=/path/to/socket',
  'postgres://%2Fvar%2Flib%2Fpostgresql/dbname',
]
  .map((u) => uri(u))
  .concat([
    uri('postgresql://host?sslmode=disable', { PGSSLROOTCERT: 'system' }, 16),
    uri('postgresql://host?sslmode=prefer', { PGSSLROOTCERT: 'system' }, 16),
    uri('postgresql://host?sslmode=verify-full', { PGSSLROOTCERT: 'system' }, 16),
  ]);

/** URLs beyond PostgreSQL's vectors: what applications and .env files hold. */
const URLS: ConformanceCase[] = [
  uri('postgres://u:pa%2Bss@h/db'),
  uri('postgres://h/db?password=a+b'),
  uri('postgres://u:pa#ss@h/db'),
  uri('postgres://h/db#frag'),
  uri('postgres://h/db?application_name=my%20app'),
  uri('postgres://h1:1,h2:2/db'),
  uri('postgres://h1,h2:2/db'),
  uri('postgres://h1:1,h2/db'),
  uri('postgres://,/db'),
  uri('postgres://h/db?target_session_attrs=read-write'),
  uri('postgres://h/db?target_session_attrs=bogus'),
  uri('postgres://h/db?ssl=true'),
  uri('postgres://h/db?ssl=1'),
  uri('postgres://h/db?requiressl=1'),
  uri('postgres://h/db?options=-c%20search_path%3Dx'),
  uri('postgres://h/db?connect_timeout=10'),
  uri('postgres://h/db?hostaddr=127.0.0.1'),
  uri('postgres://a,b/db?hostaddr=127.0.0.1,127.0.0.2'),
  uri('postgres://a,b/db?hostaddr=127.0.0.1'),
  uri('postgres://h/db?user=%'),
  uri('postgres://h/%'),
  uri('postgres://h/db?&'),
  uri('postgres://h/db?a=1=2'),
  uri(' postgres://h/db'),
  uri('postgres://h/db? user=x'),
  uri('postgres://h/db?gssencmode=disable'),
  uri('postgres://h/db?channel_binding=require'),
  uri('postgres://h/db?replication=database'),
  uri('postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem'),
  uri('postgres://h/db?port=7000'),
  uri('postgres://h:1/db?port=2'),
  uri('postgres://h/db?host=other'),
  uri('postgres://u:p@h/db?user=v&password=q'),
  uri('postgres://h/'),
  uri('postgres://h/', { PGDATABASE: 'envdb' }),
  uri('postgres://h/db?sslmode=allow'),
  uri('postgres://h/db?fallback_application_name=fb'),
  uri('postgres://h/db?client_encoding=UTF8'),
  uri('postgres://h:abc/db'),
  uri('postgresql://h/db?sslcert=%2Fc.pem&sslkey=%2Fk.pem'),
  {
    conninfo: 'postgres://h/db?schema=public',
    intended: "Prisma's own URL parameters are skipped, so the application's DATABASE_URL works as it is",
  },
  {
    conninfo: 'postgres://u:Zq@Xk@db/app',
    intended: "a raw '@' in the password is refused: libpq takes the rest of the password as the host name and prints it in its error",
  },
];

const kv = (conninfo: string, env?: Record<string, string>): ConformanceCase => ({ conninfo, env });

const KEYWORD_VALUE: ConformanceCase[] = [
  kv(`host=h port=1 dbname='my db' user=u password='it\\'s'`),
  kv('host = h'),
  kv('host=h password=a\\ b'),
  kv('host=h dbname='),
  kv('host=h user='),
  kv("host=h password=''"),
  kv('host=h colour=blue'),
  kv('host=h port=1,2'),
  kv('host=a,b port=1,2'),
  kv('host=a,b,c port=1'),
  kv("host='a b'"),
  kv('  host=h  sslmode=require  '),
  kv('host=h sslmode=REQUIRE'),
  kv('host=h target_session_attrs=standby'),
  kv('host=h requiressl=0'),
  kv('host=h hostaddr=127.0.0.1'),
  kv('hostaddr=127.0.0.1'),
  kv('host=,h'),
  kv('host=h=1'),
  kv("host=h 'x'=1"),
  kv('host=h\tport=1'),
  kv('host=h port='),
  kv('host=h port=   5433'),
  kv('host=h dbname=postgres://x/y'),
  kv('=x'),
  kv('host'),
  kv("host='unterminated"),
  kv('host=h host=g'),
  kv('host=/tmp/sock port=5555'),
  kv('host=h gssencmode=require'),
  kv('host=h channel_binding=bogus'),
  kv('host=h load_balance_hosts=random'),
  kv('host=h sslmode=verify-full sslrootcert=/nonexistent'),
  kv('host=h application_name=x\\ y'),
  kv("host=h options='-c statement_timeout=5s'"),
  kv('host=h keepalives=0 tcp_user_timeout=100'),
  kv('host=h port=0'),
  kv('host=h port=99999'),
  kv('host=h port=-1'),
  kv('host=h,g,f port=1,,3'),
  kv('host=h hostaddr='),
  kv('host=h connect_timeout=abc'),
];
KEYWORD_VALUE.find((c) => c.conninfo.includes('load_balance_hosts'))!.since = 16;

const env = (e: Record<string, string>, conninfo = ''): ConformanceCase => ({ conninfo, env: e });

const ENVIRONMENT: ConformanceCase[] = [
  env({ PGHOST: 'h', PGPORT: '1', PGUSER: 'u', PGDATABASE: 'd', PGPASSWORD: 'p' }),
  env({ PGHOST: '' }),
  env({ PGHOST: 'a,b', PGPORT: '1,2' }),
  env({ PGSSLMODE: '' }),
  env({ PGSSLMODE: 'verify-ca', PGHOST: 'h' }),
  env({ PGREQUIRESSL: '1', PGHOST: 'h' }),
  env({ PGREQUIRESSL: '1', PGSSLMODE: 'disable', PGHOST: 'h' }),
  env({ PGREQUIRESSL: '0', PGHOST: 'h' }),
  env({ PGREQUIRESSL: '1' }, 'host=h sslmode=allow'),
  env({ PGAPPNAME: 'app', PGHOST: 'h' }),
  env({ PGCLIENTENCODING: 'LATIN1', PGHOST: 'h' }),
  env({ PGCHANNELBINDING: 'require', PGHOST: 'h' }),
  env({ PGGSSENCMODE: 'disable', PGHOST: 'h' }),
  env({ PGTARGETSESSIONATTRS: 'read-only', PGHOST: 'h' }),
  env({ PGCONNECT_TIMEOUT: '7', PGHOST: 'h' }),
  env({ PGOPTIONS: '-c work_mem=64MB', PGHOST: 'h' }),
  env({ PGHOSTADDR: '127.0.0.1' }, 'host=name.example'),
  env({ PGHOSTADDR: '127.0.0.1' }),
  env({ PGSSLCERT: '/c.pem', PGSSLKEY: '/k.pem', PGSSLROOTCERT: '/r.pem', PGHOST: 'h' }),
  env({ PGHOST: 'e' }, 'host=s'),
  env({ PGDATABASE: 'envdb' }, 'dbname='),
  env({ PGUSER: '' }),
  env({ PGUSER: 'envuser' }, 'postgres://h'),
  env({ PGPORT: '' }, 'host=h'),
  env({ PGPORT: 'x' }, 'host=h'),
  env({ PGTARGETSESSIONATTRS: 'nope' }),
  env({ PGPASSWORD: '' }, 'host=h'),
  env({ PGSSLMODE: 'require', PGHOST: 'h' }, 'sslmode=disable'),
];

const SVC = `# team services\n[app]\nhost=svc.host\nport=6000\ndbname=svcdb\nuser=svcuser\n\n[other]\nhost=other.host\n`;

const svc = (conninfo: string, service: string, e: Record<string, string> = {}, sysService?: string): ConformanceCase => ({
  conninfo,
  service,
  env: e,
  sysService,
});

const SERVICES: ConformanceCase[] = [
  svc('service=app', SVC),
  svc('', SVC, { PGSERVICE: 'app' }),
  svc('service=app dbname=mine', SVC),
  svc('service=app', SVC, { PGHOST: 'envhost', PGSSLMODE: 'disable' }),
  svc('postgres://explicit/?service=app', SVC),
  svc('service=app', '[app]\nhost=first\nhost=second\n'),
  svc('service=app', '[app]\nhost=first\n[app]\nport=7\n'),
  svc('service=app', '[app]\n; old comment\nhost=h\n'),
  svc('service=app', '[app]\nhost = h\n'),
  svc('service=app', '[app]\noptions=-c search_path=a,b\n   host=h   \n'),
  svc('service=app', '[app] trailing\nhost=h\n'),
  svc('service=missing', SVC),
  svc('service=app', SVC, { PGSERVICEFILE: '/nonexistent/pg_service.conf' }),
  svc('service=shared', SVC, { PGSYSCONFDIR: '$HOME/sys' }, '[shared]\nhost=sys.host\n'),
  svc('service=app', SVC, { PGSYSCONFDIR: '$HOME/sys' }, '[app]\nhost=sys.host\n'),
  svc('service=app', '[app]\nservice=other\n'),
  svc('service=app', '[app]\ncolour=blue\n'),
  svc('service=app', '[app]\nhost=h\npassword=from-service\n'),
  svc('service=app', '[app]\r\nhost=h\r\n'),
  svc('service=app', '[other]\nhost=x\n[app]\nhost=h\n[more]\nhost=y\n'),
  svc('service=app', '# nothing\n'),
  svc('service=app', '[app]\njunk\n'),
];

const PGPASS = [
  '# comment',
  'exact.host:5432:db:u:exact',
  'wild.host:*:*:*:wild',
  'colon.host:5432:db:u:pa\\:ss',
  'cut.host:5432:db:u:pa:ss',
  'star\\*.host:5432:db:u:literal-star',
  'localhost:5432:db:u:via-localhost',
  '/tmp/sockdir:5432:db:u:via-socketdir',
  '127.0.0.1:5432:db:u:by-address',
  'multi1:1:db:u:one',
  'multi2:2:db:u:two',
  'exact.host:5432:db:u:second-line-never',
  'crlf.host:5432:db:u:crlf\r',
  'esc\\\\host:5432:db:u:backslash',
  '*:5433:db:u:any-host-5433',
].join('\n');

const pass = (conninfo: string, e: Record<string, string> = {}, pgpass = PGPASS, pgpassMode?: number): ConformanceCase => ({
  conninfo,
  env: e,
  pgpass,
  pgpassMode,
});

const PASSWORD_FILE: ConformanceCase[] = [
  pass('host=exact.host dbname=db user=u'),
  pass('host=wild.host dbname=any user=any port=9'),
  pass('host=colon.host dbname=db user=u'),
  pass('host=cut.host dbname=db user=u'),
  pass('host=star*.host dbname=db user=u'),
  pass('host=starX.host dbname=db user=u'),
  pass('dbname=db user=u'),
  pass('host=/var/run/postgresql dbname=db user=u'),
  pass('host=/tmp/sockdir dbname=db user=u'),
  pass('host=localhost dbname=db user=u'),
  pass('hostaddr=127.0.0.1 dbname=db user=u'),
  pass('host=exact.host hostaddr=127.0.0.1 dbname=db user=u'),
  pass('postgres://u:@exact.host/db'),
  pass("host=exact.host dbname=db user=u password=''"),
  pass('host=exact.host dbname=db user=u password=given'),
  pass('host=multi1,multi2 port=1,2 dbname=db user=u'),
  pass('host=crlf.host dbname=db user=u'),
  pass('host=esc\\\\host dbname=db user=u'),
  pass('host=other dbname=db user=u port=5433'),
  pass('host=exact.host dbname=db user=u port=05432'),
  pass('host=exact.host dbname=db user=u', {}, PGPASS, 0o644),
  pass('host=exact.host dbname=db user=u', { PGPASSFILE: '$HOME/.pgpass' }),
  pass('host=exact.host dbname=db user=u passfile=/nonexistent'),
  pass('host=exact.host dbname=db', { PGUSER: 'u' }),
  pass('host=exact.host user=u', { PGDATABASE: 'db' }),
  pass('host=,exact.host dbname=db user=u'),
];

export const CONFORMANCE_CASES: ConformanceCase[] = [
  ...POSTGRES_URI_VECTORS,
  ...URLS,
  ...KEYWORD_VALUE,
  ...ENVIRONMENT,
  ...SERVICES,
  ...PASSWORD_FILE,
];
