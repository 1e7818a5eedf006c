// The test payments: follows each to its outcome by asking the box for
// their states. Text only: nothing the box sends is ever parsed as HTML.
'use strict';
(() => {
  const rows = document.getElementById('test-rows');
  const live = document.getElementById('live');
  const cell = (tr, text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); };
  async function poll() {
    let open = false;
    try {
      const r = await fetch('/technician/testpay.json', {credentials: 'same-origin', cache: 'no-store'});
      if (r.status === 401) { live.textContent = 'Signed out: reload the page.'; live.dataset.state = 'signedout'; return; }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const tests = await r.json();
      if (tests.length) {
        rows.replaceChildren();
        for (const t of tests) {
          const tr = document.createElement('tr');
          tr.className = 'test';
          tr.dataset.ref = t.reference;
          tr.dataset.state = t.state;
          tr.dataset.done = t.done;
          cell(tr, t.reference);
          cell(tr, t.amount);
          cell(tr, t.customer);
          cell(tr, t.says + (t.message ? ': ' + t.message : ''), t.done ? (t.good ? 'outcome-good' : 'outcome-bad') : '');
          rows.appendChild(tr);
          open = open || !t.done;
        }
      }
      live.textContent = open ? 'Following the payment…' : '';
      live.dataset.state = open ? 'following' : 'idle';
    } catch (e) {
      live.textContent = 'The box does not answer: retrying.';
      live.dataset.state = 'down';
      open = true;
    }
    // Quick while a payment is open, slow otherwise (a new one reloads the page).
    setTimeout(poll, open ? 500 : 5000);
  }
  poll();
})();
