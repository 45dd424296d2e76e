// A session's page: its ladder diagram, fetched as SVG and put into the
// page as parsed XML (scripts in parsed documents never run, and the
// diagram has none: every label is escaped text), refreshed while the
// session is open.
'use strict';

const id = decodeURIComponent(location.pathname.split('/')[2] || '');
const svgURL = '/session/' + encodeURIComponent(id) + '/ladder.svg';
document.getElementById('sid').textContent = id;
document.title = 'ftptap session ' + id;
document.getElementById('download').href = svgURL + '?download';
if (id.startsWith('t')) {
  // A TFTP transfer: t1, as its events name it.
  document.getElementById('legend-ftp').hidden = true;
  document.getElementById('legend-tftp').hidden = false;
}

let ended = false;

function message(text) {
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = text;
  document.getElementById('diagram').replaceChildren(p);
}

async function load() {
  let res;
  try {
    res = await fetch(svgURL, {cache: 'no-store'});
  } catch (e) {
    message('Cannot reach ftptap: ' + e);
    return;
  }
  if (!res.ok) {
    message(res.status === 404 ? 'This session is no longer kept (the page keeps the open sessions and the last ended ones).' : 'Error ' + res.status);
    return;
  }
  const doc = new DOMParser().parseFromString(await res.text(), 'image/svg+xml');
  if (doc.querySelector('parsererror') || doc.documentElement.localName !== 'svg') {
    message('The diagram could not be read.');
    return;
  }
  const svg = document.importNode(doc.documentElement, true);
  document.getElementById('diagram').replaceChildren(svg);
  document.getElementById('diagram').dataset.loaded = String(Date.now());
}

function show(s) {
  document.getElementById('s-client').textContent = s.client;
  document.getElementById('s-server').textContent = s.server;
  document.getElementById('s-user').textContent = s.user || '—';
  document.getElementById('s-mode').textContent = s.mode || '—';
  document.getElementById('s-command').textContent = s.command || '—';
  document.getElementById('s-state').textContent = s.ended ? 'ended (' + s.reason + ')' : 'open';
  ended = s.ended;
}

let timer = null;
function reload() {
  if (timer) return;
  timer = setTimeout(() => { timer = null; load(); }, 500);
}

const es = new EventSource('/events');
es.onopen = () => { const c = document.getElementById('conn'); c.dataset.conn = 'live'; c.textContent = 'live'; };
es.onerror = () => { const c = document.getElementById('conn'); c.dataset.conn = 'reconnecting'; c.textContent = 'reconnecting…'; };
es.addEventListener('snapshot', e => {
  const s = JSON.parse(e.data);
  const me = s.open.concat(s.ended).find(x => x.id === id);
  if (me) show(me);
  load();
});
es.addEventListener('session', e => {
  const s = JSON.parse(e.data);
  if (s.id !== id) return;
  show(s);
  reload();
});
// Replies and data connections change the diagram without a session
// message: refresh now and then while the session is open.
setInterval(() => { if (!ended) reload(); }, 3000);
// A browser holds at most six connections to one server over HTTP/1.1:
// give the stream's back when leaving the page, and start again when the
// page comes back from the back-forward cache.
window.addEventListener('pagehide', () => es.close());
window.addEventListener('pageshow', e => { if (e.persisted) location.reload(); });
