// edge-agent status page: plain JavaScript, no build step, no third-party code. Fed by Server-Sent Events
// (/status/events); live pictures are fetched one at a time (the newest), and only while a picture is on screen.
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== undefined && kid !== null) e.append(kid);
  return e;
};
const COLORS = ['#1fbf3f', '#ff3030', '#2f8cff', '#ffb000', '#d040ff', '#00c8c8'];

let session = { canView: false, canAct: false };
let state = null;
let stream = null;
const frames = new Map(); // camera -> { n, bitmap, meta }
const watchers = new Map(); // camera -> AbortController of its frame loop
const zone = { points: [] };
// A rule fires on one frame, which the capped live picture may not show: the page keeps the newest firing per
// camera (from the events stream and the frames) on screen for a few seconds.
const FIRED_MS = 4000;
const lastFired = new Map(); // camera -> { rule, label, trackId, at }

function say(text, kind = 'ok') {
  const m = $('message');
  m.textContent = text;
  m.className = kind;
}

async function api(path, body) {
  const headers = { 'content-type': 'application/json' };
  if (session.csrf) headers['x-csrf-token'] = session.csrf;
  const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin' });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
  return data;
}

async function loadSession() {
  const r = await fetch('/status/session', { credentials: 'same-origin' });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    say(data.error || `the agent refused: ${r.status}`, 'error');
    return;
  }
  session = data;
  $('login').hidden = !session.passwordSet || session.loggedIn;
  $('who').hidden = !session.loggedIn;
  $('operator').textContent = session.operator ? `Logged in as ${session.operator}` : '';
  for (const b of document.querySelectorAll('[data-act]')) b.disabled = !session.canAct;
  $('zone-save').disabled = !session.canAct;
  if (session.canView) connect();
  else if (session.passwordSet) say('Log in to see this device.', 'ok');
}

function connect() {
  if (stream) stream.close();
  stream = new EventSource('/status/events');
  stream.addEventListener('state', (e) => {
    state = JSON.parse(e.data);
    renderAll();
  });
  stream.addEventListener('update', (e) => apply(JSON.parse(e.data)));
  stream.onerror = () => say('Connection to the agent lost; retrying…', 'error');
  stream.onopen = () => {
    if ($('message').className === 'error' && $('message').textContent.startsWith('Connection')) say('');
  };
}

function apply(u) {
  if (!state) return;
  if (u.type === 'event') {
    lastFired.set(u.event.camera, { rule: u.event.rule, label: u.event.label, trackId: u.event.trackId, at: Date.now() });
    state.events.unshift(u.event);
    state.events.length = Math.min(state.events.length, 200);
    renderEvents();
  } else if (u.type === 'delivery' || u.type === 'snapshot') {
    const ev = state.events.find((x) => x.id === u.id);
    if (ev && u.type === 'delivery') Object.assign(ev, { delivery: u.delivery, deliveryDetail: u.detail });
    if (ev && u.type === 'snapshot') ev.snapshot = true;
    renderEvents();
  } else if (u.type === 'outbox') {
    state.outboxDepth = u.depth;
    renderEvents();
  } else if (u.type === 'outputs') {
    state.outputs = u.outputs;
    renderOutputs();
  } else if (u.type === 'cameras') {
    state.cameras = u.cameras;
    renderCameras();
    route();
  } else if (u.type === 'doctor') {
    state.doctor = u.doctor;
    renderModel();
  } else if (u.type === 'perf') {
    state.perf = u.perf;
    renderModel();
  } else if (u.type === 'config') {
    Object.assign(state, { zones: u.zones, rules: u.rules });
    if (u.configHash) state.configHash = u.configHash;
    renderZoneForm();
  }
}

function renderAll() {
  $('device').textContent = state.device.name || state.device.id;
  renderCameras();
  renderEvents();
  renderOutputs();
  renderZoneForm();
  renderModel();
  route();
}

// ---- live view -------------------------------------------------------------------------------------------------

function renderCameras() {
  const box = $('cameras');
  box.replaceChildren();
  for (const c of state.cameras) {
    box.append(
      el('figure', { class: 'camera' },
        el('canvas', { id: `cam-${c.name}`, width: shown(c).w, height: shown(c).h, role: 'img', 'aria-label': `Live picture of camera ${c.name}` }),
        el('figcaption', {}, el('strong', {}, c.name), ` ${c.describe}`, el('p', { class: 'fired', id: `fired-${c.name}` }), el('p', { id: `dets-${c.name}` }))),
    );
  }
  const sel = $('zone-camera');
  sel.replaceChildren(...state.cameras.map((c) => el('option', { value: c.name }, c.name)));
  sizeZoneCanvas();
}

/** Canvas size for a camera: its picture size, at most 800 px wide (a Pi Zero draws a smaller canvas faster). */
function shown(c) {
  const k = Math.min(1, 800 / c.width);
  return { w: Math.round(c.width * k), h: Math.round(c.height * k) };
}

function sizeZoneCanvas() {
  const c = state.cameras.find((x) => x.name === $('zone-camera').value) || state.cameras[0];
  if (!c) return;
  const canvas = $('zone-canvas');
  const s = shown(c);
  if (canvas.width !== s.w || canvas.height !== s.h) {
    canvas.width = s.w;
    canvas.height = s.h;
  }
}

function watch(camera, on) {
  if (on && !watchers.has(camera)) {
    const ac = new AbortController();
    watchers.set(camera, ac);
    frameLoop(camera, ac.signal);
  } else if (!on && watchers.has(camera)) {
    watchers.get(camera).abort();
    watchers.delete(camera);
  }
}

/** Newest picture wins: one request at a time, each asking for a picture newer than the one shown. */
async function frameLoop(camera, signal) {
  let after = frames.get(camera)?.meta.n ?? 0;
  while (!signal.aborted) {
    try {
      const r = await fetch(`/status/frame/${encodeURIComponent(camera)}.jpg?after=${after}`, { signal, credentials: 'same-origin' });
      if (r.status === 204) continue;
      if (!r.ok) throw new Error(`${r.status}`);
      const meta = JSON.parse(decodeURIComponent(r.headers.get('x-frame')));
      const bitmap = await createImageBitmap(await r.blob());
      after = meta.n;
      frames.set(camera, { bitmap, meta });
      drawCamera(camera);
    } catch (err) {
      if (signal.aborted) return;
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
}

function drawCamera(camera) {
  const f = frames.get(camera);
  if (!f) return;
  const zones = state.zones;
  const c = $(`cam-${camera}`);
  for (const x of f.meta.fired) lastFired.set(camera, { ...x, at: Date.now() });
  if (c) {
    drawPicture(c, f, zones, recentFiring(camera));
    const r = recentFiring(camera);
    $(`fired-${camera}`).textContent = r ? `Rule ${r.rule} fired: ${r.label}${r.trackId !== null ? ` track ${r.trackId}` : ''}` : '';
    $(`dets-${camera}`).textContent = `frame ${f.meta.seq}: ${f.meta.detections.length ? f.meta.detections.map((d) => `${d.label} #${d.trackId} ${d.score.toFixed(2)}`).join(', ') : 'nothing detected'}`;
  }
  if ($('zone-camera').value === camera) drawZoneCanvas();
}

function recentFiring(camera) {
  const r = lastFired.get(camera);
  return r && Date.now() - r.at < FIRED_MS ? r : undefined;
}

function drawPicture(canvas, f, zones, fired) {
  // The canvas keeps the camera's picture size (set once): the JPEG, often smaller, is scaled onto it, so labels
  // stay sharp and the layout never moves under the operator's pointer.
  const g = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  g.drawImage(f.bitmap, 0, 0, W, H);
  g.lineWidth = 2;
  for (const z of zones) {
    g.strokeStyle = '#ffd400';
    g.setLineDash([6, 4]);
    polygon(g, z.polygon, W, H);
    g.setLineDash([]);
    g.fillStyle = '#ffd400';
    g.font = '14px sans-serif';
    g.fillText(`zone ${z.rule}`, z.polygon[0][0] * W + 4, z.polygon[0][1] * H + 14);
  }
  const firedTracks = new Set(f.meta.fired.map((x) => x.trackId));
  if (fired && fired.trackId !== null) firedTracks.add(fired.trackId);
  for (const d of f.meta.detections) {
    const color = firedTracks.has(d.trackId) ? '#ff3030' : COLORS[d.label === 'defect' ? 1 : 0];
    const [x1, y1, x2, y2] = d.box;
    g.strokeStyle = color;
    g.lineWidth = firedTracks.has(d.trackId) ? 3 : 2;
    g.strokeRect(x1 * W, y1 * H, (x2 - x1) * W, (y2 - y1) * H);
    const text = `${d.label} #${d.trackId} ${d.score.toFixed(2)}`;
    g.font = '14px sans-serif';
    const tw = g.measureText(text).width + 6;
    const ty = Math.max(0, y1 * H - 18);
    g.fillStyle = color;
    g.fillRect(x1 * W, ty, tw, 18);
    g.fillStyle = '#000';
    g.fillText(text, x1 * W + 3, ty + 14);
  }
  if (fired) {
    const x = fired;
    g.fillStyle = 'rgba(160,0,0,0.85)';
    g.fillRect(0, H - 24, W, 24);
    g.fillStyle = '#fff';
    g.font = 'bold 15px sans-serif';
    g.fillText(`rule ${x.rule} fired (${x.label}${x.trackId !== null ? ` track ${x.trackId}` : ''})`, 6, H - 7);
  }
}

function polygon(g, pts, W, H, close = true) {
  if (!pts.length) return;
  g.beginPath();
  g.moveTo(pts[0][0] * W, pts[0][1] * H);
  for (const p of pts.slice(1)) g.lineTo(p[0] * W, p[1] * H);
  if (close) g.closePath();
  g.stroke();
}

// ---- events ----------------------------------------------------------------------------------------------------

function renderEvents() {
  $('outbox').textContent = state.outboxDepth === undefined ? 'n/a (no MQTT sink)' : `${state.outboxDepth} event${state.outboxDepth === 1 ? '' : 's'}`;
  $('event-rows').replaceChildren(
    ...state.events.map((e) =>
      el('tr', { 'data-event': e.id },
        el('td', {}, e.snapshot ? el('img', { class: 'snap', src: `/status/snapshot/${e.id}.jpg`, alt: `snapshot of ${e.label} track ${e.trackId}` }) : '…'),
        el('td', {}, new Date(e.ts).toLocaleTimeString()),
        el('td', {}, e.rule),
        el('td', {}, e.label),
        el('td', { class: 'num' }, e.score.toFixed(2)),
        el('td', { class: 'num' }, e.trackId === null ? '–' : String(e.trackId)),
        el('td', {}, e.actions.map((a) => `${a.type}${a.output ? ` ${a.output}` : ''}: ${a.status}`).join(', ')),
        el('td', { class: `delivery-${e.delivery}`, title: e.deliveryDetail || '' }, e.delivery)),
    ),
  );
}

// ---- outputs ---------------------------------------------------------------------------------------------------

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The form of each output is built once (per set of outputs and login state); pushes only update its texts, so
 * the control a keyboard or screen-reader user is on never disappears under them.
 */
let outputsBuiltFor = '';
function renderOutputs() {
  const list = $('output-list');
  const key = `${state.outputs.map((o) => o.name).join(',')}|${session.canAct}`;
  if (key !== outputsBuiltFor) {
    outputsBuiltFor = key;
    list.replaceChildren(
      ...state.outputs.map((o) => {
        const id = (s) => `out-${o.name}-${s}`;
        return el('article', { class: 'output', 'aria-labelledby': id('h') },
          el('h3', { id: id('h') }, `${o.name} `, el('span', { id: id('level') })),
          el('p', { id: id('limits') }),
          el('p', { id: id('counts') }),
          el('form', { class: 'test', 'data-output': o.name, onsubmit: (ev) => testOutput(ev, o) },
            el('label', { for: id('mode') }, 'Test '),
            el('select', { id: id('mode') }, el('option', { value: 'pulse' }, 'pulse'), el('option', { value: 'hold' }, 'hold')),
            ' ', el('label', { for: id('ms') }, 'for ms '),
            el('input', { id: id('ms'), type: 'number', min: '1', step: '1', value: String(Math.min(100, o.maxOnMs)) }),
            ' ', el('button', { type: 'submit', 'data-act': '1', id: id('test'), ...(session.canAct ? {} : { disabled: '' }) }, `Test ${o.name}`),
            session.canAct ? '' : el('span', {}, ' (log in with the operator password to test)')),
          el('div', { id: id('recent') }),
        );
      }),
    );
  }
  for (const o of state.outputs) {
    const id = (s) => $(`out-${o.name}-${s}`);
    const budget = o.budgetMs ? ` of ${(o.budgetMs / 1000).toFixed(0)} s budget` : ' (no daily budget)';
    id('level').textContent = o.level;
    id('level').className = `level-${o.level}`;
    id('limits').textContent = `${o.driver}; at most ${o.maxOnMs} ms on, ${o.minOffMs} ms off between; on today ${(o.onTodayMs / 1000).toFixed(1)} s${budget}.`;
    id('counts').textContent = `${plural(o.actuations, 'actuation')}, ${o.refused} refused by the safety layer, ${o.missed} missed, ${plural(o.failures, 'failure')}.`;
    id('recent').replaceChildren(
      o.recent.length
        ? el('ul', { 'aria-label': `Last actuations of ${o.name}` }, ...o.recent.map((r) => el('li', {}, `${new Date(r.at).toLocaleTimeString()} ${r.kind}${r.widthMs ? ` ${r.widthMs} ms` : ''}: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`)))
        : el('p', {}, 'No actuation yet.'),
    );
  }
}

async function testOutput(ev, o) {
  ev.preventDefault();
  const mode = $(`out-${o.name}-mode`).value;
  const ms = Number($(`out-${o.name}-ms`).value);
  try {
    const r = await api('/status/output/test', { output: o.name, mode, ms });
    say(r.message, 'ok');
  } catch (err) {
    say(`Test refused: ${err.message}`, 'error');
  }
}

// ---- zone editor -----------------------------------------------------------------------------------------------

function renderZoneForm() {
  const sel = $('zone-rule');
  const was = sel.value;
  sel.replaceChildren(...state.rules.map((r) => el('option', { value: r }, r)));
  if (was && state.rules.includes(was)) sel.value = was;
  if (!zone.points.length) {
    const z = state.zones.find((x) => x.rule === sel.value);
    if (z) {
      zone.points = z.polygon.map((p) => [...p]);
      $('zone-test').value = z.test;
    }
  }
  renderYaml();
}

function renderYaml() {
  // One point a line: the YAML stays readable in the narrow box and in the config.
  const pts = zone.points.map((p) => `    - [${p[0].toFixed(3)}, ${p[1].toFixed(3)}]`).join('\n');
  $('zone-yaml').value = `zone:\n  polygon:${pts ? `\n${pts}` : ' []'}\n  test: ${$('zone-test').value}\n`;
  drawZoneCanvas();
}

function drawZoneCanvas() {
  const canvas = $('zone-canvas');
  const f = frames.get($('zone-camera').value);
  const g = canvas.getContext('2d');
  if (f) drawPicture(canvas, f, state.zones.filter((z) => z.rule !== $('zone-rule').value));
  else {
    g.fillStyle = '#333';
    g.fillRect(0, 0, canvas.width, canvas.height);
  }
  const W = canvas.width;
  const H = canvas.height;
  g.strokeStyle = '#00e5ff';
  g.lineWidth = 3;
  polygon(g, zone.points, W, H, zone.points.length > 2);
  g.fillStyle = '#00e5ff';
  for (const [i, p] of zone.points.entries()) {
    g.beginPath();
    g.arc(p[0] * W, p[1] * H, 5, 0, 2 * Math.PI);
    g.fill();
    g.font = 'bold 12px sans-serif';
    g.fillText(String(i + 1), p[0] * W + 7, p[1] * H - 7);
  }
}

function addPoint(x, y) {
  if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) {
    say(`Point (${x}, ${y}) is outside the picture: x and y go from 0 to 1.`, 'error');
    return;
  }
  zone.points.push([Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000]);
  renderYaml();
}

function setupZoneEditor() {
  const canvas = $('zone-canvas');
  canvas.addEventListener('click', (e) => {
    const r = canvas.getBoundingClientRect();
    addPoint((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
  });
  $('zone-add').addEventListener('click', () => addPoint(Number($('zone-x').value), Number($('zone-y').value)));
  $('zone-undo').addEventListener('click', () => {
    zone.points.pop();
    renderYaml();
  });
  $('zone-clear').addEventListener('click', () => {
    zone.points = [];
    renderYaml();
  });
  $('zone-test').addEventListener('change', renderYaml);
  $('zone-rule').addEventListener('change', () => {
    zone.points = [];
    renderZoneForm();
  });
  $('zone-camera').addEventListener('change', () => {
    sizeZoneCanvas();
    route();
  });
  $('zone-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('zone-yaml').value);
      say('YAML copied.');
    } catch {
      $('zone-yaml').select();
      say('Select the YAML and copy it (the browser refused the clipboard).');
    }
  });
  $('zone-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (zone.points.length < 3) return say(`A zone needs at least 3 points (it has ${zone.points.length}).`, 'error');
    try {
      const r = await api('/status/zone', { rule: $('zone-rule').value, polygon: zone.points, test: $('zone-test').value, configHash: state.configHash });
      if (r.configHash) state.configHash = r.configHash;
      say(r.message, 'ok');
    } catch (err) {
      say(`Zone not saved: ${err.message}`, 'error');
    }
  });
}

// ---- why this model --------------------------------------------------------------------------------------------

function renderModel() {
  const d = state.doctor;
  const box = $('doctor');
  if (!d) box.replaceChildren(el('p', {}, 'No hardware report yet.'));
  else {
    box.replaceChildren(
      el('p', {}, `Board: ${d.board}. Accelerators: ${d.accelerators.join(', ') || 'none'}.`),
      d.model ? el('p', {}, `Running ${d.model.name} / ${d.model.variant} on ${d.model.accelerator}.`) : '',
      d.degraded.length ? el('p', { class: 'bad' }, `Degraded: ${d.degraded.join('; ')}`) : el('p', {}, 'Not degraded.'),
      d.summary ? el('p', {}, d.summary) : '',
      el('table', {},
        el('caption', { class: 'sr' }, 'Model variants and why each was chosen or not'),
        el('thead', {}, el('tr', {}, ...['Variant', 'Accelerator', 'Eligible', 'Utility', 'Latency ms', 'Why'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, ...d.variants.map((v) => el('tr', {},
          el('td', {}, v.running ? el('strong', {}, `${v.name} (running)`) : v.name),
          el('td', {}, v.accelerator),
          el('td', {}, v.eligible ? 'yes' : 'no'),
          el('td', { class: 'num' }, v.score === null ? '–' : v.score.toFixed(1)),
          el('td', { class: 'num' }, v.latencyMs === null ? '–' : v.latencyMs.toFixed(1)),
          el('td', {}, v.reason))))),
    );
  }
  const p = state.perf;
  $('perf-line').textContent = p ? `${p.fps.toFixed(1)} frames/s${p.tempC !== undefined ? `, ${p.tempC.toFixed(1)} °C` : ', temperature not readable'}${p.throttled ? ', THROTTLED' : p.throttled === false ? ', not throttled' : ''}${p.framesDropped !== undefined ? `, ${p.framesDropped} frames dropped` : ''}` : 'No figures yet.';
  $('perf-rows').replaceChildren(...Object.entries(p ? p.stages : {}).map(([s, v]) => el('tr', {}, el('th', { scope: 'row' }, s), el('td', { class: 'num' }, v.p50.toFixed(1)), el('td', { class: 'num' }, v.p99.toFixed(1)))));
}

// ---- views -----------------------------------------------------------------------------------------------------

function route() {
  const view = (location.hash || '#live').slice(1);
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== view;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#${view}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // Pictures are fetched only while they are on screen: the agent encodes nothing for a hidden view.
  if (!state) return;
  const visible = document.visibilityState === 'visible';
  for (const c of state.cameras) watch(c.name, visible && (view === 'live' || (view === 'zones' && $('zone-camera').value === c.name)));
  if (view === 'zones') drawZoneCanvas();
}

function setup() {
  window.addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', route);
  $('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/status/login', { password: $('password').value });
      $('password').value = '';
      say('Logged in.');
      await loadSession();
    } catch (err) {
      $('password').value = '';
      say(`Login refused: ${err.message}`, 'error');
    }
  });
  $('logout').addEventListener('click', async () => {
    await api('/status/logout', {}).catch(() => undefined);
    location.reload();
  });
  setupZoneEditor();
  route();
  loadSession().catch((err) => say(`Cannot reach the agent: ${err.message}`, 'error'));
}

setup();
