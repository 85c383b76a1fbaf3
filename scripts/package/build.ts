/**
 * Release artefacts: the npm tarball and Debian packages for amd64, arm64 and armhf, in dist/packages/.
 *
 *   npm run package                                   all three .deb files and the tarball
 *   node dist/scripts/package/build.js --arch amd64 --out DIR
 *
 * Each .deb holds the app in /opt/edge-agent (built dist/, config, demo model, docs) with the production dependencies
 * of that architecture only, installed from package-lock.json (`npm ci --omit=dev --cpu --os --libc`, so the
 * versions are the lock file's under npm 10 and 11 alike; install scripts are not run) and pruned of what never loads
 * there (other platforms' ONNX Runtime and TFLite binaries, tfjs JavaScript, type declarations, source maps), plus the
 * systemd unit, sysusers.d file, udev rules, the default config as a conffile and maintainer scripts
 * (scripts/package/debian). Built with dpkg-deb; npm reads its cache first (--prefer-offline).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../../agent/paths.js';

/** Debian architecture -> Node's process.arch, onnxruntime-node's bin folder, tfjs-tflite-node's cc_deps folder. */
export const ARCHES = {
  amd64: { node: 'x64', ort: 'linux/x64', tflite: 'linux_amd64' },
  arm64: { node: 'arm64', ort: 'linux/arm64', tflite: 'linux_arm64' },
  // No onnxruntime-node or TFLite build exists for 32-bit ARM: ONNX models run on onnxruntime-web (WebAssembly).
  armhf: { node: 'arm', ort: undefined, tflite: undefined },
} as const;
export type DebArch = keyof typeof ARCHES;

export interface BuiltPackage {
  arch: DebArch;
  file: string;
  /** Installed size in bytes (du of the package tree). */
  installedBytes: number;
  debBytes: number;
}

const APP = 'edge-agent';
const OPT = `opt/${APP}`;

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  return r.stdout;
}

/** `npm pack` of the checkout (dist/ must be built) into `out`; returns the tarball's path. */
export function packTarball(out: string): string {
  mkdirSync(out, { recursive: true });
  // --ignore-scripts: prepack would run tsc again; `npm run package` has just built dist/.
  const json = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd: packageRoot() });
  const file = join(out, (JSON.parse(json) as Array<{ filename: string }>)[0]!.filename);
  // The lock file goes in as npm-shrinkwrap.json (npm never packs package-lock.json), added to the packed tarball
  // rather than written into the checkout (two builds may run at once): the .deb builds install exactly these
  // versions from it with `npm ci`.
  const work = mkdtempSync(join(tmpdir(), 'edge-agent-pack-'));
  try {
    sh('tar', ['-xzf', file, '-C', work]);
    copyFileSync(join(packageRoot(), 'package-lock.json'), join(work, 'package', 'npm-shrinkwrap.json'));
    pinDependencies(join(work, 'package', 'package.json'), join(packageRoot(), 'package-lock.json'));
    sh('tar', ['-czf', file, '--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-C', work, 'package']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return file;
}

/**
 * The packed package.json names the exact versions of the lock file: `npm i -g` of the tarball does not read its
 * npm-shrinkwrap.json for the package being installed, and resolved onnxruntime-node ^1.30.0 to a newer release
 * than the one tested; exact versions make that route install what the .deb installs.
 */
function pinDependencies(pkgJson: string, lockFile: string): void {
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as Record<string, Record<string, string> | undefined>;
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { packages: Record<string, { version?: string }> };
  for (const field of ['dependencies', 'optionalDependencies'] as const) {
    for (const name of Object.keys(pkg[field] ?? {})) {
      const locked = lock.packages[`node_modules/${name}`]?.version;
      if (locked) pkg[field]![name] = locked;
    }
  }
  writeFileSync(pkgJson, `${JSON.stringify(pkg, null, 2)}\n`);
}

/** Builds one .deb from the npm tarball; returns its path and sizes. */
export function buildDeb(tarball: string, arch: DebArch, out: string): BuiltPackage {
  const spec = ARCHES[arch];
  const work = mkdtempSync(join(tmpdir(), `edge-agent-deb-${arch}-`));
  try {
    const root = join(work, 'root');
    const app = join(root, OPT);
    mkdirSync(app, { recursive: true });
    sh('tar', ['-xzf', tarball, '-C', app, '--strip-components=1', '--no-same-owner']);
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { version: string; engines?: { node?: string } };
    // npm ci installs from the tarball's npm-shrinkwrap.json (the checkout's lock file).
    sh('npm', ['ci', '--omit=dev', '--ignore-scripts', '--os=linux', `--cpu=${spec.node}`, '--libc=glibc', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' },
    });
    pruneForArch(join(app, 'node_modules'), arch);
    // Read by bin/edge-agent.js: a package for another CPU than node's exits 69 with the package to install.
    writeFileSync(join(app, '.package-arch'), `${arch} ${spec.node}\n`);

    const src = packageRoot();
    put(join(src, 'systemd', `${APP}.service`), join(root, 'lib/systemd/system', `${APP}.service`), 0o644);
    put(join(src, 'systemd', `${APP}.sysusers.conf`), join(root, 'usr/lib/sysusers.d', `${APP}.conf`), 0o644);
    put(join(src, 'systemd', `99-${APP}.rules`), join(root, 'lib/udev/rules.d', `99-${APP}.rules`), 0o644);
    put(join(src, 'config', 'default.yaml'), join(root, 'etc', APP, 'config.yaml'), 0o644);
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    symlinkSync(`/${OPT}/bin/${APP}.js`, join(root, 'usr/bin', APP));
    chmodSync(join(app, 'bin', `${APP}.js`), 0o755);
    mkdirSync(join(root, 'usr/share/doc', APP), { recursive: true });
    writeFileSync(
      join(root, 'usr/share/doc', APP, 'copyright'),
      `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: ${APP}\n\nFiles: *\nLicense: Apache-2.0\n On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n\nFiles: opt/${APP}/node_modules/*\nLicense: various (see each package's LICENSE file and package.json)\n`,
    );

    const installedBytes = duBytes(root);
    const debian = join(root, 'DEBIAN');
    mkdirSync(debian);
    const nodeMajor = /\d+/.exec(pkg.engines?.node ?? '20')?.[0] ?? '20';
    writeFileSync(
      join(debian, 'control'),
      [
        `Package: ${APP}`,
        `Version: ${pkg.version}`,
        `Architecture: ${arch}`,
        'Maintainer: edge-agent maintainers <maintainers@edge-agent.invalid>',
        `Installed-Size: ${Math.ceil(installedBytes / 1024)}`,
        // Debian 13 and Ubuntu 24.04 have nodejs >= 20; Debian 12 / Raspberry Pi OS bookworm need NodeSource's nodejs.
        `Depends: nodejs (>= ${nodeMajor}), ffmpeg`,
        'Recommends: systemd',
        'Suggests: gpiod, mosquitto-clients, libedgetpu1-std',
        'Section: misc',
        'Priority: optional',
        'Description: on-device vision agent: camera -> model -> rules -> GPIO and MQTT',
        ' Runs object detection on a camera stream on Raspberry Pi, Jetson and Coral boards and drives GPIO outputs',
        ' and MQTT events with a durable outbox, as a hardened systemd service (edge-agent.service).',
        '',
      ].join('\n'),
    );
    writeFileSync(join(debian, 'conffiles'), `/etc/${APP}/config.yaml\n`);
    for (const s of ['postinst', 'prerm', 'postrm']) put(join(src, 'scripts', 'package', 'debian', s), join(debian, s), 0o755);

    mkdirSync(out, { recursive: true });
    const file = join(out, `${APP}_${pkg.version}_${arch}.deb`);
    // gzip: quick to build on a busy CI machine and readable by every dpkg (Debian 12 has no zstd in dpkg-deb).
    sh('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', root, file]);
    return { arch, file, installedBytes, debBytes: statSync(file).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function put(from: string, to: string, mode: number): void {
  mkdirSync(resolve(to, '..'), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, mode);
}

function duBytes(dir: string): number {
  return Number(sh('du', ['-s', '-B1', '--apparent-size', dir]).split('\t')[0]);
}

/** Removes from node_modules what never loads on `arch`. Exported for the test that checks what stays. */
export function pruneForArch(nm: string, arch: DebArch): void {
  const spec = ARCHES[arch];
  // onnxruntime-node: only this architecture's Linux binding (armhf: none; the registry uses onnxruntime-web).
  const ortBin = join(nm, 'onnxruntime-node', 'bin', 'napi-v6');
  if (existsSync(ortBin)) {
    for (const os of readdirSync(ortBin)) {
      for (const cpu of readdirSync(join(ortBin, os))) {
        if (`${os}/${cpu}` !== spec.ort) rmSync(join(ortBin, os, cpu), { recursive: true, force: true });
      }
      if (readdirSync(join(ortBin, os)).length === 0) rmSync(join(ortBin, os), { recursive: true });
    }
  }
  // tfjs-tflite-node: the agent dlopens its cc_deps/<platform>/libtensorflowlite_c.so only (drivers/inference/tflite/capi.ts).
  const tfl = join(nm, 'tfjs-tflite-node');
  if (existsSync(tfl)) {
    if (!spec.tflite) rmSync(tfl, { recursive: true, force: true });
    else {
      for (const e of readdirSync(tfl)) if (e !== 'package.json' && e !== 'cc_deps' && !/^LICENSE/i.test(e)) rmSync(join(tfl, e), { recursive: true, force: true });
      for (const d of readdirSync(join(tfl, 'cc_deps'))) if (d !== spec.tflite) rmSync(join(tfl, 'cc_deps', d), { recursive: true, force: true });
    }
  }
  // tfjs JavaScript (tfjs-tflite-node's own dependencies): never imported by the agent.
  rmSync(join(nm, '@tensorflow'), { recursive: true, force: true });
  // onnxruntime-web: the Node entry and the one WebAssembly build it loads (SIMD; threads optional).
  const web = join(nm, 'onnxruntime-web');
  if (existsSync(web)) {
    const keep = new Set(['ort.node.min.mjs', 'ort.node.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']);
    for (const f of readdirSync(join(web, 'dist'))) if (!keep.has(f)) rmSync(join(web, 'dist', f), { recursive: true, force: true });
    for (const d of ['lib', 'docs']) rmSync(join(web, d), { recursive: true, force: true });
  }
  pruneFiles(nm);
}

/**
 * Type declarations, source maps and Markdown docs (licence texts stay), everywhere in node_modules; and protobufjs's
 * code generator (protobufjs/cli, pbjs/pbts with its own dependencies: 16 MB under onnx-proto), a build-time tool.
 */
function pruneFiles(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name === 'cli' && dir.endsWith('/protobufjs')) rmSync(p, { recursive: true, force: true });
    else if (e.isDirectory()) pruneFiles(p);
    else if (e.isFile() && /(\.d\.[cm]?ts|\.map|\.md|\.markdown)$/i.test(e.name) && !/^licen[cs]e/i.test(e.name)) rmSync(p);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { arch: { type: 'string' }, out: { type: 'string' }, 'no-tarball': { type: 'boolean' } } });
  const archs = (values.arch ?? 'amd64,arm64,armhf').split(',').map((a) => a.trim()) as DebArch[];
  for (const a of archs) {
    if (!(a in ARCHES)) {
      process.stderr.write(`package: unknown --arch ${a}: use amd64, arm64 and/or armhf\n`);
      return 64;
    }
  }
  const out = resolve(values.out ?? join(packageRoot(), 'dist', 'packages'));
  const tarball = packTarball(out);
  process.stdout.write(`npm tarball  ${tarball}  ${(statSync(tarball).size / 1e6).toFixed(1)} MB\n`);
  const built: BuiltPackage[] = [];
  for (const a of archs) {
    const b = buildDeb(tarball, a, out);
    built.push(b);
    process.stdout.write(`${a.padEnd(6)} ${b.file}  installed ${(b.installedBytes / 1e6).toFixed(1)} MB, .deb ${(b.debBytes / 1e6).toFixed(1)} MB\n`);
  }
  if (values['no-tarball']) rmSync(tarball);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`package: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(70);
    },
  );
}
