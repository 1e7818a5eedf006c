// The customer display. It renders the views the box sends over WebSocket
// and nothing else; it reconnects by itself, and says so while the box
// cannot be reached. Money is formatted from integer minor units with string
// operations: never a floating-point number.
'use strict';

(function () {
  const TEXTS = {
    nb: {
      connecting: 'Kobler til …',
      scan: 'Skann QR-koden din fra Vipps MobilePay',
      toPay: 'Å betale:',
      hello: 'Hei,',
      welcome: 'velkommen!',
      waitingAmount: 'Venter på beløpet …',
      sending: 'Sender betalingsforespørselen til appen din …',
      confirm: 'Bekreft betalingen i appen',
      timeLeft: 'Tid igjen:',
      paid: 'Betalt',
      thanks: 'Takk for handelen!',
      declined: 'Betalingen ble avvist',
      declinedHint: 'Prøv igjen, eller betal på en annen måte.',
      failedHint: 'Vipps MobilePay kunne ikke gjennomføre betalingen. Betal på en annen måte.',
      expired: 'Betalingsforespørselen gikk ut',
      expiredHint: 'Den ble ikke bekreftet i tide. Prøv igjen.',
      cancelled: 'Betalingen ble avbrutt',
      cancelledHint: 'Ingenting er trukket fra kontoen din.',
      unrecognised: 'Koden ble ikke gjenkjent',
      offline: 'Venter på nettverket',
      offlineHint: 'Betalingsforespørselen sendes så snart nettet er tilbake.',
      noNetwork: 'Ingen nettverksforbindelse',
      unreachable: 'Får ikke kontakt med kassen. Prøver igjen …',
      reasons: {
        'empty': 'Ingenting ble lest. Skann igjen.',
        'not-text': 'Koden kunne ikke leses. Skann igjen.',
        'too-long': 'Koden er for lang til å være en personlig QR-kode.',
        'product-barcode': 'Dette er strekkoden til en vare. Skann den personlige QR-koden i Vipps- eller MobilePay-appen.',
        'other-vipps': 'Denne Vipps MobilePay-koden er ikke en personlig QR-kode. Skann QR-koden fra profilen din i appen.',
        'other-url': 'Denne QR-koden er ikke en personlig QR-kode fra Vipps MobilePay.',
        'unknown': 'Dette er ikke en personlig QR-kode fra Vipps MobilePay.',
      },
    },
    da: {
      connecting: 'Forbinder …',
      scan: 'Scan din QR-kode fra Vipps MobilePay',
      toPay: 'At betale:',
      hello: 'Hej,',
      welcome: 'velkommen!',
      waitingAmount: 'Venter på beløbet …',
      sending: 'Sender betalingsanmodningen til din app …',
      confirm: 'Bekræft betalingen i appen',
      timeLeft: 'Tid tilbage:',
      paid: 'Betalt',
      thanks: 'Tak for handlen!',
      declined: 'Betalingen blev afvist',
      declinedHint: 'Prøv igen, eller betal på en anden måde.',
      failedHint: 'Vipps MobilePay kunne ikke gennemføre betalingen. Betal på en anden måde.',
      expired: 'Betalingsanmodningen er udløbet',
      expiredHint: 'Den blev ikke bekræftet i tide. Prøv igen.',
      cancelled: 'Betalingen blev annulleret',
      cancelledHint: 'Der er ikke trukket noget fra din konto.',
      unrecognised: 'Koden blev ikke genkendt',
      offline: 'Venter på netværket',
      offlineHint: 'Betalingsanmodningen sendes, så snart netværket er tilbage.',
      noNetwork: 'Ingen netværksforbindelse',
      unreachable: 'Ingen forbindelse til kassen. Prøver igen …',
      reasons: {
        'empty': 'Intet blev læst. Scan igen.',
        'not-text': 'Koden kunne ikke læses. Scan igen.',
        'too-long': 'Koden er for lang til at være en personlig QR-kode.',
        'product-barcode': 'Dette er en vares stregkode. Scan den personlige QR-kode i Vipps- eller MobilePay-appen.',
        'other-vipps': 'Denne Vipps MobilePay-kode er ikke en personlig QR-kode. Scan QR-koden fra din profil i appen.',
        'other-url': 'Denne QR-kode er ikke en personlig QR-kode fra Vipps MobilePay.',
        'unknown': 'Dette er ikke en personlig QR-kode fra Vipps MobilePay.',
      },
    },
    fi: {
      connecting: 'Yhdistetään …',
      scan: 'Skannaa Vipps MobilePay -QR-koodisi',
      toPay: 'Maksettavaa:',
      hello: 'Hei,',
      welcome: 'tervetuloa!',
      waitingAmount: 'Odotetaan summaa …',
      sending: 'Maksupyyntöä lähetetään sovellukseesi …',
      confirm: 'Vahvista maksu sovelluksessa',
      timeLeft: 'Aikaa jäljellä:',
      paid: 'Maksettu',
      thanks: 'Kiitos ostoksestasi!',
      declined: 'Maksu hylättiin',
      declinedHint: 'Yritä uudelleen tai maksa muulla tavalla.',
      failedHint: 'Vipps MobilePay ei voinut suorittaa maksua. Maksa muulla tavalla.',
      expired: 'Maksupyyntö vanheni',
      expiredHint: 'Maksua ei vahvistettu ajoissa. Yritä uudelleen.',
      cancelled: 'Maksu peruutettiin',
      cancelledHint: 'Tililtäsi ei veloitettu mitään.',
      unrecognised: 'Koodia ei tunnistettu',
      offline: 'Odotetaan verkkoyhteyttä',
      offlineHint: 'Maksupyyntö lähetetään heti, kun verkko toimii taas.',
      noNetwork: 'Ei verkkoyhteyttä',
      unreachable: 'Kassaan ei saada yhteyttä. Yritetään uudelleen …',
      reasons: {
        'empty': 'Mitään ei luettu. Skannaa uudelleen.',
        'not-text': 'Koodia ei voitu lukea. Skannaa uudelleen.',
        'too-long': 'Koodi on liian pitkä ollakseen henkilökohtainen QR-koodi.',
        'product-barcode': 'Tämä on tuotteen viivakoodi. Skannaa Vipps- tai MobilePay-sovelluksesi henkilökohtainen QR-koodi.',
        'other-vipps': 'Tämä Vipps MobilePay -koodi ei ole henkilökohtainen QR-koodi. Skannaa sovelluksen profiilisi QR-koodi.',
        'other-url': 'Tämä QR-koodi ei ole Vipps MobilePayn henkilökohtainen QR-koodi.',
        'unknown': 'Tämä ei ole Vipps MobilePayn henkilökohtainen QR-koodi.',
      },
    },
    en: {
      connecting: 'Connecting …',
      scan: 'Scan your Vipps MobilePay QR code',
      toPay: 'To pay:',
      hello: 'Hello,',
      welcome: 'welcome!',
      waitingAmount: 'Waiting for the amount …',
      sending: 'Sending the payment request to your app …',
      confirm: 'Confirm the payment in the app',
      timeLeft: 'Time left:',
      paid: 'Paid',
      thanks: 'Thank you!',
      declined: 'Payment declined',
      declinedHint: 'Try again, or pay another way.',
      failedHint: 'Vipps MobilePay could not complete the payment. Please pay another way.',
      expired: 'The payment request expired',
      expiredHint: 'It was not confirmed in time. Please try again.',
      cancelled: 'Payment cancelled',
      cancelledHint: 'Nothing was taken from your account.',
      unrecognised: 'Code not recognised',
      offline: 'Waiting for the network',
      offlineHint: 'The payment request goes out as soon as the network is back.',
      noNetwork: 'No network connection',
      unreachable: 'The till box cannot be reached. Reconnecting …',
      reasons: {
        'empty': 'Nothing was read. Please scan again.',
        'not-text': 'The code could not be read. Please scan again.',
        'too-long': 'This code is too long to be a personal QR code.',
        'product-barcode': 'This is a product barcode. Please scan the personal QR code in your Vipps or MobilePay app.',
        'other-vipps': 'This Vipps MobilePay code is not a personal QR code. Please scan the QR code from your profile in the app.',
        'other-url': 'This QR code is not a Vipps MobilePay personal QR code.',
        'unknown': 'This is not a Vipps MobilePay personal QR code.',
      },
    },
  };

  // Separators of each language, and how each currency is written in it.
  const NUMBERS = {
    nb: { decimal: ',', group: '\u00a0' },
    da: { decimal: ',', group: '.' },
    fi: { decimal: ',', group: '\u00a0' },
    en: { decimal: '.', group: ',' },
  };
  const SUFFIX = { NOK: '\u00a0kr', DKK: '\u00a0kr.', EUR: '\u00a0€' };
  const PREFIX_EN = { NOK: 'NOK\u00a0', DKK: 'DKK\u00a0', EUR: '€' };

  // formatMoney writes an amount of minor units (two decimals: øre, cents)
  // in lang: 49800 NOK is "498,00 kr" in nb, 498 EUR "4,98 €" in fi.
  function formatMoney(lang, minor, currency) {
    if (!Number.isSafeInteger(minor)) {
      return '';
    }
    const sep = NUMBERS[lang] || NUMBERS.en;
    let digits = String(minor < 0 ? -minor : minor);
    digits = digits.padStart(3, '0');
    const whole = digits.slice(0, -2);
    const cents = digits.slice(-2);
    let grouped = '';
    for (let end = whole.length; end > 0; end -= 3) {
      const part = whole.slice(Math.max(0, end - 3), end);
      grouped = grouped === '' ? part : part + sep.group + grouped;
    }
    const number = (minor < 0 ? '-' : '') + grouped + sep.decimal + cents;
    if (lang === 'en' || !(lang in NUMBERS)) {
      return (PREFIX_EN[currency] || currency + '\u00a0') + number;
    }
    return number + (SUFFIX[currency] || '\u00a0' + currency);
  }

  // formatLeft writes milliseconds as m:ss, rounded up.
  function formatLeft(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const m = Math.floor(s / 60);
    const r = s % 60;
    return m + ':' + (r < 10 ? '0' : '') + r;
  }

  const body = document.body;
  const screens = Array.from(document.querySelectorAll('.screen'));
  let lang = TEXTS[document.documentElement.lang] ? document.documentElement.lang : 'en';
  let view = null;
  let deadline = 0; // performance.now() at which the payment request expires

  function texts() {
    return TEXTS[lang];
  }

  function applyTexts() {
    const t = texts();
    for (const el of document.querySelectorAll('[data-t]')) {
      el.textContent = t[el.dataset.t];
    }
  }

  function field(name, v) {
    const t = texts();
    switch (name) {
      case 'amount':
        return v.amount ? formatMoney(lang, v.amount, v.currency) : '';
      case 'customer':
        return v.customer || t.welcome;
      case 'reason':
        return t.reasons[v.reason] || t.reasons.unknown;
      case 'declinedHint':
        return v.reason === 'failed' ? t.failedHint : t.declinedHint;
      case 'left':
        return formatLeft(deadline - performance.now());
    }
    return '';
  }

  function render(v) {
    view = v;
    if (TEXTS[v.lang] && v.lang !== lang) {
      lang = v.lang;
    }
    document.documentElement.lang = lang;
    applyTexts();
    if (v.screen === 'confirm') {
      deadline = performance.now() + v.expiresInMs;
    }
    for (const s of screens) {
      s.hidden = s.id !== v.screen;
    }
    for (const el of document.querySelectorAll('[data-field]')) {
      el.textContent = field(el.dataset.field, v);
    }
    for (const el of document.querySelectorAll('[data-when]')) {
      el.hidden = !v[el.dataset.when];
    }
    for (const el of document.querySelectorAll('[data-unless]')) {
      el.hidden = Boolean(v[el.dataset.unless]);
    }
    document.getElementById('net').hidden = v.online;
    body.dataset.screen = v.screen;
    // When the view was in the page, and when it reached the screen (the
    // next frame), for the benchmark of the box: wall-clock milliseconds.
    body.dataset.renderedAt = String(performance.timeOrigin + performance.now());
    requestAnimationFrame(function () {
      body.dataset.shownAt = String(performance.timeOrigin + performance.now());
      body.dataset.shownScreen = v.screen;
    });
  }

  setInterval(function () {
    if (view && view.screen === 'confirm') {
      for (const el of document.querySelectorAll('#confirm [data-field=left]')) {
        el.textContent = field('left', view);
      }
    }
  }, 250);

  // The connection. The box sends a keepalive every 15 s: a connection that
  // brought nothing for 45 s is dead (a cable pulled), and is replaced.
  const DEAD_AFTER = 45000;
  let ws = null;
  let attempt = 0;
  let lastHeard = 0;

  function setConn(state) {
    body.dataset.conn = state;
    document.getElementById('conn').hidden = state !== 'down';
  }

  function connect() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = location.search;
    url.hash = '';
    const sock = new WebSocket(url.href);
    ws = sock;
    sock.onmessage = function (e) {
      if (sock !== ws) {
        return;
      }
      lastHeard = performance.now();
      attempt = 0;
      setConn('up');
      let m;
      try {
        m = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      if (m.view) {
        render(m.view);
      }
    };
    sock.onclose = function () {
      if (sock === ws) {
        lost();
      }
    };
    lastHeard = performance.now();
  }

  function lost() {
    ws = null;
    setConn('down');
    // 0.25 s, doubling to 4 s, with jitter so that many displays do not
    // come back at the same moment.
    const delay = Math.min(4000, 250 * Math.pow(2, attempt)) * (0.75 + Math.random() / 2);
    attempt = Math.min(attempt + 1, 4);
    setTimeout(connect, delay);
  }

  setInterval(function () {
    if (ws && performance.now() - lastHeard > DEAD_AFTER) {
      const dead = ws;
      lost();
      dead.close();
    }
  }, 1000);

  applyTexts();
  window.tillboxDisplay = { formatMoney: formatMoney, formatLeft: formatLeft };
  connect();
})();
