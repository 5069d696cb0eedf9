import { walk } from '../sql/tree.js';

/**
 * Functions whose effect a ROLLBACK does not undo. bench runs every query inside
 * BEGIN … ROLLBACK so that it changes nothing; a query calling one of these would change the
 * database (or the server, or another session) for real on every run, so it is refused.
 */
export const NON_TRANSACTIONAL_FUNCTIONS: Record<string, string> = Object.fromEntries([
  ...['nextval', 'setval'].map((f) => [f, 'sequences are not rolled back']),
  ...[
    'pg_advisory_lock',
    'pg_advisory_lock_shared',
    'pg_try_advisory_lock',
    'pg_try_advisory_lock_shared',
    'pg_advisory_unlock',
    'pg_advisory_unlock_shared',
    'pg_advisory_unlock_all',
  ].map((f) => [f, 'session advisory locks outlive the transaction']),
  ...[
    'pg_cancel_backend',
    'pg_terminate_backend',
    'pg_reload_conf',
    'pg_rotate_logfile',
    'pg_switch_wal',
    'pg_create_restore_point',
    'pg_promote',
    'pg_log_backend_memory_contexts',
    'pg_wal_replay_pause',
    'pg_wal_replay_resume',
    'pg_backup_start',
    'pg_backup_stop',
    'pg_start_backup',
    'pg_stop_backup',
  ].map((f) => [f, 'it acts on the server or another session']),
  ...[
    'pg_stat_reset',
    'pg_stat_reset_shared',
    'pg_stat_reset_single_table_counters',
    'pg_stat_reset_single_function_counters',
    'pg_stat_reset_slru',
    'pg_stat_reset_replication_slot',
    'pg_stat_reset_subscription_stats',
  ].map((f) => [f, 'statistics resets are not rolled back']),
  ...[
    'pg_create_physical_replication_slot',
    'pg_create_logical_replication_slot',
    'pg_drop_replication_slot',
    'pg_copy_physical_replication_slot',
    'pg_copy_logical_replication_slot',
    'pg_replication_slot_advance',
    'pg_logical_slot_get_changes',
    'pg_logical_slot_get_binary_changes',
    'pg_logical_emit_message',
    'pg_replication_origin_create',
    'pg_replication_origin_drop',
    'pg_replication_origin_session_setup',
    'pg_replication_origin_advance',
  ].map((f) => [f, 'replication slots and origins are not rolled back']),
  ...[
    'dblink',
    'dblink_exec',
    'dblink_connect',
    'dblink_connect_u',
    'dblink_disconnect',
    'dblink_open',
    'dblink_fetch',
    'dblink_close',
    'dblink_send_query',
    'dblink_get_result',
  ].map((f) => [f, 'dblink runs in another session, which this ROLLBACK does not reach']),
  // They run SQL given as text, which pgopt's parser never sees: `query_to_xml('select setval(…)')`
  // would get past every check here. Refused by name, whatever the text says.
  ...[
    'query_to_xml',
    'query_to_xmlschema',
    'query_to_xml_and_xmlschema',
    'table_to_xml',
    'table_to_xmlschema',
    'table_to_xml_and_xmlschema',
    'cursor_to_xml',
    'cursor_to_xmlschema',
    'schema_to_xml',
    'schema_to_xmlschema',
    'schema_to_xml_and_xmlschema',
    'database_to_xml',
    'database_to_xmlschema',
    'database_to_xml_and_xmlschema',
    'ts_stat',
    'ts_rewrite',
    'crosstab',
    'crosstab2',
    'crosstab3',
    'crosstab4',
    'connectby',
  ].map((f) => [f, 'it runs SQL given as text, which pgopt cannot check']),
  ...['lo_import', 'lo_export', 'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_file_sync'].map((f) => [
    f,
    'it writes files on the server',
  ]),
]);

/** The non-transactional functions a statement's parse tree calls, with why each is refused. */
export function nonTransactionalCalls(tree: unknown): { name: string; why: string }[] {
  const found = new Map<string, string>();
  walk(tree, (key, node) => {
    if (key !== 'FuncCall') return;
    const parts = (node.funcname ?? []) as { String?: { sval: string } }[];
    const name = (parts[parts.length - 1]?.String?.sval ?? '').toLowerCase();
    const why = NON_TRANSACTIONAL_FUNCTIONS[name];
    if (why) found.set(name, why);
  });
  return [...found].map(([name, why]) => ({ name, why }));
}
