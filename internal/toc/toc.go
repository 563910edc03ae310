// Package toc reads the table of contents that `pg_restore --list` prints
// for a custom-format archive, and counts what the archive holds.
package toc

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Entry is one line of the listing: "dumpId; tableoid oid DESC schema name owner".
type Entry struct {
	DumpID int
	Desc   string // TABLE, TABLE DATA, INDEX, FK CONSTRAINT, ...
	Rest   string // schema, name and owner: names may hold spaces, so left whole
}

// Counts is what the restore test compares: how many objects of each kind.
type Counts struct {
	Schemas           int `json:"schemas"`
	Tables            int `json:"tables"`
	TableData         int `json:"table_data"`
	Indexes           int `json:"indexes"`
	Constraints       int `json:"constraints"`
	ForeignKeys       int `json:"foreign_keys"`
	Triggers          int `json:"triggers"`
	Sequences         int `json:"sequences"`
	Functions         int `json:"functions"`
	Views             int `json:"views"`
	MaterializedViews int `json:"materialized_views"`
	LargeObjects      int `json:"large_objects"`
	Entries           int `json:"entries"`
}

// descriptors are the kinds of entry pg_dump writes that can have more than
// one word, longest first, so that "TABLE DATA" is not read as "TABLE".
var descriptors = []string{
	"MATERIALIZED VIEW DATA", "DEFAULT PRIVILEGES", "PUBLICATION TABLES IN SCHEMA",
	"SEQUENCE OWNED BY", "FOREIGN DATA WRAPPER", "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY",
	"TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "MATERIALIZED VIEW", "LARGE OBJECTS", "LARGE OBJECT",
	"BLOB METADATA", "PUBLICATION TABLE", "OPERATOR CLASS", "OPERATOR FAMILY", "EVENT TRIGGER",
	"FOREIGN TABLE", "FK CONSTRAINT", "CHECK CONSTRAINT", "SEQUENCE SET", "INDEX ATTACH", "TABLE ATTACH",
	"USER MAPPING", "DEFAULT ACL", "ACCESS METHOD", "TABLE DATA", "ROW SECURITY",
}

// Parse reads a listing. Text that is not a listing is an error; an empty
// archive is not (its counts say it is empty).
func Parse(listing string) ([]Entry, error) {
	var entries []Entry
	sawHeader := false
	sc := bufio.NewScanner(strings.NewReader(listing))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, ";") {
			if strings.Contains(line, "Archive created at") || strings.Contains(line, "TOC Entries") {
				sawHeader = true
			}
			continue
		}
		if line == "" {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read listing: %w", err)
	}
	if !sawHeader {
		return nil, fmt.Errorf("not a pg_restore listing")
	}
	return entries, nil
}

func parseLine(line string) (Entry, error) {
	id, rest, ok := strings.Cut(line, ";")
	n, err := strconv.Atoi(id)
	if !ok || err != nil {
		return Entry{}, fmt.Errorf("unreadable listing line %q", line)
	}
	// Skip the catalog oid and the object oid.
	fields := strings.Fields(rest)
	if len(fields) < 3 {
		return Entry{}, fmt.Errorf("unreadable listing line %q", line)
	}
	tail := strings.Join(fields[2:], " ")
	desc := fields[2]
	for _, d := range descriptors {
		if tail == d || strings.HasPrefix(tail, d+" ") {
			desc = d
			break
		}
	}
	return Entry{DumpID: n, Desc: desc, Rest: strings.TrimSpace(strings.TrimPrefix(tail, desc))}, nil
}

// Count tallies entries by kind.
func Count(entries []Entry) Counts {
	c := Counts{Entries: len(entries)}
	for _, e := range entries {
		switch e.Desc {
		case "SCHEMA":
			c.Schemas++
		case "TABLE":
			c.Tables++
		case "TABLE DATA":
			c.TableData++
		case "INDEX":
			c.Indexes++
		case "CONSTRAINT", "CHECK CONSTRAINT":
			c.Constraints++
		case "FK CONSTRAINT":
			c.ForeignKeys++
		case "TRIGGER":
			c.Triggers++
		case "SEQUENCE":
			c.Sequences++
		case "FUNCTION", "PROCEDURE":
			c.Functions++
		case "VIEW":
			c.Views++
		case "MATERIALIZED VIEW":
			c.MaterializedViews++
		case "BLOB", "LARGE OBJECT":
			c.LargeObjects++
		}
	}
	return c
}
