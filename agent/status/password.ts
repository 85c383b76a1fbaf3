/**
 * Prints the scrypt hash to put in the config as status.passwordHash; the password is read from stdin, so it
 * stays out of the shell history and the process list:
 *
 *   printf '%s' 'the operator password' | node dist/agent/status/password.js
 */
import { fileURLToPath } from 'node:url';
import { hashPassword } from './auth.js';

async function main(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 8) {
    process.stderr.write('edge-agent: give a password of at least 8 characters on stdin, e.g. printf %s "..." | node dist/agent/status/password.js\n');
    return 64;
  }
  process.stdout.write(`status:\n  passwordHash: "${hashPassword(password)}"\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then((code) => (process.exitCode = code));
}
