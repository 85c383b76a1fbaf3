/**
 * The dependency rule of issue #17, checked in CI (`npm run depcheck`, and test/unit/dependency-rule.test.ts):
 * - drivers/ implements ports owned by agent/: it imports from agent/ only ports, types, errors and log (and the
 *   config slices and data contracts those ports are written in, and agent/core: pure shared code), never agent logic;
 * - nothing in the daemon (agent/, drivers/) imports offline tools (scripts/), except a CLI command loading one
 *   lazily (`await import(...)`): `edge-agent optimize` and the demo's scene generator run the tool in-process only
 *   when asked.
 * .dependency-cruiser-known-violations.json (depcruise-baseline, read with `--ignore-known`) is empty: every rule above
 * holds with no exception. It stays for one use: turning a warning into an error (only-the-composition-root-names-drivers,
 * once the CLI commands stop naming drivers) may list the imports that predate it there, to be shrunk, never grown.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'drivers-import-only-agent-ports',
      comment: 'drivers/ may import from agent/ only ports, types, errors, log and the config/data contracts of its ports',
      severity: 'error',
      from: { path: '^drivers/' },
      to: {
        path: '^agent/',
        pathNot: [
          '^agent/(types|errors|log|ports)\\.ts$',
          // Pure shared code (no I/O, no state): the letterbox geometry the camera plans and the pipeline agree on.
          '^agent/core/',
          '^agent/pipeline/ports\\.ts$',
          '^agent/config/sections/',
          '^agent/model/manifest-schema\\.ts$',
          '^agent/select/hardware\\.ts$',
          '^agent/actuators/actuator\\.ts$',
          '^agent/events/types\\.ts$',
          '^agent/outbox/types\\.ts$',
        ],
      },
    },
    {
      name: 'daemon-never-imports-tools',
      comment: 'agent/ and drivers/ run in the daemon; scripts/ are offline tools (a CLI command may load one lazily)',
      severity: 'error',
      from: { path: '^(agent|drivers)/', pathNot: '^agent/(cli/commands|app/cli)/' },
      to: { path: '^scripts/' },
    },
    {
      name: 'cli-loads-tools-lazily',
      comment: 'a CLI command may use an offline tool only through a dynamic import, so the daemon never loads it',
      severity: 'error',
      from: { path: '^agent/(cli/commands|app/cli)/' },
      to: { path: '^scripts/', dynamic: false },
    },
    {
      name: 'only-the-composition-root-names-drivers',
      comment:
        'agent/ policy takes its drivers from agent/app/compose.ts through ports (agent/ports.ts); only the CLI commands and the actuator bank (which loads output drivers in its worker) may also name them',
      severity: 'error',
      from: { path: '^agent/', pathNot: '^agent/(app|cli|actuators)/' },
      to: { path: '^drivers/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|test)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
