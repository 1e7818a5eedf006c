package main

import (
	"context"
	"errors"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
)

// newReport is a Report API client on baseURL. (Placeholder until
// internal/reportapi is on main.)
func newReport(baseURL string, token func(context.Context) (string, error)) (recon.Report, error) {
	return nil, errors.New("recon: the Report API client is not built in")
}
