package jobs

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/plan"
	"github.com/mosaique/rgz-backup/internal/targets"
	"github.com/mosaique/rgz-backup/internal/version"
)

// PresenceEvery is how often a daemon refreshes its row in the catalog:
// well within catalog.DaemonSeenWithin.
const PresenceEvery = 10 * time.Second

// Presence keeps this daemon's row in the catalog (catalog.Daemon) while
// it runs, refreshed every PresenceEvery with its plan, and removes it
// when it stops: `rgz-backup status` shows what the running daemons
// schedule.
type Presence struct {
	Store  *catalog.Store
	Config config.Config
	Fleet  *targets.Fleet
	Clock  clock.Clock
	Log    *slog.Logger
}

// Run refreshes the row until ctx ends, then removes it.
func (p *Presence) Run(ctx context.Context) {
	clk := clock.Or(p.Clock)
	host, _ := os.Hostname()
	me := catalog.Daemon{Host: host, PID: os.Getpid(), StartedAt: time.Now().UTC().Truncate(time.Microsecond), Version: version.Get().Version}
	failing := false
	tick := time.NewTicker(PresenceEvery)
	defer tick.Stop()
	for {
		me.Plan = plan.Of(p.Config, p.Fleet, clk.Now())
		err := p.Store.SeeDaemon(ctx, me)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			p.Log.Warn("this daemon could not record itself in the catalog; `rgz-backup status` may not see it", "error", err)
		case err == nil && failing:
			p.Log.Info("this daemon is recorded in the catalog again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			gone, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := p.Store.DaemonGone(gone, me); err != nil {
				p.Log.Warn("this daemon's row stays in the catalog until it is a day old", "error", err)
			}
			return
		case <-tick.C:
		}
	}
}
