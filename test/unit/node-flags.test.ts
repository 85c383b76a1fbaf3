/** The agent's V8 flags (AGENT_NODE_FLAGS) must be the same wherever the agent process is started. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_ENV, AGENT_NODE_FLAGS, packageRoot } from '../../agent/paths.js';

const read = (p: string): string => readFileSync(join(packageRoot(), p), 'utf8');
const flags = AGENT_NODE_FLAGS.join(' ');

describe('agent node flags', () => {
  it('the systemd unit, the installer drop-in and the #! line of bin/edge-agent.js pass AGENT_NODE_FLAGS to node', () => {
    expect(flags).toMatch(/^--/);
    const unit = read('systemd/edge-agent.service').split('\n').filter((l) => l.startsWith('ExecStart='));
    expect(unit).toEqual([`ExecStart=/usr/bin/node ${flags} /opt/edge-agent/bin/edge-agent.js run --config /etc/edge-agent/config.yaml`]);
    expect(read('scripts/install.sh')).toContain(`ExecStart=$NODE_BIN ${flags} /opt/$APP/bin/$APP.js run`);
    const env = Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`);
    expect(env.length).toBeGreaterThan(0);
    expect(read('bin/edge-agent.js').split('\n')[0]).toBe(`#!/usr/bin/env -S ${env.join(' ')} node ${flags}`);
  });

  it('the systemd unit sets AGENT_ENV (the installer\'s drop-in keeps the unit\'s Environment= lines)', () => {
    const lines = read('systemd/edge-agent.service').split('\n');
    for (const kv of Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`)) expect(lines).toContain(`Environment=${kv}`);
    expect(read('scripts/install.sh')).not.toMatch(/^Environment=$/m);
  });
});
