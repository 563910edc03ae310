// Package listquery reads the query of a list of backups, as the API and
// the console take it: how many days, how many rows, which target and
// database, and the cursor of the next page.
package listquery

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// Query is a list's parsed query.
type Query struct {
	Days      int
	Limit     int
	AfterDate time.Time
	AfterID   string
	Of        catalog.Of
}

// ParseOf reads target and database. Without target, the routes answer
// for the default target (the server of the environment's settings),
// as the specification's routes always did; target=* is every target.
// database narrows to one database; absent: every database.
func ParseOf(v map[string][]string) (catalog.Of, error) {
	of := catalog.Of{Target: catalog.DefaultTarget}
	if ts := v["target"]; len(ts) > 0 {
		switch t := ts[0]; {
		case t == "*":
			of.Target = ""
		case !targets.ValidName(t):
			return of, errors.New("target must be a target's name (lowercase letters, digits, - and _), or * for every target")
		default:
			of.Target = t
		}
	}
	if ds := v["database"]; len(ds) > 0 {
		db := ds[0]
		if db == "" || len(db) > 63 || strings.ContainsRune(db, 0) || !utf8.ValidString(db) {
			return of, errors.New("database must be a database name (1 to 63 bytes of UTF-8, no NUL): any name PostgreSQL takes")
		}
		of.Database = db
	}
	return of, nil
}

// Parse reads days (1..3650, default 30), limit (1..1000, default
// 100), cursor (from a previous page), target and database (ParseOf).
func Parse(v map[string][]string) (Query, error) {
	q := Query{Days: 30, Limit: 100}
	of, err := ParseOf(v)
	if err != nil {
		return q, err
	}
	q.Of = of
	get := func(k string) string {
		if len(v[k]) == 0 {
			return ""
		}
		return v[k][0]
	}
	if s := get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 3650 {
			return q, errors.New("days must be an integer from 1 to 3650")
		}
		q.Days = n
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return q, errors.New("limit must be an integer from 1 to 1000")
		}
		q.Limit = n
	}
	if s := get("cursor"); s != "" {
		date, id, ok := DecodeCursor(s)
		if !ok {
			return q, errors.New("cursor is not one this API gave out")
		}
		q.AfterDate, q.AfterID = date, id
	}
	return q, nil
}

// EncodeCursor names the last row of a page.
func EncodeCursor(date time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(date.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// DecodeCursor reads a cursor back; ok is false for anything else.
func DecodeCursor(s string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	ds, id, found := strings.Cut(string(b), "|")
	date, err := time.Parse(time.RFC3339Nano, ds)
	if !found || err != nil || uuid.Validate(id) != nil {
		return time.Time{}, "", false
	}
	return date, id, true
}
