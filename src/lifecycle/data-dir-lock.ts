import { openSync, writeSync, closeSync, readFileSync, unlinkSync } from "node:fs";
import path from "node:path";

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(`data_dir ${dir} is in use by another running server (pid ${pid}); stop it first or choose another data_dir`);
    this.name = "DataDirLockedError";
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One server per data_dir: two processes on one embedded database or one
 * signing key would corrupt both. A pid file left by a crashed server is stale
 * and taken over. The processes of a cluster (`instance_name`, on PostgreSQL)
 * share a data_dir: the lock is then one per instance name.
 */
export function lockDataDir(dir: string, instance?: string): () => void {
  const file = path.join(dir, instance ? `homeserver-${instance}.pid` : "homeserver.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(dir, pid);
      unlinkSync(file);
    }
  }
  throw new Error(`could not lock data_dir ${dir}`);
}
