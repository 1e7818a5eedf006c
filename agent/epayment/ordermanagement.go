package epayment

import (
	"context"
	"net/http"
	"net/url"
)

// PaymentTypeECOM is the Order Management payment type of ePayment payments.
const PaymentTypeECOM = "ECOM"

func orderPath(kind, paymentType, orderID string) string {
	p := "/order-management/v2/" + url.PathEscape(paymentType) + "/"
	if kind != "" {
		p += kind + "/"
	}
	return p + url.PathEscape(orderID)
}

// AddReceipt attaches a receipt to an order (the ePayment reference). A
// receipt can be sent once: a second one is refused with 409.
func (c *Client) AddReceipt(ctx context.Context, paymentType, orderID string, r *Receipt) error {
	return c.do(ctx, call{op: "addReceipt", method: http.MethodPost, path: orderPath("receipts", paymentType, orderID), in: r, api: apiOrderManagement})
}

// SetCategory sets the category and order-details link of an order; the last
// one set wins.
func (c *Client) SetCategory(ctx context.Context, paymentType, orderID string, cat *Category) error {
	return c.do(ctx, call{op: "setCategory", method: http.MethodPut, path: orderPath("categories", paymentType, orderID), in: cat, api: apiOrderManagement})
}

// GetOrder reads back an order's category and receipt.
func (c *Client) GetOrder(ctx context.Context, paymentType, orderID string) (*Order, error) {
	var out Order
	if err := c.do(ctx, call{op: "getOrder", method: http.MethodGet, path: orderPath("", paymentType, orderID), out: &out, api: apiOrderManagement}); err != nil {
		return nil, err
	}
	return &out, nil
}
