package api

import (
	"github.com/mosaique/rgz-backup/internal/auth"
	"net/http"
	"strconv"
	"strings"
)

// docs describes each route for the OpenAPI document, by "METHOD path".
var docs = map[string]struct {
	summary string
	params  []string // query parameters
	codes   []string // answers besides 401 and 403
}{
	"GET " + Prefix + "/latest":                 {"The newest backup row (?status=success: the newest good one) of the default target, or of ?target= (* for all) and ?database=", []string{"status", "target", "database"}, []string{"200", "400", "404"}},
	"GET " + Prefix + "/list":                   {"Backup rows of the last days, newest first, by pages: the default target's, or ?target= (* for all) and ?database=", []string{"days", "limit", "cursor", "target", "database"}, []string{"200", "400"}},
	"POST " + Prefix + "/test-restore":          {"Queue a restore test (body {\"backup_filename\": …}, optional)", nil, []string{"202", "400", "404", "409", "413"}},
	"GET " + Prefix + "/restore-history":        {"Restore tests of the last days, newest first", []string{"days"}, []string{"200", "400"}},
	"GET " + Prefix + "/restore-tests/{id}":     {"One restore test (where test-restore's Location points)", nil, []string{"200", "400", "404"}},
	"GET " + Prefix + "/{id}":                   {"One backup row", nil, []string{"200", "400", "404"}},
	"GET " + Prefix + "/copies/{id}":            {"One backup's copies (the S3 bucket and BACKUP_DESTINATIONS), each with its state", nil, []string{"200", "400", "404"}},
	"POST " + Prefix:                            {"Queue a manual backup (triggered_by = api)", nil, []string{"202", "400", "413"}},
	"GET " + PITRPrefix + "/window":             {"Each archived cluster's point-in-time recovery: state (streaming, lagging, not streaming, broken), oldest and newest restorable moments, windows, the stream's last state", nil, []string{"200"}},
	"GET " + PITRPrefix + "/base-backups":       {"Every base backup of the archive, oldest first, with its last restore test", nil, []string{"200"}},
	"POST " + PITRPrefix + "/test-restore":      {"Queue a point-in-time restore test (body {\"to\": RFC 3339 moment, \"target\": server}, both optional)", nil, []string{"202", "400", "409", "413"}},
	"GET " + PITRPrefix + "/restore-history":    {"Point-in-time restore tests of the last days, newest first", []string{"days"}, []string{"200", "400"}},
	"GET " + PITRPrefix + "/restore-tests/{id}": {"One point-in-time restore test (where test-restore's Location points)", nil, []string{"200", "400", "404"}},
	"GET /api/v1/openapi.json":                  {"This document", nil, []string{"200"}},
}

// OpenAPI is the OpenAPI 3 document of the routes this server serves.
func (d Deps) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range d.routes() {
		doc := docs[rt.method+" "+rt.path]
		responses := map[string]any{
			"401": map[string]any{"description": "missing, malformed, badly signed or expired token", "content": errorContent()},
			"403": map[string]any{"description": "this role may not use this route", "content": errorContent()},
		}
		for _, code := range doc.codes {
			responses[code] = map[string]any{"description": http.StatusText(mustAtoi(code))}
		}
		var params []any
		if strings.Contains(rt.path, "{id}") {
			params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string", "format": "uuid"}})
		}
		for _, p := range doc.params {
			params = append(params, map[string]any{"name": p, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
		}
		op := map[string]any{"summary": doc.summary, "responses": responses, "security": []any{map[string]any{"bearer": []any{}}}}
		if params != nil {
			op["parameters"] = params
		}
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "rgz-backup", "version": "1", "description": "PostgreSQL backups of the MOSAÏQUE platform: admin and NOC only."},
		"paths":   paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "a platform JWT (role claim admin or noc) or a static token"}}},
	}
}

func errorContent() map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object",
		"properties": map[string]any{"error": map[string]any{"type": "object", "properties": map[string]any{
			"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}}}}}}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s) // the codes above are numbers
	return n
}

func (d Deps) openAPI(w http.ResponseWriter, _ *http.Request, _ auth.Caller) *apiError {
	writeJSON(w, http.StatusOK, d.OpenAPI())
	return nil
}
