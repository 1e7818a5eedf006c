package technician

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
)

// TestPaymentDescription is the description of every test payment.
const TestPaymentDescription = "tillbox test payment"

// keepTests is how many test payments the page follows.
const keepTests = 10

// testPayments are the references of the test payments made from the page,
// newest last.
type testPayments struct {
	mu   sync.Mutex
	refs []string
}

func (t *testPayments) add(ref string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refs = append(t.refs, ref)
	if len(t.refs) > keepTests {
		t.refs = slices.Clone(t.refs[len(t.refs)-keepTests:])
	}
}

func (t *testPayments) list() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.refs)
}

// TestPayment is a test payment as the page shows it.
type TestPayment struct {
	Reference string `json:"reference"`
	Amount    string `json:"amount"`
	Customer  string `json:"customer"` // masked
	State     string `json:"state"`
	// Says is the state in words; Done when it is the outcome.
	Says    string `json:"says"`
	Done    bool   `json:"done"`
	Good    bool   `json:"good"` // paid
	Message string `json:"message,omitempty"`
}

func testPaymentOf(s agent.Sale) TestPayment {
	t := TestPayment{Reference: s.Reference, State: string(s.State), Done: s.Outcome, Message: s.Message,
		Amount: money(s.Amount, s.Currency), Customer: "the next scan"}
	if s.Customer != nil {
		t.Customer = "personal QR code"
		if s.Customer.Masked != "" {
			t.Customer = s.Customer.Masked
		}
	}
	switch s.State {
	case agent.WaitingForCustomer:
		t.Says = "waiting for a scan of a personal QR code"
	case agent.Queued, agent.Requested:
		t.Says = "sending it to Vipps MobilePay"
	case agent.AwaitingApproval:
		t.Says = "waiting for the customer to approve in the app"
	case agent.Authorized, agent.Capturing:
		t.Says = "approved; capturing"
	case agent.Completed:
		t.Says, t.Good = "paid", true
	case agent.Declined:
		t.Says = "declined in the app"
	case agent.Expired:
		t.Says = "expired: the customer did not act in time"
	case agent.Cancelled:
		t.Says = "cancelled"
	case agent.PartiallyRefunded:
		t.Says = "paid, then partly refunded"
	case agent.Refunded:
		t.Says = "paid, then refunded"
	case agent.Failed:
		t.Says = "failed"
	case agent.Abandoned:
		t.Says = "abandoned: it could not be sent in time"
	default:
		t.Says = string(s.State)
	}
	return t
}

// money is minor units for people: 1.00 NOK.
func money(minor int64, cur string) string {
	return fmt.Sprintf("%d.%02d %s", minor/100, abs(minor%100), cur)
}

// testPaymentsList is the followed test payments, newest first.
func (c *Console) testPaymentsList() []TestPayment {
	refs := c.tests.list()
	out := make([]TestPayment, 0, len(refs))
	for i := len(refs) - 1; i >= 0; i-- {
		s, err := c.o.Agent.GetSale(refs[i])
		if err != nil {
			out = append(out, TestPayment{Reference: refs[i], Says: "no longer kept: " + err.Error(), Done: true})
			continue
		}
		out = append(out, testPaymentOf(s))
	}
	return out
}

type testPayData struct {
	CSRF     string
	Allowed  bool
	Amount   string
	Problem  string
	Payments []TestPayment
}

// minAmount is the currency's smallest payment.
func (c *Console) minAmount() (int64, string) {
	cur := c.o.Agent.Options().Currency
	m, ok := epayment.MinAmount(cur)
	if !ok {
		m = 100
	}
	return m, string(cur)
}

func (c *Console) testPayPage(w http.ResponseWriter, r *http.Request, s ctxSession) {
	c.renderTestPay(w, http.StatusOK, s, "")
}

func (c *Console) renderTestPay(w http.ResponseWriter, status int, s ctxSession, problem string) {
	amount, cur := c.minAmount()
	c.render(w, status, "testpay.html", testPayData{CSRF: s.s.csrf, Allowed: c.o.TestPayments,
		Amount: money(amount, cur), Problem: problem, Payments: c.testPaymentsList()})
}

func (c *Console) testPayJSON(w http.ResponseWriter, r *http.Request, s ctxSession) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.testPaymentsList())
}

// testPay makes a test payment of the currency's smallest amount to the
// phone number typed in, or to the next scan; only when TestPayments
// allows. Nothing is cancelled or refunded by the page.
func (c *Console) testPay(w http.ResponseWriter, r *http.Request, s ctxSession) {
	if !c.o.TestPayments {
		c.log.Warn("technician: test payment refused: not allowed with this Vipps MobilePay environment", "client", client(r))
		http.Error(w, "test payments are allowed only in the test environment or against a simulator", http.StatusForbidden)
		return
	}
	amount, cur := c.minAmount()
	req := agent.SaleRequest{Amount: amount, Currency: cur, Description: TestPaymentDescription, Capture: "auto"}
	phone := strings.NewReplacer(" ", "", "+", "", "-", "").Replace(r.PostFormValue("phone"))
	if phone != "" {
		req.Customer = &agent.Customer{PhoneNumber: phone}
	}
	sale, err := c.o.Agent.CreateSale(r.Context(), req)
	if err != nil {
		problem := "The test payment was refused: " + err.Error()
		if ve, ok := errors.AsType[*agent.ValidationError](err); ok {
			if ve.Field == "customer.phoneNumber" {
				problem = "The phone number is not one: give the country code and the number, e.g. 4798765432."
			}
			c.log.Warn("technician: test payment refused", "field", ve.Field)
		} else {
			c.log.Warn("technician: test payment refused", "err", err)
		}
		c.renderTestPay(w, http.StatusUnprocessableEntity, s, problem)
		return
	}
	c.tests.add(sale.Reference)
	c.log.Info("technician: test payment", "reference", sale.Reference, "amount", amount, "currency", cur,
		"to", map[bool]string{true: "phone number", false: "next scan"}[phone != ""], "client", client(r))
	http.Redirect(w, r, Path+"testpay", http.StatusSeeOther)
}
