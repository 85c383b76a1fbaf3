import { describe, expect, it } from 'vitest';
import { Registry } from '../../agent/app/registry.js';
import { backends, sources, transports } from '../../agent/app/compose.js';
import { resolveStateDir } from '../../agent/paths.js';
import { isAgentError } from '../../agent/errors.js';

describe('composition root registries', () => {
  it('loads a factory once, by type; an unknown type is a typed error naming the known ones', async () => {
    let loads = 0;
    const r = new Registry<() => string>('widget').register('a', async () => {
      loads++;
      return () => 'A';
    });
    expect((await r.get('a'))()).toBe('A');
    await r.get('a');
    expect(loads).toBe(1);
    const err = await r.get('b').catch((e: unknown) => e);
    expect(isAgentError(err)).toBe(true);
    expect((err as Error).message).toBe('widget type "b" is not known');
    expect((err as { fix?: string }).fix).toBe('use one of: a');
  });

  it('a failed import is not cached: the next use tries again', async () => {
    let n = 0;
    const r = new Registry<number>('runtime').register('x', async () => {
      if (++n === 1) throw new Error('libedgetpu.so.1: cannot open shared object file');
      return n;
    });
    await expect(r.get('x')).rejects.toThrow(/libedgetpu/);
    expect(await r.get('x')).toBe(2);
  });

  it('names the drivers by type: runtimes, every source type, the MQTT transport', () => {
    expect(backends.types()).toEqual(['onnxruntime', 'tflite']);
    expect(sources.types().sort()).toEqual(['file', 'images', 'jetson-csi', 'libcamera', 'pipeline', 'rtsp', 'v4l2']);
    expect(transports.types()).toEqual(['mqtt']);
  });
});

describe('resolveStateDir: one rule for every command', () => {
  const env = {} as NodeJS.ProcessEnv;
  it('--state-dir, then the config (relative to its file), then systemd, then ./state', () => {
    expect(resolveStateDir({ flag: 's', configStateDir: '/c', env, cwd: '/w' })).toBe('/w/s');
    expect(resolveStateDir({ configStateDir: 'st', configBaseDir: '/etc/edge-agent', env, cwd: '/w' })).toBe('/etc/edge-agent/st');
    expect(resolveStateDir({ env: { STATE_DIRECTORY: '/var/lib/edge-agent:/x' }, cwd: '/w' })).toBe('/var/lib/edge-agent');
    expect(resolveStateDir({ env: { INVOCATION_ID: 'abc' }, cwd: '/w' })).toBe('/var/lib/edge-agent');
    expect(resolveStateDir({ env, cwd: '/w' })).toBe('/w/state');
  });
});
