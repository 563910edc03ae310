package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/api"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
)

// End to end: an admin script POSTs a test-restore to the daemon, follows
// its Location until the test succeeds, and finds it in restore-history.
func TestTestRestoreOverHTTP(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	token, entry, err := auth.NewToken("admin")
	if err != nil {
		t.Fatal(err)
	}
	env["BACKUP_API_TOKENS"] = entry
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	d := startServe(t, env)
	call := apiCaller(t, d.addr, token)
	res, accepted := call("POST", api.Prefix+"/test-restore", "")
	location := res.Header.Get("Location")
	if res.StatusCode != 202 || location == "" || accepted["id"] == nil {
		t.Fatalf("test-restore: %d %v", res.StatusCode, accepted)
	}
	var status string
	waitFor(t, 60*time.Second, "the restore test to finish", func() bool {
		_, rt := call("GET", location, "")
		status, _ = rt["status"].(string)
		return status == "success" || status == "failed"
	})
	if status != "success" {
		t.Fatalf("restore test over HTTP: %s\n%s", status, d.logs.String())
	}
	_, history := call("GET", api.Prefix+"/restore-history?days=1", "")
	tests, _ := history["restore_tests"].([]any)
	if len(tests) != 1 || tests[0].(map[string]any)["id"] != accepted["id"] || tests[0].(map[string]any)["triggered_by"] != "api" ||
		tests[0].(map[string]any)["backup_filename"] == "" {
		t.Fatalf("restore-history: %v", history)
	}
	// A manual backup through the API runs on the daemon, triggered_by api.
	if res, job := call("POST", api.Prefix, ""); res.StatusCode != 202 || job["job_id"] == nil {
		t.Fatalf("POST backup: %d %v", res.StatusCode, job)
	}
	store := openStore(t, env)
	waitFor(t, 60*time.Second, "the API's backup", func() bool {
		for _, r := range catalogRows(t, store) {
			if r.TriggeredBy == catalog.TriggerAPI && r.Status == catalog.StatusSuccess {
				return true
			}
		}
		return false
	})
	if res, _ := call("GET", "/healthz", ""); res.StatusCode != 200 {
		t.Fatal("/healthz")
	}
	if strings.Contains(d.logs.String(), token) {
		t.Fatal("the token is in the daemon's logs")
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}

// apiCaller calls the daemon at addr's API with token, and decodes the
// answer's JSON object (into a map; into *into when given).
func apiCaller(t *testing.T, addr, token string) func(method, path, body string, into ...any) (*http.Response, map[string]any) {
	return func(method, path, body string, into ...any) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		for _, v := range into {
			if b, ok := v.(*[]byte); ok { // the body as it came (not JSON: /metrics)
				*b = raw
				continue
			}
			_ = json.Unmarshal(raw, v)
		}
		return res, out
	}
}
