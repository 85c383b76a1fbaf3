import * as fsp from 'node:fs/promises';
import { AgentError, messageOf } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';

export type SecretFs = Pick<typeof fsp, 'readFile' | 'stat'>;

/**
 * Reads a file named in the config (CA, certificate, key, password). Missing or unreadable -> a config error
 * naming the field; a secret (key, password) readable by group or others -> one warning with the chmod to run.
 */
export async function readConfigFile(
  fs: SecretFs,
  file: string,
  field: string,
  opts: { secret: boolean; log: Logger },
): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : messageOf(err);
    throw new AgentError('CONFIG_INVALID', `${field}: ${file} ${why}`, {
      fix: code === 'EACCES' ? `let the edge-agent user read it (chown/chmod ${file})` : `fix the path in ${field}`,
      cause: err,
    });
  }
  if (opts.secret) {
    const st = await fs.stat(file);
    if ((st.mode & 0o077) !== 0) {
      opts.log.warn(
        { field, file, mode: `0${(st.mode & 0o777).toString(8)}` },
        `${field}: ${file} is readable by group or others (mode 0${(st.mode & 0o777).toString(8)}): run chmod 600 ${file}`,
      );
    }
  }
  return data;
}

/** The MQTT password from `passwordFile` (trailing newline removed) or `passwordEnv`; never from the config itself. */
export async function readPassword(
  fs: SecretFs,
  cfg: { passwordFile?: string | undefined; passwordEnv?: string | undefined },
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<string | undefined> {
  if (cfg.passwordFile) {
    const raw = await readConfigFile(fs, cfg.passwordFile, 'events.mqtt.passwordFile', { secret: true, log });
    return raw.toString('utf8').replace(/\r?\n$/, '');
  }
  if (cfg.passwordEnv) {
    const v = env[cfg.passwordEnv];
    if (v === undefined) {
      throw new AgentError('CONFIG_INVALID', `events.mqtt.passwordEnv: the environment variable ${cfg.passwordEnv} is not set`, {
        fix: `set ${cfg.passwordEnv} in the service environment (e.g. an EnvironmentFile= drop-in), or use passwordFile`,
      });
    }
    return v;
  }
  return undefined;
}
