import { AgentError } from '../errors.js';

/** An inference call that did not finish within pipeline.inferenceTimeoutMs (a hung accelerator or a stuck thread). */
export class InferenceTimeoutError extends AgentError {
  constructor(readonly timeoutMs: number) {
    super('BACKEND_FAILED', `inference took longer than ${timeoutMs} ms`, { fix: 'the accelerator may be hung; the backend is restarted' });
    this.name = 'InferenceTimeoutError';
  }
}

export function isInferenceTimeout(err: unknown): err is InferenceTimeoutError {
  return err instanceof InferenceTimeoutError;
}
