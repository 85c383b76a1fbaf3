import cliProgress from 'cli-progress';
import type { Logger } from '../../agent/log.js';

/**
 * Progress of a long optimize run: a bar with ETA when stderr is a terminal (cli-progress), otherwise one log
 * line per stage and every 10% (journald and CI logs must not fill with carriage returns).
 */
export function createProgress(stream: NodeJS.WriteStream, log: Logger): { update: (done: number, total: number, stage: string) => void; stop: () => void } {
  if (stream.isTTY) {
    let bar: cliProgress.SingleBar | undefined;
    let stage = '';
    return {
      update(done, total, s) {
        if (total <= 1) {
          // A one-step stage (a timing run): a bar would only show 0/1 then 1/1 with no ETA.
          bar?.stop();
          bar = undefined;
          if (s !== stage) stream.write(`${s}...\n`);
          stage = s;
          return;
        }
        if (s !== stage || !bar) {
          bar?.stop();
          stage = s;
          bar = new cliProgress.SingleBar({ stream, format: `${s.padEnd(34)} [{bar}] {value}/{total} | ETA {eta_formatted}`, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
          bar.start(total, 0);
        }
        bar.update(done);
      },
      stop() {
        bar?.stop();
        bar = undefined;
      },
    };
  }
  let stage = '';
  let lastTenth = -1;
  const started = new Map<string, number>();
  return {
    update(done, total, s) {
      if (s !== stage) {
        stage = s;
        lastTenth = -1;
        started.set(s, Date.now());
      }
      const tenth = Math.floor((10 * done) / total);
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      const elapsed = (Date.now() - started.get(s)!) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : undefined;
      log.info({ stage: s, done, total, etaS: eta === undefined ? undefined : Math.round(eta) }, `${s}: ${done}/${total}`);
    },
    stop() {},
  };
}
