package front

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// Who the daemon believes the client is, and whether it came over TLS:
// the forwarded headers count from a trusted peer only, read from the
// nearest hop, and an untrusted peer's are dropped.
func TestWrap(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, peer    string
		xff, proto    []string
		client        string
		secure, clean bool // clean: no forwarded header reaches the handler
	}{
		{name: "direct, no headers", peer: "192.0.2.7:5000", client: "192.0.2.7", clean: true},
		{name: "untrusted peer lies", peer: "192.0.2.7:5000", xff: []string{"198.51.100.1"}, proto: []string{"https"}, client: "192.0.2.7", clean: true},
		{name: "trusted proxy", peer: "10.1.2.3:443", xff: []string{"198.51.100.1"}, proto: []string{"https"}, client: "198.51.100.1", secure: true},
		{name: "trusted proxy, plain http", peer: "10.1.2.3:443", xff: []string{"198.51.100.1"}, proto: []string{"http"}, client: "198.51.100.1"},
		{name: "client forges the left of the list", peer: "10.1.2.3:443", xff: []string{"6.6.6.6, 198.51.100.1"}, proto: []string{"HTTPS"}, client: "198.51.100.1", secure: true},
		{name: "two trusted hops", peer: "10.1.2.3:443", xff: []string{"198.51.100.1", "10.9.9.9"}, proto: []string{"https"}, client: "198.51.100.1", secure: true},
		{name: "the last proxy's scheme counts", peer: "10.1.2.3:443", proto: []string{"https, http"}, client: "10.1.2.3"},
		{name: "garbage stops the walk", peer: "10.1.2.3:443", xff: []string{"198.51.100.1, nonsense, 10.0.0.5"}, client: "10.0.0.5"},
		{name: "IPv6 trusted peer", peer: "[::1]:443", xff: []string{"2001:db8::1"}, proto: []string{"https"}, client: "2001:db8::1", secure: true},
		{name: "IPv4-mapped peer", peer: "[::ffff:10.0.0.1]:443", xff: []string{"198.51.100.9"}, client: "198.51.100.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got *http.Request
			h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }), trusted)
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range c.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			client, ok := addrOf(got.RemoteAddr)
			if !ok || client.String() != c.client {
				t.Errorf("client %q, want %s", got.RemoteAddr, c.client)
			}
			if Secure(got) != c.secure {
				t.Errorf("secure %v, want %v", Secure(got), c.secure)
			}
			if hsts := w.Header().Get("Strict-Transport-Security") != ""; hsts != c.secure {
				t.Errorf("HSTS %v, want %v", hsts, c.secure)
			}
			if c.clean && (got.Header.Get("X-Forwarded-For") != "" || got.Header.Get("X-Forwarded-Proto") != "") {
				t.Errorf("an untrusted peer's forwarded headers reached the handler: %v", got.Header)
			}
			if r.RemoteAddr != c.peer {
				t.Errorf("the caller's request was changed")
			}
		})
	}
}
