// Package front is where a request meets the daemon: its own TLS (a
// certificate and key read again on SIGHUP, TLS 1.2 or later), or a
// TLS-terminating proxy whose X-Forwarded-Proto and X-Forwarded-For are
// believed from the configured peers only. Behind it, a request's
// RemoteAddr is its real client and Secure says whether it came over TLS.
package front

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// HSTS is the Strict-Transport-Security of every answer over TLS: a
// browser that saw it once never speaks plain HTTP to the host for a year.
const HSTS = "max-age=31536000"

// Certificate is serve's TLS certificate, replaced whole on Reload.
type Certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// LoadCertificate reads the pair.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the pair again; a pair that does not load leaves the one
// in use. Connections already open go on with the certificate they
// began with; new ones get the new one.
func (c *Certificate) Reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		return fmt.Errorf("TLS certificate %s with key %s: %s", c.certFile, c.keyFile, first)
	}
	c.current.Store(&pair)
	return nil
}

// TLSConfig serves the current certificate, TLS 1.2 or later.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

type secureKey struct{}

// Secure says whether r came over TLS: to serve itself, or to a trusted
// proxy that said so.
func Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	forwarded, _ := r.Context().Value(secureKey{}).(bool)
	return forwarded
}

// forwardedHeaders are the headers a proxy sets about the client; from a
// peer that is not trusted they are dropped, so that nothing behind Wrap
// can believe them by mistake.
var forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "Forwarded"}

// Wrap makes h see the request as its real client sent it: from a trusted
// peer, the client address X-Forwarded-For names (the nearest address
// that is not itself a trusted proxy) and the scheme of the last
// X-Forwarded-Proto; from any other peer, the connection as it is. Every
// answer over TLS carries HSTS.
func Wrap(h http.Handler, trusted []netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peer, ok := addrOf(r.RemoteAddr); ok && trusts(trusted, peer) {
			r = r.Clone(context.WithValue(r.Context(), secureKey{}, lastProto(r.Header.Values("X-Forwarded-Proto")) == "https"))
			if client, ok := clientOf(r.Header.Values("X-Forwarded-For"), trusted); ok {
				r.RemoteAddr = netip.AddrPortFrom(client, 0).String()
			}
		} else {
			for _, name := range forwardedHeaders {
				if _, ok := r.Header[name]; ok {
					r = r.Clone(r.Context())
					for _, name := range forwardedHeaders {
						r.Header.Del(name)
					}
					break
				}
			}
		}
		if Secure(r) {
			w.Header().Set("Strict-Transport-Security", HSTS)
		}
		h.ServeHTTP(w, r)
	})
}

// clientOf is the client X-Forwarded-For names: read from the right (each
// proxy appends the peer it saw), the first address that is not a trusted
// proxy. A list that does not read stops there: what was read so far is
// all that can be believed.
func clientOf(values []string, trusted []netip.Prefix) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	var client netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !trusts(trusted, client) {
			break
		}
	}
	return client, client.IsValid()
}

// lastProto is the scheme the nearest proxy saw, lower case.
func lastProto(values []string) string {
	if len(values) == 0 {
		return ""
	}
	parts := strings.Split(values[len(values)-1], ",")
	return strings.ToLower(strings.TrimSpace(parts[len(parts)-1]))
}

func addrOf(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func trusts(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
