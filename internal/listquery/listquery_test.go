package listquery

import (
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	f.Add("30", "100", "")
	f.Add("0", "-1", "garbage")
	f.Add("3650", "1000", EncodeCursor(time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC), "00000000-0000-0000-0000-000000000001"))
	f.Fuzz(func(t *testing.T, days, limit, cursor string) {
		q, err := Parse(map[string][]string{"days": {days}, "limit": {limit}, "cursor": {cursor}})
		if err != nil {
			return
		}
		if q.Days < 1 || q.Days > 3650 || q.Limit < 1 || q.Limit > 1000 {
			t.Fatalf("accepted %+v", q)
		}
	})
}
