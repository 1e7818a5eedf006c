package epayment

import (
	"context"
	"net/http"
)

// ExchangeQR asks whose personal QR code a scan is (POST /qr/v1/exchange).
// qrCode must be the complete scanned text. A till does not need this to take
// a payment (it sends the scan as Customer.PersonalQR); it is for showing who
// was recognised.
func (c *Client) ExchangeQR(ctx context.Context, qrCode string) (*QRExchangeResponse, error) {
	var out QRExchangeResponse
	err := c.do(ctx, call{op: "exchangeQr", method: http.MethodPost, path: "/qr/v1/exchange",
		in: &QRExchangeRequest{QRCode: qrCode, RequestedData: []string{"MSISDN"}}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
