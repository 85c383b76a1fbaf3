/** Worker thread for SIGHUP reloads (see loadConfigFileOffThread in ./load.ts): parses and validates off the frame loop. */
import { parentPort, workerData } from 'node:worker_threads';
import { isAgentError, messageOf } from '../errors.js';
import { loadConfigFile } from './load.js';

const { file } = workerData as { file: string };
try {
  parentPort!.postMessage({ loaded: loadConfigFile(file) });
} catch (err) {
  parentPort!.postMessage({ error: isAgentError(err) ? { code: err.code, message: err.message, fix: err.fix } : { code: 'CONFIG_INVALID', message: messageOf(err) } });
}
