package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// Refusals are in the audit, with the client's address: a failed login, a
// form without its CSRF token, a POST without a session.
func TestRefusalsAreAudited(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	if code, _ := s.logIn(s.browser(), "rgzb_not-a-token"); code != http.StatusUnauthorized {
		t.Fatalf("a bad token's login: %d", code)
	}
	admin, _ := s.login("admin")
	if code, _ := s.post(admin, "/console/actions/backup", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("a forged CSRF token: %d", code)
	}
	if code, _ := s.post(s.browser(), "/console/actions/backup", url.Values{}); code != http.StatusUnauthorized {
		t.Fatalf("a POST without a session: %d", code)
	}
	rows, err := s.store.AuditPage(context.Background(), catalog.Audit{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range rows {
		if r.Client != "127.0.0.1" {
			t.Errorf("no client address: %+v", r)
		}
		for _, want := range []string{"401 login refused", "403 csrf", "401 no session"} {
			if strings.HasPrefix(fmt.Sprintf("%d %s", r.Status, r.Detail), want) {
				found[want] = true
			}
		}
	}
	if len(found) != 3 {
		t.Fatalf("refusals audited: %v in %+v", found, rows)
	}
}

// However large the audit, its page reads and renders 100 rows, and the
// next page goes on where it stopped.
func TestAuditPageIsBounded(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	at := time.Now().Add(-time.Hour)
	for i := range 3000 {
		if _, err := s.store.InsertAudit(context.Background(), catalog.Audit{At: at.Add(time.Duration(i) * time.Millisecond), Subject: "noc-1", Role: "noc",
			Method: "POST", Path: "/console/actions/backup/" + strings.Repeat("x", 400), Status: 403, Detail: fmt.Sprintf("row %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	admin, _ := s.login("admin")
	code, page := s.get(admin, "/console/audit")
	if code != 200 || strings.Count(page, "<tr>") > 101 || len(page) > 150<<10 {
		t.Fatalf("the audit page: %d, %d rows, %d bytes", code, strings.Count(page, "<tr>"), len(page))
	}
	next := regexpNext(page)
	if next == "" || !strings.Contains(page, ">row 2999<") || strings.Contains(page, ">row 2850<") {
		t.Fatalf("the first page: newest first, with a next page (%q)", next)
	}
	_, second := s.get(admin, next)
	if strings.Contains(second, ">row 2950<") || !strings.Contains(second, ">row 2850<") || strings.Count(second, "<tr>") > 101 {
		t.Fatalf("the second page does not go on where the first stopped")
	}
}

func regexpNext(page string) string {
	i := strings.Index(page, `rel="next"`)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], `href="`)
	if start < 0 {
		return ""
	}
	href := page[start+len(`href="`):]
	href = href[:strings.Index(href, `"`)]
	return strings.ReplaceAll(href, "&amp;", "&")
}
