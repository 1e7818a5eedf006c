package display_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/display"
)

// words are what the page says in a language, as the customer reads it.
type words struct {
	scan, toPay, welcome, waitingAmount, confirm, timeLeft, paid, declined, expired, cancelled,
	unrecognised, barcode, offline, noNetwork, unreachable string
}

// languages are the tests' languages, each with a currency and an amount
// and how the page must write it.
var languages = []struct {
	lang     string
	currency epayment.Currency
	amount   int64
	money    string // spaces stand for no-break spaces
	w        words
}{
	{"nb", epayment.NOK, 49800, "498,00 kr", words{
		scan: "Skann QR-koden din fra Vipps MobilePay", toPay: "Å betale:", welcome: "Hei, velkommen!",
		waitingAmount: "Venter på beløpet", confirm: "Bekreft betalingen i appen", timeLeft: "Tid igjen:",
		paid: "Betalt", declined: "Betalingen ble avvist", expired: "Betalingsforespørselen gikk ut",
		cancelled: "Betalingen ble avbrutt", unrecognised: "Koden ble ikke gjenkjent",
		barcode: "Dette er strekkoden til en vare.", offline: "Venter på nettverket",
		noNetwork: "Ingen nettverksforbindelse", unreachable: "Får ikke kontakt med kassen."}},
	{"da", epayment.DKK, 1234500, "12.345,00 kr.", words{
		scan: "Scan din QR-kode fra Vipps MobilePay", toPay: "At betale:", welcome: "Hej, velkommen!",
		waitingAmount: "Venter på beløbet", confirm: "Bekræft betalingen i appen", timeLeft: "Tid tilbage:",
		paid: "Betalt", declined: "Betalingen blev afvist", expired: "Betalingsanmodningen er udløbet",
		cancelled: "Betalingen blev annulleret", unrecognised: "Koden blev ikke genkendt",
		barcode: "Dette er en vares stregkode.", offline: "Venter på netværket",
		noNetwork: "Ingen netværksforbindelse", unreachable: "Ingen forbindelse til kassen."}},
	{"fi", epayment.EUR, 498, "4,98 €", words{
		scan: "Skannaa Vipps MobilePay -QR-koodisi", toPay: "Maksettavaa:", welcome: "Hei, tervetuloa!",
		waitingAmount: "Odotetaan summaa", confirm: "Vahvista maksu sovelluksessa", timeLeft: "Aikaa jäljellä:",
		paid: "Maksettu", declined: "Maksu hylättiin", expired: "Maksupyyntö vanheni",
		cancelled: "Maksu peruutettiin", unrecognised: "Koodia ei tunnistettu",
		barcode: "Tämä on tuotteen viivakoodi.", offline: "Odotetaan verkkoyhteyttä",
		noNetwork: "Ei verkkoyhteyttä", unreachable: "Kassaan ei saada yhteyttä."}},
	{"en", epayment.EUR, 123456, "€1,234.56", words{
		scan: "Scan your Vipps MobilePay QR code", toPay: "To pay:", welcome: "Hello, welcome!",
		waitingAmount: "Waiting for the amount", confirm: "Confirm the payment in the app", timeLeft: "Time left:",
		paid: "Paid", declined: "Payment declined", expired: "The payment request expired",
		cancelled: "Payment cancelled", unrecognised: "Code not recognised",
		barcode: "This is a product barcode.", offline: "Waiting for the network",
		noNetwork: "No network connection", unreachable: "The till box cannot be reached."}},
}

// sizes are the displays of each test: the official Raspberry Pi
// touchscreen and a full HD screen.
var sizes = [][2]int64{{800, 480}, {1920, 1080}}

// kept are the screenshots docs/display.md shows (docs/screens/, written with
// -update-screens), by language and screen, at 800×480 unless noted.
var kept = map[string]bool{
	"nb-idle": true, "nb-confirm": true, "nb-confirm-1920x1080": true, "nb-paid": true,
	"fi-unrecognised": true, "da-offline": true, "en-declined": true, "en-expired": true,
}

var timeLeft = regexp.MustCompile(`(10:00|[0-9]:[0-5][0-9])`)

// TestScreens drives the real agent through every screen — approve, reject,
// expire, cancel, offline — with two displays of the till open (800×480 and
// 1920×1080) in headless Chromium, in each language, and checks what each
// display shows: the words, the amount in the language's format, the masked
// customer, everything inside the window, and never the phone number.
func TestScreens(t *testing.T) {
	browser := newBrowser(t)
	for _, l := range languages {
		t.Run(l.lang, func(t *testing.T) {
			hold := display.Options{OutcomeHold: time.Hour, FlashFor: time.Hour} // each step replaces the last
			b := newBox(t, boxOptions{lang: l.lang, currency: l.currency, hub: hold})
			var tabs []*tab
			for _, s := range sizes {
				tabs = append(tabs, openTab(t, browser, s[0], s[1], b.url))
			}
			money := nbsp(l.money)
			w := l.w
			step := func(name, screen string, want ...string) {
				t.Helper()
				for _, tb := range tabs {
					tb.waitScreen(t, screen)
					got := tb.shown(t)
					for _, s := range want {
						if !strings.Contains(got.Text, s) && !strings.Contains(got.Net, s) {
							t.Errorf("%s %s: %q lacks %q", name, tb.name, got.Text, s)
						}
					}
					if got.Outside != "" {
						t.Errorf("%s %s: outside the window: %s", name, tb.name, got.Outside)
					}
					if strings.Contains(got.HTML, clearMSN) || strings.Contains(got.HTML, tokenQR) {
						t.Errorf("%s %s: the page holds the customer's code", name, tb.name)
					}
					key := l.lang + "-" + name
					tb.screenshot(t, key, (kept[key] && tb.w == 800) || kept[key+"-"+tb.name])
				}
			}

			step("idle", "idle", w.scan)
			if n := b.till.Displays(); n != 2 {
				t.Fatalf("%d displays connected, want 2", n)
			}

			b.scan(barcode)
			step("unrecognised", "unrecognised", w.unrecognised, w.barcode)

			// The customer scans first; the sale takes the scan.
			if res := b.scan(clearQR); res.Outcome != "held" {
				t.Fatalf("scan: %+v", res)
			}
			step("recognised", "recognised", "+47 ••• •• 678", w.waitingAmount)
			s := b.sale(l.amount, "")
			step("confirm", "confirm", money, w.confirm, w.timeLeft, "+47 ••• •• 678")
			if got := tabs[0].shown(t).Text; !timeLeft.MatchString(got) {
				t.Errorf("no time left in %q", got)
			}
			b.app(s.Reference, sim.Approve)
			step("paid", "paid", w.paid, money)

			// The sale first; a tokenised code names no one.
			s = b.sale(l.amount, "")
			step("idle-amount", "idle", w.scan, w.toPay, money)
			if res := b.scan(tokenQR); res.Outcome != "bound" {
				t.Fatalf("scan: %+v", res)
			}
			step("confirm-token", "confirm", money, w.confirm)
			b.app(s.Reference, sim.Reject)
			step("declined", "declined", w.declined, money)

			// Ten minutes pass at Vipps MobilePay without an answer.
			s = b.sale(l.amount, "")
			b.scan(clearQR)
			tabs[0].waitScreen(t, "confirm")
			b.clock.Advance(10*time.Minute + time.Second)
			step("expired", "expired", w.expired, money)

			// A tokenised code, scanned first, names no one; the cashier
			// cancels.
			b.scan(tokenQR)
			step("recognised-token", "recognised", w.welcome)
			s = b.sale(l.amount, "")
			tabs[0].waitScreen(t, "confirm")
			if _, err := b.agent.CancelSale(context.Background(), s.Reference); err != nil {
				t.Fatal(err)
			}
			step("cancelled", "cancelled", w.cancelled, money)

			// The network goes: the request waits for it, then goes out.
			b.sim.SetFault(sim.Fault{Endpoint: "*", Drop: 1})
			s = b.sale(l.amount, "")
			b.scan(clearQR)
			step("offline", "offline", w.offline, money, w.noNetwork)
			b.sim.ClearFaults()
			step("online-again", "confirm", money, w.confirm)
			for _, tb := range tabs {
				if got := tb.shown(t); got.Net != "" {
					t.Errorf("%s: the badge %q stays online", tb.name, got.Net)
				}
			}
			b.app(s.Reference, sim.Approve)
			step("paid-after-offline", "paid", w.paid, money)
			if st, err := b.agent.GetSale(s.Reference); err != nil || !(st.State == agent.Capturing || st.State == agent.Completed) {
				t.Errorf("the sale is %s (%v)", st.State, err)
			}
		})
	}
}
