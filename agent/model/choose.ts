import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { verifyVariantFile, type LoadedManifest } from './manifest.js';
import { packageRoot } from '../paths.js';
import { benchCachePath, readBenchCache, selectVariant, type HardwareProfile, type SelectionConfig, type SelectionResult } from '../select/index.js';
import { detectCapabilities, probe } from '../../drivers/probe/index.js';

export interface Choice {
  profile: HardwareProfile;
  selection: SelectionResult;
  /** Variants whose file is missing or does not match its sha256, with the typed error. */
  fileErrors: Map<string, unknown>;
}

/**
 * Scores every variant here: the hardware profile, the runtimes and accelerators really usable, each variant's
 * file checked against its sha256, latency from this device's bench cache when measured. The same choice for
 * `run`, `detect` and `doctor`.
 */
export async function chooseVariant(manifest: LoadedManifest, o: { selection: SelectionConfig; stateDir?: string; only?: string; log: Logger }): Promise<Choice> {
  const profile = probe('/');
  const capabilities = await detectCapabilities(profile, { packageRoot: packageRoot() });
  const cacheFile = o.stateDir ? benchCachePath(o.stateDir) : undefined;
  const benchCache = cacheFile ? readBenchCache(cacheFile, (msg) => o.log.warn({ file: cacheFile }, msg)) : undefined;
  const unavailable: Record<string, string> = {};
  const fileErrors = new Map<string, unknown>();
  for (const v of manifest.variants) {
    await verifyVariantFile(manifest, v).catch((err: unknown) => {
      unavailable[v.name] = messageOf(err);
      fileErrors.set(v.name, err);
    });
  }
  const selection = selectVariant({
    profile,
    capabilities,
    variants: o.only ? manifest.variants.filter((v) => v.name === o.only) : manifest.variants,
    selection: o.selection,
    ...(benchCache ? { benchCache } : {}),
    unavailable,
  });
  return { profile, selection, fileErrors };
}
