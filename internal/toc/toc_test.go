package toc

import (
	"os"
	"testing"
)

func TestCountRealListing(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/sample-pg15.list")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	got := Count(entries)
	want := Counts{
		Schemas: 1, Tables: 7, TableData: 7, Indexes: 3, Constraints: 9, ForeignKeys: 5,
		Triggers: 3, Sequences: 8, Functions: 3, Views: 1, MaterializedViews: 1, LargeObjects: 1, Entries: 73, // the header says 77: ENCODING, STDSTRINGS, SEARCH_PATH, DATABASE are not listed
	}
	if got != want {
		t.Fatalf("counts\n got %+v\nwant %+v", got, want)
	}
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		line, desc, rest string
	}{
		{"3440; 0 16436 TABLE DATA billing invoices postgres", "TABLE DATA", "billing invoices postgres"},
		{"227; 1259 16471 TABLE public Réclamations clients postgres", "TABLE", "public Réclamations clients postgres"},
		{"3447; 0 16504 MATERIALIZED VIEW DATA billing monthly_revenue postgres", "MATERIALIZED VIEW DATA", "billing monthly_revenue postgres"},
		{"231; 1259 16504 MATERIALIZED VIEW billing monthly_revenue postgres", "MATERIALIZED VIEW", "billing monthly_revenue postgres"},
		{"3456; 0 0 SEQUENCE OWNED BY billing invoices_id_seq postgres", "SEQUENCE OWNED BY", "billing invoices_id_seq postgres"},
		{"3449; 0 0 BLOBS - BLOBS ", "BLOBS", "- BLOBS"},
		{"3282; 2606 16449 FK CONSTRAINT billing invoices invoices_reseller_id_fkey postgres", "FK CONSTRAINT", "billing invoices invoices_reseller_id_fkey postgres"},
		{"12; 1259 16400 TABLE DATA_ARCHIVE x postgres", "TABLE", "DATA_ARCHIVE x postgres"}, // a table in schema DATA_ARCHIVE
	}
	for _, tc := range cases {
		e, err := parseLine(tc.line)
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if e.Desc != tc.desc || e.Rest != tc.rest {
			t.Errorf("%q: got desc %q rest %q", tc.line, e.Desc, e.Rest)
		}
	}
}

func TestParseEmptyArchive(t *testing.T) {
	t.Parallel()
	entries, err := Parse(";\n; Archive created at 2026-01-01\n;     TOC Entries: 4\n")
	if err != nil || len(entries) != 0 {
		t.Fatalf("entries %v, err %v", entries, err)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for name, listing := range map[string]string{
		"empty":           "",
		"not a listing":   "pg_restore: error: input file does not appear to be a valid archive\n",
		"garbage entry":   "; Archive created at x\nhello world\n",
		"entry no fields": "; Archive created at x\n12;\n",
	} {
		if _, err := Parse(listing); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
