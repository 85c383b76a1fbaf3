import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Read-only view of a filesystem root ('/' on a device, a fixture folder in tests). Every read is
 * forgiving: a missing file is `undefined`, an unreadable one is also recorded in `problems` with the reason,
 * so the probe can return what it could read and say what it could not.
 */
export class Sysroot {
  readonly root: string;
  readonly problems: string[] = [];

  constructor(root: string) {
    this.root = root;
  }

  path(rel: string): string {
    return join(this.root, rel);
  }

  exists(rel: string): boolean {
    try {
      return existsSync(this.path(rel));
    } catch {
      return false;
    }
  }

  isDir(rel: string): boolean {
    try {
      return statSync(this.path(rel)).isDirectory();
    } catch {
      return false;
    }
  }

  /** File text, or undefined when absent. Unreadable files (EACCES, EIO...) are reported as problems. */
  text(rel: string): string | undefined {
    const file = this.path(rel);
    try {
      return readFileSync(file, 'latin1');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.problems.push(`cannot read /${rel}: ${code ?? String(err)}`);
      return undefined;
    }
  }

  /** First line, trimmed (sysfs attributes are one value plus a newline). */
  line(rel: string): string | undefined {
    const t = this.text(rel);
    if (t === undefined) return undefined;
    return t.split('\n')[0]!.replace(/\0+$/, '').trim();
  }

  /** Entries of a folder, sorted; [] when absent. */
  list(rel: string): string[] {
    try {
      return readdirSync(this.path(rel)).sort(naturalCompare);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.problems.push(`cannot list /${rel}: ${code ?? String(err)}`);
      return [];
    }
  }
}

/** "thermal_zone10" after "thermal_zone2", "1-1.3" after "1-1.2". */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
