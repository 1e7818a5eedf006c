package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/tlscert"
)

// boxTLS is the server TLS configuration of the POS API and the
// technician page ([tls]) and its certificate's fingerprint; nil and ""
// when tls.mode is off. A self-signed certificate is made on first start.
func boxTLS(c *config.Config) (*tls.Config, string, error) {
	var cert tls.Certificate
	var err error
	switch c.TLS.Mode {
	case config.TLSSelfSigned:
		cert, err = tlscert.SelfSigned(c.Box.DataDir, c.Box.Hosts)
	case config.TLSFiles:
		cert, err = tlscert.Load(c.TLS.CertFile, c.TLS.KeyFile)
	default:
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, tlscert.Fingerprint(cert), nil
}

// certFile is the certificate tls.mode names, or "" when off.
func certFile(c *config.Config) string {
	switch c.TLS.Mode {
	case config.TLSSelfSigned:
		return filepath.Join(c.Box.DataDir, tlscert.CertFile)
	case config.TLSFiles:
		return c.TLS.CertFile
	}
	return ""
}

// localAPI is the URL of the POS API of the tillbox c configures, over
// loopback, and a client for it: pinned to the box's certificate when it
// speaks TLS.
func localAPI(c *config.Config) (string, *http.Client, error) {
	addr := loopbackAddr(c.POS.Listen)
	cf := certFile(c)
	if cf == "" {
		return "http://" + addr, http.DefaultClient, nil
	}
	fp, err := tlscert.FingerprintFile(cf)
	if err != nil {
		return "", nil, err
	}
	cfg, err := tlscert.PinnedConfig(fp)
	if err != nil {
		return "", nil, err
	}
	return "https://" + addr, &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Proxy: nil}}, nil
}

// onLAN tells whether a listener on addr (HOST:PORT) can be reached from
// other machines: any address but loopback and localhost.
func onLAN(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.Unmap().IsLoopback()
}

// scheme is "https" when tls is set, else "http".
func scheme(cfg *tls.Config) string {
	if cfg != nil {
		return "https"
	}
	return "http"
}
