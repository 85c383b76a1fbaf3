import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../agent/log.js';
import { mqttConfigSchema, type MqttConfig } from '../../agent/config/sections/events.js';
import { sampleEvent } from '../../agent/events/sample.js';
import { isAgentError } from '../../agent/errors.js';
import { mosquittoAvailable, startBroker, subscribe, type Broker } from '../../drivers/mqtt/broker.js';
import { MqttEventSink } from '../../agent/app/mqtt-sink.js';

const haveTools = mosquittoAvailable() && !spawnSync('openssl', ['version']).error;

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A logger whose JSON lines are kept for assertions. */
function capture(): { log: ReturnType<typeof createLogger>; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { level: number; msg: string });
      cb();
    },
  });
  return { log: createLogger({ stream, pretty: false, level: 'info' }), lines };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** CA, server certificate for localhost/127.0.0.1, client certificate, and an unrelated CA. */
async function makePki(dir: string): Promise<void> {
  const ext = path.join(dir, 'san.ext');
  await fsp.writeFile(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  for (const ca of ['ca', 'wrong-ca']) {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=edge-agent test ${ca}`], dir);
  }
  for (const who of ['server', 'client']) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'edge-agent-cam1'}`], dir);
    openssl(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', ...(who === 'server' ? ['-extfile', ext] : [])], dir);
  }
  await fsp.chmod(path.join(dir, 'client.key'), 0o600);
}

describe.skipIf(!haveTools)('MQTT over TLS, credentials and connection errors (real mosquitto, openssl)', () => {
  let tmp: string;
  let pki: string;
  let broker: Broker;
  let authBroker: Broker;

  beforeAll(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-tls-'));
    pki = path.join(tmp, 'pki');
    await fsp.mkdir(pki);
    await makePki(pki);
    broker = await startBroker({
      dir: path.join(tmp, 'broker'),
      tls: { ca: path.join(pki, 'ca.crt'), cert: path.join(pki, 'server.crt'), key: path.join(pki, 'server.key'), requireCertificate: true },
    });
    authBroker = await startBroker({ dir: path.join(tmp, 'auth-broker'), users: { agent: 's3cret-pass' } });
  });
  afterAll(async () => {
    await broker?.stop();
    await authBroker?.stop();
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  const sinkFor = (mqtt: Partial<MqttConfig> & { url: string }, log: ReturnType<typeof createLogger>, name: string, env: NodeJS.ProcessEnv = {}) =>
    new MqttEventSink({
      mqtt: mqttConfigSchema.parse(mqtt),
      outbox: { maxEvents: 1000, maxBytes: 10_000_000, maxAgeDays: 1 },
      stateDir: path.join(tmp, `state-${name}`),
      deviceId: 'cam1',
      log,
      env,
      reconnectMinMs: 100,
      reconnectMaxMs: 400,
    });

  it('delivers over mqtts:// with the CA and a client certificate', async () => {
    const { log, lines } = capture();
    const got: string[] = [];
    // The collector uses the client certificate too (the listener requires one).
    const sub = await subscribe(broker.tlsUrl!, 'edge-agent/cam1/events', (m) => got.push(JSON.parse(m.payload.toString()).id as string), {
      ca: await fsp.readFile(path.join(pki, 'ca.crt')),
      cert: await fsp.readFile(path.join(pki, 'client.crt')),
      key: await fsp.readFile(path.join(pki, 'client.key')),
    });
    // A world-readable key is used, with one warning that says what to run.
    await fsp.chmod(path.join(pki, 'client.key'), 0o644);
    const sink = sinkFor({ url: broker.tlsUrl!, tls: { ca: path.join(pki, 'ca.crt'), cert: path.join(pki, 'client.crt'), key: path.join(pki, 'client.key'), insecure: false } }, log, 'ok');
    await sink.start();
    await sink.waitConnected(10_000);
    const ev = sampleEvent(1);
    await sink.emit(ev);
    await waitFor(() => got.includes(ev.id), 10_000, 'event over TLS');
    await sink.stop();
    await sub.close();
    await fsp.chmod(path.join(pki, 'client.key'), 0o600);
    expect(lines.some((l) => l.level === 40 && /client\.key is readable by group or others \(mode 0644\): run chmod 600/.test(l.msg))).toBe(true);
  });

  it('refuses a broker certificate not signed by the configured CA, with one clear line, and keeps the event queued', async () => {
    const { log, lines } = capture();
    const sink = sinkFor({ url: broker.tlsUrl!, tls: { ca: path.join(pki, 'wrong-ca.crt'), cert: path.join(pki, 'client.crt'), key: path.join(pki, 'client.key'), insecure: false } }, log, 'wrong-ca');
    await sink.start();
    await sink.emit(sampleEvent(1));
    await waitFor(() => sink.stats().connectFailures >= 2, 10_000, 'a few refused attempts');
    expect(sink.stats().connected).toBe(false);
    expect(sink.stats().lastProblem).toBe('tls-ca');
    const errors = lines.filter((l) => l.level === 50);
    // Logged once, not at every retry.
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(/broker certificate of mqtts:\/\/localhost:\d+ is not trusted .*wrong-ca\.crt\) is not the CA that signed the broker certificate/);
    expect(sink.stats().outbox.queued).toBe(1);
    await sink.stop();
  });

  it('refuses a connection without a client certificate when the broker requires one', async () => {
    const { log } = capture();
    const sink = sinkFor({ url: broker.tlsUrl!, tls: { ca: path.join(pki, 'ca.crt'), insecure: false } }, log, 'no-cert');
    await sink.start();
    await waitFor(() => sink.stats().connectFailures >= 1, 10_000, 'refused attempt');
    expect(sink.stats().connected).toBe(false);
    expect(['tls-client-cert', 'reset']).toContain(sink.stats().lastProblem);
    await sink.stop();
  });

  it('connects with tls.insecure but warns at start', async () => {
    const { log, lines } = capture();
    const sink = sinkFor({ url: broker.tlsUrl!, tls: { ca: path.join(pki, 'wrong-ca.crt'), cert: path.join(pki, 'client.crt'), key: path.join(pki, 'client.key'), insecure: true } }, log, 'insecure');
    await sink.start();
    await sink.waitConnected(10_000);
    expect(lines.some((l) => l.level === 40 && /tls\.insecure is true: the broker certificate is NOT verified/.test(l.msg))).toBe(true);
    await sink.stop();
  });

  it('reports bad credentials (CONNACK 4, or 5 from mosquitto) and connects with the password from a file', async () => {
    const bad = capture();
    const pwBad = path.join(tmp, 'bad.pw');
    await fsp.writeFile(pwBad, 'wrong\n', { mode: 0o600 });
    let sink = sinkFor({ url: authBroker.url, username: 'agent', passwordFile: pwBad }, bad.log, 'bad-pw');
    await sink.start();
    await waitFor(() => sink.stats().connectFailures >= 1, 10_000, 'refused attempt');
    expect(sink.stats().lastProblem).toBe('auth');
    expect(bad.lines.find((l) => l.level === 50)!.msg).toMatch(/(rejected the user name or password|not authorized \(wrong user name or password).*: check events\.mqtt\.username and the password/);
    await sink.stop();

    const good = capture();
    const pw = path.join(tmp, 'good.pw');
    await fsp.writeFile(pw, 's3cret-pass\n', { mode: 0o600 });
    sink = sinkFor({ url: authBroker.url, username: 'agent', passwordFile: pw }, good.log, 'good-pw');
    await sink.start();
    await sink.waitConnected(10_000);
    expect(good.lines.filter((l) => l.level >= 40)).toEqual([]);
    await sink.stop();

    // From the environment too.
    sink = sinkFor({ url: authBroker.url, username: 'agent', passwordEnv: 'EDGE_MQTT_PW' }, good.log, 'env-pw', { EDGE_MQTT_PW: 's3cret-pass' });
    await sink.start();
    await sink.waitConnected(10_000);
    await sink.stop();
  });

  it('fails at start, with the field to fix, when a secret is missing', async () => {
    const { log } = capture();
    const err1 = await sinkFor({ url: authBroker.url, username: 'agent', passwordEnv: 'NOT_SET_ANYWHERE' }, log, 'no-env').start().catch((e: unknown) => e);
    expect(isAgentError(err1) && err1.code).toBe('CONFIG_INVALID');
    expect((err1 as Error).message).toMatch(/events\.mqtt\.passwordEnv: the environment variable NOT_SET_ANYWHERE is not set/);
    const err2 = await sinkFor({ url: broker.tlsUrl!, tls: { ca: path.join(pki, 'nope.crt'), insecure: false } }, log, 'no-ca').start().catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/events\.mqtt\.tls\.ca: .*nope\.crt does not exist/);
  });

  it('explains an unknown host (DNS) and a closed port, and keeps retrying without throwing', async () => {
    const { log, lines } = capture();
    const sink = sinkFor({ url: 'mqtt://broker.invalid:1883' }, log, 'dns');
    await sink.start();
    await sink.emit(sampleEvent(1));
    await waitFor(() => sink.stats().connectFailures >= 2, 15_000, 'DNS failures');
    expect(sink.stats().lastProblem).toBe('dns');
    expect(lines.find((l) => l.level === 50)!.msg).toMatch(/cannot resolve the MQTT broker host "broker\.invalid"/);
    await sink.stop();

    const closed = capture();
    const port = authBroker.port;
    const refused = sinkFor({ url: `mqtt://127.0.0.1:${port + 0}` }, closed.log, 'refused');
    await authBroker.stop();
    await refused.start();
    await waitFor(() => refused.stats().connectFailures >= 1, 10_000, 'refused');
    expect(refused.stats().lastProblem).toBe('refused');
    expect(closed.lines.find((l) => l.level === 50)!.msg).toMatch(/refused the connection \(nothing listens there\): start the broker/);
    await refused.stop();
    await authBroker.restart();
  });
});
