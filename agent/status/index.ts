export type * from './source.js';
export { StatusFeed, type StatusFeedOptions } from './feed.js';
export { LiveView, type EncodedFrame, type LiveCounters } from './live.js';
export { createStatusHandler, type StatusHandler, type StatusHandlerOptions } from './routes.js';
export { OutputTester, type OutputDriving } from './output-test.js';
export { ZoneSaver, readZones, polygonShapeProblem } from './zone-save.js';
export { hashPassword, verifyPassword } from './auth.js';
export { pageFolder } from './assets.js';

import type { OutputTester } from './output-test.js';
import type { ZoneSaver } from './zone-save.js';
import type { OperatorActions } from './source.js';

/** The operator's actions from their two implementations (zone saving needs a config file: without one, refused). */
export function operatorActions(tester: OutputTester, zones: ZoneSaver | undefined): OperatorActions {
  return {
    testOutput: (r) => tester.test(r),
    saveZone: async (r) => (zones ? zones.save(r) : { ok: false, status: 409, message: 'the agent runs on a built-in config: there is no file to save a zone to (start it with --config FILE)' }),
  };
}
