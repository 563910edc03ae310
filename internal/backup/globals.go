package backup

import (
	"bytes"
	"context"
	"io"
	"sync"
)

// Globals shares one dump of each server's globals (roles, tablespaces)
// among the backups of one run over several databases: pg_dumpall
// --globals-only runs once per server and run, not once per database.
// Each backup still writes its own copy beside its dump, so that it stays
// restorable alone (restore --with-globals), and is copied and kept with
// it. The dump lives in memory only (it holds password hashes): a few
// kilobytes. Safe for concurrent use.
type Globals struct {
	mu sync.Mutex
	of map[string]*globalsDump // by target
}

type globalsDump struct {
	once             sync.Once
	data             []byte
	withoutPasswords bool
	err              error
}

// NewGlobals is an empty share, for one run.
func NewGlobals() *Globals { return &Globals{of: map[string]*globalsDump{}} }

// get returns target's globals, dumping them with dump the first time.
// A failed dump is not retried within the run: every backup of the
// server warns of it, as each would have on its own.
func (g *Globals) get(ctx context.Context, target string, dump func(context.Context, io.Writer) (bool, error)) (data []byte, withoutPasswords, first bool, err error) {
	g.mu.Lock()
	d := g.of[target]
	if d == nil {
		d = &globalsDump{}
		g.of[target] = d
	}
	g.mu.Unlock()
	d.once.Do(func() {
		first = true
		var buf bytes.Buffer
		d.withoutPasswords, d.err = dump(ctx, &buf)
		d.data = buf.Bytes()
	})
	return d.data, d.withoutPasswords, first, d.err
}
