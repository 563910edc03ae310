// Package recent shares the result of an expensive read among concurrent
// callers, so that the work of a burst of requests does not grow with the
// burst: one computation at a time per key, its result served for MaxAge,
// and, once a result exists, callers get it at once while a single
// refresh runs (a result a few seconds old is fine for a scrape or a
// dashboard; a queue of callers waiting on the database is not).
package recent

import (
	"sync"
	"time"
)

// Value is one shared result.
type Value[T any] struct {
	MaxAge time.Duration
	Now    func() time.Time // default time.Now

	mu         sync.Mutex
	ready      bool
	at         time.Time
	val        T
	err        error
	refreshing bool
	first      chan struct{} // closed when the first result is ready
	firstOnce  sync.Once
}

// Get returns the shared result, computing it when there is none or when
// it is older than MaxAge and no other caller is computing it already.
func (v *Value[T]) Get(compute func() (T, error)) (T, error) {
	v.mu.Lock()
	if v.Now == nil {
		v.Now = time.Now
	}
	if v.first == nil {
		v.first = make(chan struct{})
	}
	switch {
	case v.ready && (v.refreshing || v.Now().Sub(v.at) <= v.MaxAge):
		val, err := v.val, v.err
		v.mu.Unlock()
		return val, err
	case v.refreshing: // the first result is being computed: wait for it
		first := v.first
		v.mu.Unlock()
		<-first
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.val, v.err
	}
	v.refreshing = true
	v.mu.Unlock()

	val, err := compute()

	v.mu.Lock()
	v.val, v.err, v.at, v.ready, v.refreshing = val, err, v.Now(), true, false
	v.mu.Unlock()
	v.firstOnce.Do(func() { close(v.first) })
	return val, err
}

// Map is a Value per key (a route's query), at most Max keys: when full,
// it starts afresh, so that odd queries cannot make it grow.
type Map[T any] struct {
	MaxAge time.Duration
	Max    int

	mu     sync.Mutex
	values map[string]*Value[T]
}

// Get is Value.Get for key.
func (m *Map[T]) Get(key string, compute func() (T, error)) (T, error) {
	m.mu.Lock()
	if m.values == nil || len(m.values) >= max(m.Max, 1) {
		if _, ok := m.values[key]; !ok {
			m.values = map[string]*Value[T]{}
		}
	}
	v, ok := m.values[key]
	if !ok {
		v = &Value[T]{MaxAge: m.MaxAge}
		m.values[key] = v
	}
	m.mu.Unlock()
	return v.Get(compute)
}
