package main

import "testing"

func TestProbeURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr         string
		https, ready bool
		want         string
	}{
		{":8080", false, false, "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:9000", true, true, "https://127.0.0.1:9000/readyz"},
		{"[::]:8080", false, true, "http://[::1]:8080/readyz"},
		{"10.0.0.7:8443", true, false, "https://10.0.0.7:8443/healthz"},
		{"backup.internal:80", false, false, "http://backup.internal:80/healthz"},
	} {
		if got := probeURL(tc.addr, tc.https, tc.ready); got != tc.want {
			t.Errorf("probeURL(%q, %v, %v) = %q, want %q", tc.addr, tc.https, tc.ready, got, tc.want)
		}
	}
}
