// The log tail: asks the box for the records after the last one shown, at
// the page's level, and appends them. Text only: nothing the box sends is
// ever parsed as HTML.
'use strict';
(() => {
  const table = document.getElementById('log');
  const rows = document.getElementById('log-rows');
  const live = document.getElementById('live');
  const level = table.dataset.level;
  let last = Number(table.dataset.last) || 0;
  const keep = 500;
  const cell = (tr, text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); };
  const pad = (n, w) => String(n).padStart(w, '0');
  const clock = (t) => { const d = new Date(t); return pad(d.getUTCHours(), 2) + ':' + pad(d.getUTCMinutes(), 2) + ':' + pad(d.getUTCSeconds(), 2) + '.' + pad(d.getUTCMilliseconds(), 3); };
  const cls = { DEBUG: 'lv-debug', INFO: 'lv-info', WARN: 'lv-warn', ERROR: 'lv-error' };
  async function poll() {
    try {
      const r = await fetch('/technician/log.json?level=' + encodeURIComponent(level) + '&after=' + last, {credentials: 'same-origin', cache: 'no-store'});
      if (r.status === 401) { live.textContent = 'Signed out: reload the page.'; live.dataset.state = 'signedout'; return; }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const data = await r.json();
      const bottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 8;
      for (const rec of data.records) {
        const tr = document.createElement('tr');
        tr.className = 'rec ' + (cls[rec.level] || 'lv-info');
        tr.dataset.seq = rec.seq;
        cell(tr, clock(rec.time));
        cell(tr, rec.level);
        cell(tr, rec.msg);
        cell(tr, rec.attrs, 'attrs');
        rows.appendChild(tr);
      }
      while (rows.children.length > keep) rows.removeChild(rows.firstChild);
      last = Math.max(last, data.last);
      if (data.records.length && bottom) window.scrollTo(0, document.body.scrollHeight);
      live.textContent = 'Live: new records appear below.';
      live.dataset.state = 'live';
    } catch (e) {
      live.textContent = 'The box does not answer: retrying.';
      live.dataset.state = 'down';
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
