// The live page: a snapshot, then every change, over Server-Sent Events.
// Every string from the wire goes into the page with textContent: a file
// named <script> is shown, not run.
'use strict';

const model = {
  tap: '', lights: [], health: {}, open: new Map(), ended: [], transfers: [], alerts: [],
  notShown: 0, limits: {sessions: 50, transfers: 100, alerts: 100}, missed: 0,
};

const stateWords = {
  'off': 'off', 'on': 'on', 'blink-fast': 'blinking fast', 'blink-slow': 'blinking slowly', 'unknown': 'unknown',
};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function sessionLink(id) {
  const a = el('a', id);
  a.href = '/session/' + encodeURIComponent(id);
  return a;
}

function clock(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (isNaN(d)) return '';
  return d.toISOString().slice(11, 23);
}

function size(n) {
  const b = Number(n).toLocaleString('en') + ' B';
  if (n < 1024) return b;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return v.toFixed(1) + ' ' + units[i] + ' (' + b + ')';
}

function rate(bps) {
  if (!bps) return '—';
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let v = bps, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return v.toFixed(v < 10 ? 2 : 1) + ' ' + units[i];
}

// row builds a table row; each cell also carries its column's name, which
// narrow screens show in front of the value.
function row(table, cells) {
  const heads = Array.from(document.querySelectorAll('#' + table + ' thead th'), th => th.textContent);
  const tr = el('tr');
  cells.forEach((c, i) => {
    const td = el('td');
    td.dataset.label = heads[i] || '';
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? '' : String(c);
    tr.appendChild(td);
  });
  return tr;
}

function fill(table, rows) {
  document.querySelector('#' + table + ' tbody').replaceChildren(...rows);
  document.getElementById(table + '-empty').hidden = rows.length > 0;
  const count = document.getElementById(table + '-count');
  if (count) count.textContent = rows.length ? '(' + rows.length + ')' : '';
}

// tftpFigures says what a TFTP transfer's row adds: its blocks, block size,
// retransmissions and the server's transfer port.
function tftpFigures(x) {
  if (x.proto !== 'tftp') return '';
  const n = x.blocks || 0;
  let s = ', TFTP ' + n + (n === 1 ? ' block' : ' blocks') + ' of up to ' + x.blksize + ' B';
  if (x.retransmits) s += ', ' + x.retransmits + ' retransmitted';
  if (x.transfer_port) s += ', from ' + x.transfer_port;
  return s;
}

function render() {
  document.getElementById('tap').textContent = model.tap ? 'on tap ' + model.tap : '';
  document.title = 'ftptap' + (model.tap ? ' ' + model.tap : '');

  for (const l of model.lights) {
    const li = document.querySelector('.led[data-role="' + CSS.escape(l.role) + '"]');
    if (!li) continue;
    li.dataset.state = l.state;
    li.querySelector('.state').textContent = stateWords[l.state] || l.state;
  }

  const h = model.health;
  const port = v => v === undefined || v === null ? '?' : (v ? 'up' : 'DOWN');
  document.getElementById('h-ports').textContent = 'A ' + port(h.port_a) + ', B ' + port(h.port_b);
  document.getElementById('h-frames').textContent = h.time ? Number(h.frames).toLocaleString('en') : 'no status yet';
  document.getElementById('h-drops').textContent = h.time ? Number(h.kernel_drops).toLocaleString('en') : '—';
  const nats = document.getElementById('h-nats');
  nats.textContent = h.nats ? h.nats + (h.nats_dropped ? ', ' + h.nats_dropped + ' events dropped' : '') : 'not used';
  nats.dataset.nats = h.nats || 'none';
  document.getElementById('h-events').textContent = h.time ? Number(h.events).toLocaleString('en') + ', ' + Number(h.open_sessions).toLocaleString('en') + ' sessions open (at ' + clock(h.time) + ')' : '—';
  document.getElementById('h-missed').textContent = String(model.missed);

  const open = Array.from(model.open.values()).sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  fill('open', open.map(s => {
    // A TFTP transfer has no user; its mode is the transfer mode, and its
    // blocks are counted in the events only when it ends.
    const tftp = s.proto === 'tftp';
    const cmd = tftp ? s.command + ' (' + s.op + '; blocks counted when it ends)' : s.command;
    const tr = row('open', [sessionLink(s.id), s.client, s.server, tftp ? 'TFTP' : s.user, s.mode || '—', cmd]);
    tr.dataset.session = s.id;
    tr.dataset.proto = s.proto || 'ftp';
    return tr;
  }));
  const ns = document.getElementById('not-shown');
  ns.hidden = !model.notShown;
  ns.textContent = model.notShown + ' more sessions are not shown (the page follows a bounded number).';

  fill('transfers', model.transfers.map(x => {
    const tr = row('transfers', [clock(x.time), x.file, x.direction, x.data_seen === false ? 'not seen' : size(x.bytes), x.duration_ms + ' ms',
      rate(x.throughput), (x.complete ? '✓ ' : '✗ ') + x.result + tftpFigures(x), sessionLink(x.session)]);
    tr.dataset.result = x.complete ? 'complete' : 'incomplete';
    tr.dataset.proto = x.proto || 'ftp';
    return tr;
  }));

  const alerts = model.alerts.map(a => {
    const li = el('li', null, 'alert');
    li.dataset.kind = a.kind;
    const head = el('p', null, 'alert-head');
    head.append(el('span', '⚠ ', 'icon'), el('strong', a.kind, 'kind'), el('span', ' at ' + clock(a.time) + ' '));
    if (a.session) head.append(el('span', 'in '), sessionLink(a.session));
    li.append(head, el('p', a.detail, 'detail'));
    return li;
  });
  document.getElementById('alerts').replaceChildren(...alerts);
  document.getElementById('alerts-empty').hidden = alerts.length > 0;
  document.getElementById('alerts-count').textContent = alerts.length ? '(' + alerts.length + ')' : '';

  fill('ended', model.ended.map(s => {
    const tr = row('ended', [sessionLink(s.id), s.client, s.server, s.proto === 'tftp' ? 'TFTP' : s.user, s.transfers, clock(s.end) + ' (' + s.reason + ')']);
    tr.dataset.session = s.id;
    return tr;
  }));
  const lim = model.limits;
  document.getElementById('limits').textContent = 'the page keeps the last ' + lim.sessions + ' sessions, ' +
    lim.transfers + ' transfers and ' + lim.alerts + ' alerts.';
}

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  setTimeout(() => { pending = false; render(); }, 50);
}

function bounded(list, v, max) {
  list.unshift(v);
  if (list.length > max) list.length = max;
}

function conn(state, text) {
  const c = document.getElementById('conn');
  c.dataset.conn = state;
  c.textContent = text;
}

const es = new EventSource('/events');
es.onopen = () => conn('live', 'live');
es.onerror = () => conn('reconnecting', 'reconnecting…');
es.addEventListener('snapshot', e => {
  const s = JSON.parse(e.data);
  model.tap = s.tap;
  model.lights = s.lights;
  model.health = s.health;
  model.open = new Map(s.open.map(x => [x.id, x]));
  model.ended = s.ended;
  model.transfers = s.transfers;
  model.alerts = s.alerts;
  model.notShown = s.not_shown;
  model.limits = s.limits;
  conn('live', 'live');
  schedule();
});
es.addEventListener('session', e => {
  const s = JSON.parse(e.data);
  if (s.ended) {
    model.open.delete(s.id);
    model.ended = model.ended.filter(x => x.id !== s.id);
    bounded(model.ended, s, model.limits.sessions);
  } else {
    model.open.set(s.id, s);
  }
  schedule();
});
es.addEventListener('transfer', e => { bounded(model.transfers, JSON.parse(e.data), model.limits.transfers); schedule(); });
es.addEventListener('alert', e => { bounded(model.alerts, JSON.parse(e.data), model.limits.alerts); schedule(); });
es.addEventListener('lights', e => { model.lights = JSON.parse(e.data); schedule(); });
es.addEventListener('health', e => { model.health = JSON.parse(e.data); schedule(); });
es.addEventListener('dropped', e => {
  const d = JSON.parse(e.data);
  model.missed += d.count;
  conn('dropped', 'live; this browser read too slowly and missed ' + model.missed + ' updates (the page was refreshed from a new snapshot)');
  schedule();
});
// A browser holds at most six connections to one server over HTTP/1.1:
// give the stream's back when leaving the page, and start again when the
// page comes back from the back-forward cache.
window.addEventListener('pagehide', () => es.close());
window.addEventListener('pageshow', e => { if (e.persisted) location.reload(); });
