package sim

import (
	"encoding/json"
	"net/http"

	"github.com/tillbox/tillbox/agent/epayment"
)

// The QR API's personal QR exchange (FACTS.md §8): what a scanned personal QR
// code stands for. Clear-text Vipps codes answer version "1.0"; tokenised codes
// (https://qr.vipps.no/p/<token>) answer version "2.0" with the time the code
// was generated, if the token belongs to a test user. Anything else is a 400
// naming qrCode, in the QR API's error shape.

const requestedDataMSISDN = "MSISDN"

// handleExchangeQR is POST /qr/v1/exchange.
func (s *Server) handleExchangeQR(c *call) *reply {
	var req epayment.QRExchangeRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		return c.qrInvalid(field{"body", "The request body is not valid."})
	}
	if rep := c.checkRequestedData(req.RequestedData); rep != nil {
		return rep
	}
	if req.QRCode == "" {
		return c.qrInvalid(field{"qrCode", "The qrCode field is required."})
	}
	kind, v := parsePersonalQR(req.QRCode)
	switch kind {
	case qrClearText:
		return jsonReply(http.StatusOK, ctJSON, epayment.QRExchangeResponse{MSISDN: v, Version: "1.0"})
	case qrTokenised:
		s.mu.Lock()
		e := s.users.byToken[v]
		s.mu.Unlock()
		if e != nil {
			ts := e.issued.Unix()
			return jsonReply(http.StatusOK, ctJSON, epayment.QRExchangeResponse{MSISDN: e.PhoneNumber, Version: "2.0", Timestamp: &ts})
		}
	}
	return c.qrInvalid(field{"qrCode", qrIncompleteReason})
}

// customerExchangeRequest is the body of POST /qr/v1/exchange/customer.
type customerExchangeRequest struct {
	Customer *struct {
		CustomerToken string `json:"customerToken"`
	} `json:"customer"`
	RequestedData []string `json:"requestedData"`
}

type customerExchangeResponse struct {
	MSISDN    string `json:"msisdn"`
	Timestamp *int64 `json:"timestamp,omitempty"`
}

// handleExchangeCustomer is POST /qr/v1/exchange/customer: a customerToken
// (from a merchant-callback QR check-in) to the customer's MSISDN.
func (s *Server) handleExchangeCustomer(c *call) *reply {
	var req customerExchangeRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		return c.qrInvalid(field{"body", "The request body is not valid."})
	}
	if req.Customer == nil || req.Customer.CustomerToken == "" {
		return c.qrInvalid(field{"customer", "Customer object is required."})
	}
	if rep := c.checkRequestedData(req.RequestedData); rep != nil {
		return rep
	}
	s.mu.Lock()
	e := s.users.byCustomerToken[req.Customer.CustomerToken]
	s.mu.Unlock()
	if e == nil {
		return c.qrInvalid(field{"customer", "The customerToken is unknown or has expired."})
	}
	ts := e.issued.Unix()
	return jsonReply(http.StatusOK, ctJSON, customerExchangeResponse{MSISDN: e.PhoneNumber, Timestamp: &ts})
}

func (c *call) checkRequestedData(data []string) *reply {
	for _, d := range data {
		if d != requestedDataMSISDN {
			return c.qrInvalid(field{"requestedData", "Only MSISDN can be requested."})
		}
	}
	return nil
}

func (c *call) qrInvalid(f field) *reply {
	return c.problem(http.StatusBadRequest, "", "Bad request", "The request body contains one or more invalid parameters.", f)
}
