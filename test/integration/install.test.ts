import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..', '..');
const script = join(repo, 'scripts', 'install.sh');
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

function install(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const stage = (root: string, ...extra: string[]) => install(['--root', root, '--no-apt', '--skip-npm', '--no-start', ...extra]);

/** Every file under dir (relative path -> sha256 + mode), for idempotence checks. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[relative(dir, p)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${(statSync(p).mode & 0o777).toString(8)}`;
      else out[relative(dir, p)] = 'link';
    }
  };
  walk(dir);
  return out;
}

/**
 * systemd-analyze verify --root=DIR resolves ExecStart/ExecReload and the unit's dependencies inside DIR:
 * give it the distribution's units and stand-ins for the two executables the unit names.
 */
function verify(root: string): { status: number | null; stdout: string; stderr: string } {
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  const node = join(root, 'usr/bin/node');
  mkdirSync(dirname(node), { recursive: true });
  if (!existsSync(node)) {
    writeFileSync(node, '#!/bin/sh\nexit 0\n');
    chmodSync(node, 0o755);
  }
  copyFileSync('/usr/bin/kill', join(root, 'usr/bin/kill'));
  if (!existsSync(join(root, 'bin'))) symlinkSync('usr/bin', join(root, 'bin')); // usrmerge, as on Debian 12
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'edge-agent.service'], { encoding: 'utf8', cwd: root });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const haveAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('scripts/install.sh --root (staging)', () => {
  it('installs unit, udev rules, sysusers, config and app; a second run changes nothing and keeps an edited config', () => {
    const root = tmp('edge-install-');
    const r1 = stage(root);
    expect(r1.stderr).toBe('');
    expect(r1.status).toBe(0);
    const unit = readFileSync(join(root, 'etc/systemd/system/edge-agent.service'), 'utf8');
    expect(unit).toBe(readFileSync(join(repo, 'systemd/edge-agent.service'), 'utf8'));
    expect(readFileSync(join(root, 'etc/udev/rules.d/99-edge-agent.rules'), 'utf8')).toContain('18d1');
    expect(existsSync(join(root, 'usr/lib/sysusers.d/edge-agent.conf'))).toBe(true);
    expect(readFileSync(join(root, 'etc/edge-agent/config.yaml'), 'utf8')).toBe(readFileSync(join(repo, 'config/default.yaml'), 'utf8'));
    expect(statSync(join(root, 'etc/edge-agent/config.yaml')).mode & 0o777).toBe(0o640);
    expect(statSync(join(root, 'etc/edge-agent/environment')).mode & 0o777).toBe(0o640);
    expect(existsSync(join(root, 'opt/edge-agent/bin/edge-agent.js'))).toBe(true);
    expect(existsSync(join(root, 'opt/edge-agent/package-lock.json'))).toBe(true);
    for (const excluded of ['.git', 'node_modules', 'dist', 'test']) expect(existsSync(join(root, 'opt/edge-agent', excluded))).toBe(false);
    // No drop-ins on a plain x86 PC with node at /usr/bin/node and a config without sysfs GPIO.
    expect(existsSync(join(root, 'etc/systemd/system/edge-agent.service.d'))).toBe(false);
    expect(r1.stdout).toMatch(/not enabling or starting the service/);
    // The default config names gpiochip and mqtt only in comments: ffmpeg is all it needs.
    expect(r1.stdout).toContain('apt skipped; the config needs: ffmpeg\n');

    const before = tree(root);
    const r2 = stage(root);
    expect(r2.status).toBe(0);
    expect(tree(root)).toEqual(before);

    writeFileSync(join(root, 'etc/edge-agent/config.yaml'), '# mine\n');
    expect(stage(root).status).toBe(0);
    expect(readFileSync(join(root, 'etc/edge-agent/config.yaml'), 'utf8')).toBe('# mine\n');
  });

  it.skipIf(!haveAnalyze)('the installed unit passes systemd-analyze verify with no output at all', () => {
    const root = tmp('edge-verify-');
    expect(stage(root).status).toBe(0);
    const v = verify(root);
    expect({ stdout: v.stdout, stderr: v.stderr, status: v.status }).toEqual({ stdout: '', stderr: '', status: 0 });
  });

  it.skipIf(!haveAnalyze)('systemd-analyze security rates the installed unit at exposure <= 2.0 ("OK")', () => {
    const root = tmp('edge-security-');
    expect(stage(root).status).toBe(0);
    verify(root); // same staging as verify: units and the executables inside the root
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, 'edge-agent.service'], { encoding: 'utf8', cwd: root });
    const level = Number(/Overall exposure level for edge-agent\.service: ([\d.]+)/.exec(r.stdout)?.[1]);
    console.log(`systemd-analyze security --offline: exposure ${level} (0 best, 10 worst)`);
    expect(level).toBeGreaterThan(0);
    expect(level).toBeLessThanOrEqual(2.0);
  });

  it.skipIf(!haveAnalyze)('the verify check is real: an unknown key is reported (and exits 0, hence the output check)', () => {
    const root = tmp('edge-verify-bad-');
    expect(stage(root).status).toBe(0);
    const unitPath = join(root, 'etc/systemd/system/edge-agent.service');
    writeFileSync(unitPath, readFileSync(unitPath, 'utf8').replace('[Service]\n', '[Service]\nRestartSteps=3\n'));
    const v = verify(root);
    expect(v.status).toBe(0);
    expect(v.stderr).toMatch(/Unknown key 'RestartSteps'/);
  });

  it.skipIf(!haveAnalyze)('Jetson: a drop-in allows exactly the GPU nodes present, and still verifies clean', () => {
    const root = tmp('edge-jetson-');
    mkdirSync(join(root, 'etc'), { recursive: true });
    // /etc/nv_tegra_release as written by L4T (JetPack 6); its presence is what marks a Jetson.
    writeFileSync(join(root, 'etc/nv_tegra_release'), '# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64\n');
    for (const n of ['dev/nvmap', 'dev/nvhost-ctrl-gpu', 'dev/nvhost-as-gpu', 'dev/nvgpu/igpu0/ctrl', 'dev/nvgpu/igpu0/as']) {
      mkdirSync(dirname(join(root, n)), { recursive: true });
      writeFileSync(join(root, n), '');
    }
    expect(stage(root).status).toBe(0);
    const dropin = readFileSync(join(root, 'etc/systemd/system/edge-agent.service.d/50-jetson.conf'), 'utf8');
    const allowed = [...dropin.matchAll(/^DeviceAllow=(\S+) rw$/gm)].map((m) => m[1]).sort();
    expect(allowed).toEqual(['/dev/nvgpu/igpu0/as', '/dev/nvgpu/igpu0/ctrl', '/dev/nvhost-as-gpu', '/dev/nvhost-ctrl-gpu', '/dev/nvmap']);
    expect(dropin).toContain('BindPaths=-/tmp/argus_socket');
    const v = verify(root);
    expect({ stdout: v.stdout, stderr: v.stderr, status: v.status }).toEqual({ stdout: '', stderr: '', status: 0 });
  });

  it.skipIf(!haveAnalyze)('sysfs GPIO config and a node outside /usr/bin get their drop-ins; both verify clean', () => {
    const root = tmp('edge-dropins-');
    const cfg = join(root, 'sysfs.yaml');
    writeFileSync(
      cfg,
      readFileSync(join(repo, 'config/default.yaml'), 'utf8').replace('driver: { type: dry-run }', 'driver: { type: sysfs, line: 17 }'),
    );
    const nodeAt = join(root, 'usr/local/bin/node');
    mkdirSync(dirname(nodeAt), { recursive: true });
    // A node stand-in that answers the version query like Node 22 would.
    writeFileSync(nodeAt, '#!/bin/sh\necho 22.11.0\n');
    chmodSync(nodeAt, 0o755);
    // With --root, --node is the path on the target; the installer probes the staged file for its version.
    const r = stage(root, '--config', cfg, '--node', '/usr/local/bin/node');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const d = join(root, 'etc/systemd/system/edge-agent.service.d');
    expect(readFileSync(join(d, '50-sysfs-gpio.conf'), 'utf8')).toContain('ReadWritePaths=-/sys/devices/platform');
    expect(readFileSync(join(d, '40-node.conf'), 'utf8')).toContain('ExecStart=\nExecStart=/usr/local/bin/node --max-semi-space-size=1 /opt/edge-agent/bin/edge-agent.js run');
    expect(r.stdout).toContain('node 22.11.0 at /usr/local/bin/node');
    const v = verify(root);
    expect({ stdout: v.stdout, stderr: v.stderr, status: v.status }).toEqual({ stdout: '', stderr: '', status: 0 });
  });

  it('a failed npm step leaves the installed app untouched and no staging copy behind', () => {
    const root = tmp('edge-npmfail-');
    expect(stage(root).status).toBe(0);
    const before = tree(join(root, 'opt'));
    // npm offline with an empty cache: `npm ci` fails at once (ENOTCACHED), as on a device without network.
    const r = spawnSync('bash', [script, '--root', root, '--no-apt', '--no-start'], {
      encoding: 'utf8',
      env: { ...process.env, npm_config_offline: 'true', npm_config_cache: tmp('edge-npmcache-') },
    });
    expect(r.status).toBe(70);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^install\.sh: error: npm ci failed .*was left unchanged$/);
    expect(tree(join(root, 'opt'))).toEqual(before);
    expect(readdirSync(join(root, 'opt'))).toEqual(['edge-agent']);
  });

  it('--uninstall removes service, app, rules and sysusers but keeps config and state', () => {
    const root = tmp('edge-uninstall-');
    expect(stage(root).status).toBe(0);
    mkdirSync(join(root, 'var/lib/edge-agent/outbox'), { recursive: true });
    writeFileSync(join(root, 'var/lib/edge-agent/outbox/segment-0001'), 'queued events');
    const r = install(['--root', root, '--uninstall']);
    expect(r.status).toBe(0);
    for (const gone of ['etc/systemd/system/edge-agent.service', 'etc/udev/rules.d/99-edge-agent.rules', 'usr/lib/sysusers.d/edge-agent.conf', 'opt/edge-agent', 'usr/local/bin/edge-agent']) {
      expect(existsSync(join(root, gone)), gone).toBe(false);
    }
    expect(existsSync(join(root, 'etc/edge-agent/config.yaml'))).toBe(true);
    expect(readFileSync(join(root, 'var/lib/edge-agent/outbox/segment-0001'), 'utf8')).toBe('queued events');
    expect(install(['--root', root, '--uninstall']).status).toBe(0); // twice is fine too
  });

  it('refuses bad input with one clear line and a non-zero status', () => {
    const root = tmp('edge-bad-');
    const cases: Array<[string[], number, RegExp]> = [
      [['--bogus'], 64, /unknown option "--bogus"/],
      [['--root'], 64, /--root needs a folder/],
      [['--root', root, '--config', join(root, 'nope.yaml')], 66, /config .*nope\.yaml not found/],
      [['--root', root, '--node', 'node'], 64, /--node must be an absolute path/],
    ];
    const old = join(root, 'old-node');
    writeFileSync(old, '#!/bin/sh\necho 18.19.1\n');
    chmodSync(old, 0o755);
    cases.push([['--root', root, '--no-apt', '--skip-npm', '--node', old], 69, /Node\.js 18\.19\.1 is too old: edge-agent needs Node\.js >= 20/]);
    for (const [args, status, message] of cases) {
      const r = install(args);
      expect(r.status, args.join(' ')).toBe(status);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('systemd/edge-agent.sysusers.conf', () => {
  it('systemd-sysusers creates the user and every missing device group, keeping existing ones', () => {
    const root = tmp('edge-sysusers-');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'usr/lib/sysusers.d'), { recursive: true });
    // A plain Debian PC: video and plugdev exist, gpio and apex do not.
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nvideo:x:44:\nplugdev:x:46:\n');
    copyFileSync(join(repo, 'systemd/edge-agent.sysusers.conf'), join(root, 'usr/lib/sysusers.d/edge-agent.conf'));
    const r = spawnSync('systemd-sysusers', [`--root=${root}`, 'edge-agent.conf'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const groups = Object.fromEntries(
      readFileSync(join(root, 'etc/group'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(':'))
        .map(([name, , gid, members]) => [name, { gid, members }]),
    );
    expect(groups.video).toEqual({ gid: '44', members: 'edge-agent' });
    expect(groups.plugdev).toEqual({ gid: '46', members: 'edge-agent' });
    expect(groups.gpio?.members).toBe('edge-agent');
    expect(groups.apex?.members).toBe('edge-agent');
    const user = readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('edge-agent:'));
    expect(user).toMatch(/^edge-agent:x:\d+:\d+:edge-agent vision service:\/var\/lib\/edge-agent:\/usr\/sbin\/nologin$/);
    // Every SupplementaryGroups= name of the unit is created here, so the unit cannot fail with 216/GROUP.
    const unit = readFileSync(join(repo, 'systemd/edge-agent.service'), 'utf8');
    const supplementary = /^SupplementaryGroups=(.*)$/m.exec(unit)![1]!.split(/\s+/);
    for (const g of supplementary) expect(groups[g], g).toBeDefined();
  });
});
