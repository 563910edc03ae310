package pgtest

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a real PostgreSQL that injects one
// kind of fault: a catalog that drops its connections. CutOn arms it with
// a piece of SQL; the moment a client sends a statement containing it, the
// proxy closes every connection (before the statement reaches the server)
// and refuses new ones until Heal. Cut does the same at once.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]bool
	down  bool
	armed string // SQL that triggers the cut; "" = none
	cuts  int
}

// NewProxy starts a proxy to the cluster on a free loopback port, closed
// when the test ends.
func (c *Cluster) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: c.addr(), conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

// URL is the cluster's URL for database db, through the proxy.
func (p *Proxy) URL(c *Cluster, db string) string {
	return strings.Replace(c.URL(db), c.addr(), p.ln.Addr().String(), 1)
}

// CutOn arms the proxy: the first statement containing sql cuts.
func (p *Proxy) CutOn(sql string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = sql
}

// Cut closes every connection now and refuses new ones until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *Proxy) cutLocked() {
	p.down, p.armed = true, ""
	p.cuts++
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Heal lets connections through again (and disarms the proxy).
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.armed = false, ""
}

// Cuts says how many times the proxy has cut.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *Proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = true, true
		p.mu.Unlock()
		go p.pipe(server, client, true)
		go p.pipe(client, server, false)
	}
}

// pipe copies one direction; the client's side is watched for the armed SQL.
func (p *Proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient && p.trips(buf[:n]) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) trips(chunk []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed != "" && bytes.Contains(chunk, []byte(p.armed)) {
		p.cutLocked()
		return true
	}
	return false
}
