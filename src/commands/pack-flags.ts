/** Flags of the commands that read a pack. */
export interface PackFlags {
  name?: string;
  allowUnsafe?: boolean;
  concurrently: boolean;
  replaceChanged?: boolean;
}

/** application_name on our connections, so DBAs see "pgopt apply <pack>" in pg_stat_activity. */
export const appName = (verb: string, pack: string) => `pgopt ${verb} ${pack}`.slice(0, 63);
