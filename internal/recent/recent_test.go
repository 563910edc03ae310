package recent

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }
func counting(n *atomic.Int32) func() (int, error) {
	return func() (int, error) { return int(n.Add(1)), nil }
}

func TestValueIsSharedForMaxAge(t *testing.T) {
	t.Parallel()
	var c clock
	var n atomic.Int32
	v := &Value[int]{MaxAge: 5 * time.Second, Now: c.now}
	for range 10 {
		if got, _ := v.Get(counting(&n)); got != 1 {
			t.Fatalf("got %d, want the first result", got)
		}
	}
	c.advance(6 * time.Second)
	if got, _ := v.Get(counting(&n)); got != 2 {
		t.Fatalf("after MaxAge: got %d, want a new result", got)
	}
}

func TestConcurrentCallersShareOneComputation(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	release := make(chan struct{})
	v := &Value[int]{MaxAge: time.Minute}
	slow := func() (int, error) { <-release; return int(n.Add(1)), nil }
	var wg sync.WaitGroup
	results := make([]int, 32)
	for i := range results {
		wg.Go(func() { results[i], _ = v.Get(slow) })
	}
	time.Sleep(50 * time.Millisecond) // let them all queue behind the first
	close(release)
	wg.Wait()
	for _, r := range results {
		if r != 1 {
			t.Fatalf("results %v: %d computations", results, n.Load())
		}
	}
}

func TestStaleServedWhileOneRefreshRuns(t *testing.T) {
	t.Parallel()
	var c clock
	v := &Value[int]{MaxAge: time.Second, Now: c.now}
	v.Get(func() (int, error) { return 1, nil })
	c.advance(2 * time.Second)
	inRefresh, release := make(chan struct{}), make(chan struct{})
	go v.Get(func() (int, error) { close(inRefresh); <-release; return 2, nil })
	<-inRefresh
	if got, _ := v.Get(func() (int, error) { t.Error("a second refresh ran"); return 3, nil }); got != 1 {
		t.Fatalf("during the refresh: %d, want the stale 1", got)
	}
	close(release)
}

func TestErrorsAreSharedToo(t *testing.T) {
	t.Parallel()
	boom := errors.New("catalog down")
	v := &Value[int]{MaxAge: time.Minute}
	if _, err := v.Get(func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

func TestMapIsBounded(t *testing.T) {
	t.Parallel()
	m := &Map[int]{MaxAge: time.Minute, Max: 3}
	for i := range 10 {
		m.Get(string(rune('a'+i)), func() (int, error) { return i, nil })
	}
	if len(m.values) > 3 {
		t.Fatalf("%d keys kept", len(m.values))
	}
	if got, _ := m.Get("j", func() (int, error) { return -1, nil }); got != 9 {
		t.Fatalf("the newest key lost its value: %d", got)
	}
}
