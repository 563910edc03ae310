package console

import (
	"fmt"
	"testing"
	"time"
)

// Failed logins: an address is held back after LoginFailures within the
// window, until the window ends; another address (a neighbour in another
// /64) is not; an IPv6 /64 counts as one; the memory stays bounded.
func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	l := newLoginLimiter()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i := range LoginFailures {
		if l.Blocked("192.0.2.1", now) != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Failed("192.0.2.1", now.Add(time.Duration(i)*time.Second))
	}
	if wait := l.Blocked("192.0.2.1", now.Add(time.Minute)); wait != LoginWindow-time.Minute {
		t.Fatalf("wait %s", wait)
	}
	if l.Blocked("192.0.2.2", now) != 0 {
		t.Fatal("another address is blocked")
	}
	if l.Blocked("192.0.2.1", now.Add(LoginWindow)) != 0 {
		t.Fatal("still blocked after the window")
	}
	for range LoginFailures {
		l.Failed("2001:db8:1:2::1", now)
	}
	if l.Blocked("2001:db8:1:2::ffff", now) == 0 || l.Blocked("2001:db8:1:3::1", now) != 0 {
		t.Fatal("an IPv6 /64 is not one client")
	}
	for i := range maxLoginClients + 10 {
		l.Failed(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(l.clients) > maxLoginClients {
		t.Fatalf("%d clients remembered", len(l.clients))
	}
}
