// The scan test: polls the box's latest scans and shows them. Text only:
// nothing the box sends is ever parsed as HTML.
'use strict';
(() => {
  const live = document.getElementById('live');
  const rows = document.getElementById('scan-rows');
  let last = -1;
  const cell = (tr, text) => { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); };
  async function poll() {
    try {
      const r = await fetch('/technician/scans.json', {credentials: 'same-origin', cache: 'no-store'});
      if (r.status === 401) { live.textContent = 'Signed out: reload the page.'; live.dataset.state = 'signedout'; return; }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const scans = await r.json();
      const top = scans.length ? scans[0].seq : 0;
      if (top !== last) {
        last = top;
        rows.replaceChildren();
        for (const s of scans) {
          const tr = document.createElement('tr');
          tr.className = 'scan';
          tr.dataset.seq = s.seq;
          cell(tr, new Date(s.at).toLocaleTimeString());
          cell(tr, s.sent);
          cell(tr, s.takenFor);
          cell(tr, s.outcome + (s.reference ? ' → ' + s.reference : '') + (s.message ? ': ' + s.message : ''));
          rows.appendChild(tr);
        }
      }
      live.textContent = scans.length ? 'Live.' : 'Live: no scan yet.';
      live.dataset.state = 'live';
    } catch (e) {
      live.textContent = 'The box does not answer: retrying.';
      live.dataset.state = 'down';
    }
    setTimeout(poll, 500);
  }
  poll();
})();
