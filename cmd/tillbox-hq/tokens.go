package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/tokens"
)

// The token broker (internal/tokens): headquarters hands each box the
// access token of its sales unit; SIGHUP re-reads the units' credentials.

// tokenUnits are the broker's units of c.
func tokenUnits(c *hqconfig.Config) []tokens.Unit {
	us := make([]tokens.Unit, len(c.Units))
	for i, u := range c.Units {
		us[i] = tokens.Unit{MSN: u.MSN, Stores: u.Stores}
		if u.HasCredentials() {
			us[i].Vipps = hqconfig.EPayment(c.Vipps.BaseURL, u)
		}
	}
	return us
}

// openTokens makes the broker and adds its counter to /metrics.
func (m *Main) openTokens() error {
	b, err := tokens.New(tokens.Options{NC: m.nc, Chain: m.Config.HQ.Chain,
		Log: m.log.With("component", "tokens")}, tokenUnits(m.Config))
	if err != nil {
		return err
	}
	m.tokens = b
	m.metrics.Register(b.Collector())
	if m.ConfigPath != "" {
		// From now on, a SIGHUP no longer ends the process.
		m.hup = make(chan os.Signal, 1)
		signal.Notify(m.hup, syscall.SIGHUP)
	}
	return nil
}

// runTokens answers the boxes' token requests until ctx ends, and re-reads
// the units' credentials from m.ConfigPath on each SIGHUP (when set).
func (m *Main) runTokens(ctx context.Context) {
	if m.hup != nil {
		defer signal.Stop(m.hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-m.hup:
					m.reloadTokens()
				}
			}
		}()
	}
	_ = m.tokens.Run(ctx) // it ends with ctx only
}

// reloadTokens re-reads the configuration file and gives the broker the
// units' new credentials and stores; other changes take a restart. A file
// with problems changes nothing (its problems are logged, never a value).
func (m *Main) reloadTokens() {
	log := m.log.With("component", "tokens")
	c, err := hqconfig.Load(m.ConfigPath)
	if err != nil {
		log.Error("reload: the configuration has problems: nothing changed", "err", err)
		return
	}
	for _, w := range c.Warnings {
		log.Warn("configuration", "problem", w)
	}
	if c.HQ.Chain != m.Config.HQ.Chain {
		log.Error("reload: hq.chain changed: restart headquarters for that; nothing changed")
		return
	}
	if err := m.tokens.SetUnits(tokenUnits(c)); err != nil {
		log.Error("reload: nothing changed", "err", err)
		return
	}
	log.Info("reload: the sales units' token credentials and stores re-read (other changes take a restart)")
}
