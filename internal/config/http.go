package config

import (
	"crypto/tls"
	"net/netip"
	"strconv"
	"strings"
)

// HTTP is how `serve` meets the network (BACKUP_HTTP_TLS_*,
// BACKUP_HTTP_TRUSTED_PROXIES): its own TLS, or a TLS-terminating proxy
// whose forwarded headers it believes.
type HTTP struct {
	// TLSCertFile and TLSKeyFile, both set: serve HTTPS (TLS 1.2 or
	// later) with that pair, read again on SIGHUP.
	TLSCertFile, TLSKeyFile string
	// TrustedProxies are the peers whose X-Forwarded-Proto and
	// X-Forwarded-For are believed; from any other peer they are ignored.
	TrustedProxies []netip.Prefix
	// MetricsAddr, when set, is where /metrics is served instead of
	// HTTPAddr (BACKUP_METRICS_ADDR); MetricsToken, when set, the bearer
	// token it asks for (BACKUP_METRICS_TOKEN).
	MetricsAddr, MetricsToken string
}

// TLS says whether serve speaks HTTPS itself.
func (h HTTP) TLS() bool { return h.TLSCertFile != "" }

// Clear says whether sessions and tokens may travel in clear: neither TLS
// nor a proxy that terminates it.
func (h HTTP) Clear() bool { return !h.TLS() && len(h.TrustedProxies) == 0 }

func (r *reader) http() HTTP {
	h := HTTP{TLSCertFile: r.str("BACKUP_HTTP_TLS_CERT_FILE"), TLSKeyFile: r.str("BACKUP_HTTP_TLS_KEY_FILE")}
	switch {
	case h.TLSCertFile == "" && h.TLSKeyFile != "":
		r.fail("BACKUP_HTTP_TLS_CERT_FILE", "", "must be set with BACKUP_HTTP_TLS_KEY_FILE")
	case h.TLSCertFile != "" && h.TLSKeyFile == "":
		r.fail("BACKUP_HTTP_TLS_KEY_FILE", "", "must be set with BACKUP_HTTP_TLS_CERT_FILE")
	case h.TLSCertFile != "":
		r.readable("BACKUP_HTTP_TLS_CERT_FILE", h.TLSCertFile, "a PEM certificate (chain) this user can read")
		r.readable("BACKUP_HTTP_TLS_KEY_FILE", h.TLSKeyFile, "the certificate's PEM private key, readable by this user")
		if r.err == nil {
			if _, err := tls.LoadX509KeyPair(h.TLSCertFile, h.TLSKeyFile); err != nil {
				// The key file's text never reaches the message: only
				// what is wrong with the pair.
				r.fail("BACKUP_HTTP_TLS_CERT_FILE", h.TLSCertFile, "must hold a certificate that BACKUP_HTTP_TLS_KEY_FILE's key matches: "+tlsPairError(err))
			}
		}
	}
	h.MetricsToken = r.str("BACKUP_METRICS_TOKEN")
	if r.str("BACKUP_METRICS_ADDR") != "" {
		h.MetricsAddr = r.listenAddr("BACKUP_METRICS_ADDR")
	}
	for i, entry := range splitList(r.str("BACKUP_HTTP_TRUSTED_PROXIES")) {
		p, err := ParseProxy(entry)
		if err != nil {
			r.fail("BACKUP_HTTP_TRUSTED_PROXIES", entry, "entry "+strconv.Itoa(i+1)+" must be an IP address or a CIDR (10.0.0.0/8, ::1)")
			continue
		}
		h.TrustedProxies = append(h.TrustedProxies, p)
	}
	return h
}

// ParseProxy reads one trusted proxy: an address (a prefix of its full
// length) or a CIDR.
func ParseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// tlsPairError is what crypto/tls says of a bad pair, without the file's
// content.
func tlsPairError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// Warnings are what a valid configuration still leaves open, for serve's
// log and the config command: one line each.
func Warnings(c Config) []string {
	var out []string
	if (c.API.JWTSecret != "" || c.API.JWTPublicKeyFile != "") && c.API.JWTAudience == "" {
		out = append(out, "BACKUP_API_JWT_AUDIENCE is not set: any JWT of the platform with a \""+c.API.roleClaim()+"\" claim is accepted here, even one minted for another service")
	}
	return out
}
