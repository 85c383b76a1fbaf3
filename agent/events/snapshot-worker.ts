/**
 * Worker thread for snapshot encoding: jpeg-js is synchronous pure JavaScript, and a few quality steps on a
 * 640x480 frame can take hundreds of ms on a Pi; here they never stall the frame loop.
 */
import { parentPort } from 'node:worker_threads';
import { encodeSnapshot } from './snapshot.js';
import type { SnapshotJob, SnapshotReply } from './snapshot-encoder.js';

parentPort?.on('message', (job: SnapshotJob) => {
  let reply: SnapshotReply;
  try {
    const frame = { ...job.frame, data: new Uint8Array(job.pixels) };
    const r = encodeSnapshot(frame, job.boxes, job.maxBytes, job.geometry);
    reply = r ? { id: job.id, jpeg: r.jpeg, width: r.width, height: r.height, quality: r.quality } : { id: job.id };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
