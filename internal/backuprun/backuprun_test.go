package backuprun

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/targets"
)

func TestServers(t *testing.T) {
	all := []targets.Server{{Target: "main"}, {Target: "site-b", Schedule: "30 4 * * *"}, {Target: "site-c"}}
	names := func(s []targets.Server) string {
		var out []string
		for _, x := range s {
			out = append(out, x.Target)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		target    string
		scheduled bool
		want      string
	}{
		{"", false, "main,site-b,site-c"},
		{"", true, "main,site-c"}, // site-b's own slots run it
		{"site-b", true, "site-b"},
		{"site-c", false, "site-c"},
	} {
		got, err := Servers(all, c.target, c.scheduled)
		if err != nil || names(got) != c.want {
			t.Errorf("Servers(%q, %v) = %s, %v; want %s", c.target, c.scheduled, names(got), err, c.want)
		}
	}
	var cfgErr *config.Error
	if _, err := Servers(all, "gone", false); !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "main, site-b, site-c") {
		t.Errorf("an unknown target: %v", err)
	}
}

func TestOnly(t *testing.T) {
	units := []targets.Unit{{Target: "main", Database: "radius"}, {Target: "main", Database: "billing"}, {Target: "site-b", Database: "billing"}}
	down := []targets.Unreachable{{Target: "site-c", Err: errors.New("connection refused")}}
	if got, err := Only(units, nil, "radius"); err != nil || len(got) != 1 || got[0].Target != "main" {
		t.Errorf("radius: %+v, %v", got, err)
	}
	if _, err := Only(units, nil, "billing"); err == nil || !strings.Contains(err.Error(), "choose one with --target") {
		t.Errorf("a name on two servers: %v", err)
	}
	if _, err := Only(units, nil, "nope"); err == nil || !strings.Contains(err.Error(), "radius") {
		t.Errorf("an unknown database: %v", err)
	}
	var unreachable targets.Unreachable
	if _, err := Only(nil, down, "radius"); !errors.As(err, &unreachable) {
		t.Errorf("the only server down: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// A run's rows and mail, the same whether the CLI or the daemon ran it.
func TestRowsAndEvent(t *testing.T) {
	good := catalog.Execution{ID: "1", Status: catalog.StatusSuccess, TargetName: "main", DatabaseName: ptr("radius"), Filename: "a.dump.gz"}
	failed := catalog.Execution{ID: "2", Status: catalog.StatusFailed, TargetName: "main", DatabaseName: ptr("billing"), ErrorMessage: ptr("pg_dump: exit 1")}
	outcomes := []Outcome{
		{Target: "main", Database: "radius", Row: good},
		{Target: "site-b", Database: "crm", Err: fmt.Errorf("x: %w", &lock.HeldError{Holder: "pid 1"})}, // did not start: no news
		{Target: "main", Database: "billing", Row: failed, Err: errors.New("pg_dump: exit 1")},
		Unreachable("site-c", errors.New("connection refused\nmore")),
		{Target: "main", Database: "crm", Err: errors.New("catalog down")}, // nothing recorded
	}
	rows := Rows(outcomes)
	var got []string
	for _, r := range rows {
		got = append(got, r.TargetName+"/"+deref(r.DatabaseName)+":"+string(r.Status)+":"+deref(r.ErrorMessage))
	}
	want := "main/billing:failed:pg_dump: exit 1 main/crm:failed:catalog down main/radius:success: site-c/*:failed:connection refused"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if !AnyGood(rows) || AnyGood(rows[3:]) {
		t.Error("AnyGood")
	}
	e, ok := Event(rows, "h", func(string) string { return "db:5432" })
	if !ok || e.Kind != notify.BackupRunFailed || len(e.Run) != 4 {
		t.Fatalf("the run's mail: %+v", e)
	}
	// One database recorded alone is told as a backup is, naming its server.
	if e, ok := Event(Rows(outcomes[:1]), "h", func(t string) string { return t + ":5432" }); !ok || e.Kind != notify.BackupSuccess || e.Server != "main:5432" {
		t.Fatalf("one database: %+v", e)
	}
	if _, ok := Event(Rows(outcomes[1:2]), "h", nil); ok {
		t.Fatal("a run that did not start has something to tell")
	}
	if err := Verdict(outcomes); err == nil || !strings.Contains(err.Error(), "3 of 5 databases failed: main/billing, site-c/*, main/crm") {
		t.Fatalf("verdict: %v", err)
	}
	var held *lock.HeldError
	if err := Verdict(outcomes[1:2]); !errors.As(err, &held) {
		t.Fatalf("a run that did not start: %v", err)
	}
}

func TestTold(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		last bool
		want bool
	}{
		{"a success", nil, false, true},
		{"an attempt a retry follows", errors.New("pg_dump: exit 1"), false, false},
		{"the last attempt", errors.New("pg_dump: exit 1"), true, true},
		{"a failure no retry heals", fmt.Errorf("snapshot: %w", backup.ErrClientTooOld), false, true},
		{"another backup held the lock", &lock.HeldError{}, true, false},
	} {
		if got := Told(c.err, c.last); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
