import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { verifyVariantFile, type LoadedManifest } from './manifest.js';
import { benchCachePath, readBenchCache, selectVariant, type Capabilities, type HardwareProfile, type SelectionConfig, type SelectionResult } from '../select/index.js';

/** The hardware profile and the runtimes/accelerators really usable here (probed by the drivers, given in). */
export interface HardwareInfo {
  profile: HardwareProfile;
  capabilities: Capabilities;
}

export interface Choice {
  profile: HardwareProfile;
  selection: SelectionResult;
  /** Variants whose file is missing or does not match its sha256, with the typed error. */
  fileErrors: Map<string, unknown>;
}

/**
 * Scores every variant here: the hardware profile, the runtimes and accelerators really usable, each variant's
 * file checked against its sha256, latency from this device's bench cache when measured. Used by the model host,
 * so `run`, `detect`, `bench` and `doctor` make the same choice. The hardware is probed by the caller.
 */
export async function chooseVariant(manifest: LoadedManifest, o: { selection: SelectionConfig; stateDir?: string; only?: string; log: Logger; hardware: HardwareInfo }): Promise<Choice> {
  const { profile, capabilities } = o.hardware;
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
