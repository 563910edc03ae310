package console

import (
	"sync"
	"time"

	"github.com/mosaique/rgz-backup/internal/audit"
)

// Failed logins are limited per client address (an IPv6 address's /64,
// audit.ClientKey): after LoginFailures within LoginWindow, that address
// waits until the window has passed. Per address, never per account: an
// attacker who guesses from one address locks out that address alone,
// not the admins.
const (
	LoginFailures = 10
	LoginWindow   = 5 * time.Minute
	// maxLoginClients bounds the limiter's memory: past it, the addresses
	// whose window ended are forgotten, then the oldest.
	maxLoginClients = 10000
)

// loginLimiter counts failed logins per address.
type loginLimiter struct {
	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	first time.Time // the window's start
	count int
}

func newLoginLimiter() *loginLimiter { return &loginLimiter{clients: map[string]*failures{}} }

// Blocked is how long client must still wait before it may try again (0:
// it may).
func (l *loginLimiter) Blocked(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[audit.ClientKey(client)]
	if f == nil || f.count < LoginFailures {
		return 0
	}
	return max(0, f.first.Add(LoginWindow).Sub(now))
}

// Failed counts one failed login of client.
func (l *loginLimiter) Failed(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := audit.ClientKey(client)
	f := l.clients[key]
	if f == nil || now.Sub(f.first) >= LoginWindow {
		if f == nil && len(l.clients) >= maxLoginClients {
			l.forget(now)
		}
		l.clients[key] = &failures{first: now, count: 1}
		return
	}
	f.count++
}

// forget drops the addresses whose window has ended, or, when none has,
// the one whose window began first.
func (l *loginLimiter) forget(now time.Time) {
	oldest, at := "", now
	for k, f := range l.clients {
		if now.Sub(f.first) >= LoginWindow {
			delete(l.clients, k)
			continue
		}
		if f.first.Before(at) {
			oldest, at = k, f.first
		}
	}
	if len(l.clients) >= maxLoginClients {
		delete(l.clients, oldest)
	}
}
