package backup

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/toc"
)

func past(raw int64, tables int) catalog.Execution {
	return catalog.Execution{Filename: "prev.dump.gz", UncompressedSizeBytes: &raw, ObjectCounts: toc.Counts{Tables: tables}}
}

func TestSuspicions(t *testing.T) {
	t.Parallel()
	usual := []catalog.Execution{past(1000, 45), past(1100, 45), past(900, 45), past(5000, 45), past(10, 45)} // median 1000
	cases := []struct {
		name   string
		raw    int64
		tables int
		recent []catalog.Execution
		want   []string // substrings, one per reason
	}{
		{"first backup ever", 10, 1, nil, nil},
		{"usual size", 950, 45, usual, nil},
		{"exactly half is fine", 500, 45, usual, nil},
		{"under half the median", 499, 45, usual, []string{"under half the median (1000 bytes) of the last 5"}},
		{"lost a table", 1000, 44, usual, []string{"44 tables, the previous backup (prev.dump.gz) had 45"}},
		{"both", 1, 3, usual, []string{"under half", "3 tables"}},
		{"more tables is fine", 1000, 60, usual, nil},
		{"even count median", 99, 45, []catalog.Execution{past(300, 45), past(100, 45)}, []string{"median (200 bytes)"}},
		{"rows without sizes are ignored", 1, 45, []catalog.Execution{{ObjectCounts: toc.Counts{Tables: 45}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Suspicions(tc.raw, tc.tables, tc.recent)
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %d reasons", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("reason %q lacks %q", got[i], w)
				}
			}
		})
	}
}

func TestCheckClientVersion(t *testing.T) {
	t.Parallel()
	cases := []struct {
		client, server int
		ok             bool
	}{{15, 15, true}, {17, 15, true}, {14, 15, false}, {9, 16, false}}
	for _, c := range cases {
		err := CheckClientVersion(c.client, c.server)
		if (err == nil) != c.ok {
			t.Errorf("pg_dump %d, server %d: %v", c.client, c.server, err)
		}
		if err != nil && (!errors.Is(err, ErrClientTooOld) || !strings.Contains(err.Error(), fmt.Sprintf("postgresql-client-%d", c.server))) {
			t.Errorf("message should name the client to install: %v", err)
		}
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		err  error
		want bool
	}{
		"bad configuration":     {fmt.Errorf("load: %w", &config.Error{Var: "X", Value: "y", Allowed: "z"}), true},
		"pg_dump too old":       {CheckClientVersion(14, 15), true},
		"server unreachable":    {errors.New("connect to the database to back up: connection refused"), false},
		"timeout":               {errors.New("timeout after 600s"), false},
		"lock held (transient)": {errors.New("another backup is running"), false},
	}
	for name, c := range cases {
		if got := Permanent(c.err); got != c.want {
			t.Errorf("%s: %v", name, got)
		}
	}
}
