package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/pgarchive"
)

// refusals shows that the validation every backup goes through
// (filecheck.Stream: the table of contents by `pg_restore --list`, the
// archive walked to its end in Go) still refuses an archive cut, truncated
// or re-framed, on the benchmark's own database: the archive pg_dump
// writes, then each damaged copy of it. It returns false if any damaged
// one was accepted (or the whole one refused).
func refusals(ctx context.Context, pgDump, url, work string) (bool, error) {
	raw := filepath.Join(work, "refusals.dump")
	defer os.Remove(raw)
	if err := redirected(raw, pgDump, "-Fc", "-Z0", "--dbname="+url).Run(); err != nil {
		return false, fmt.Errorf("pg_dump for the refusals: %w", err)
	}
	whole, err := os.ReadFile(raw)
	if err != nil {
		return false, err
	}
	s, err := pgarchive.Walk(bytes.NewReader(whole))
	if err != nil {
		return false, fmt.Errorf("the whole archive: %w", err)
	}
	middle := len(whole) / 2
	cases := []struct {
		name    string
		archive []byte
		good    bool
	}{
		{"the whole archive", whole, true},
		{"cut in the middle", whole[:middle], false},
		{"one byte short", whole[:len(whole)-1], false},
		{"its last data block missing (cut between blocks)", whole[:s.LastBlock], false},
		{"re-framed: 5 bytes inserted in the middle", append(append(bytes.Clone(whole[:middle]), 0, 1, 2, 3, 4), whole[middle:]...), false},
		{"5 bytes appended", append(bytes.Clone(whole), 1, 0, 0, 0, 0), false},
	}
	fmt.Println()
	fmt.Printf("Validation of damaged archives (filecheck.Stream; the whole one: %d bytes, %d data blocks):\n\n", len(whole), s.DataBlocks)
	fmt.Println("| archive | validation says | as it should |")
	fmt.Println("|---|---|:---:|")
	allRight := true
	for _, c := range cases {
		_, _, err := filecheck.Stream(ctx, dump.Tools{}, bytes.NewReader(c.archive), archive.None)
		says := "good"
		if err != nil {
			says = "refused: " + err.Error()
		}
		right := (err == nil) == c.good
		allRight = allRight && right
		fmt.Printf("| %s | %s | %s |\n", c.name, says, map[bool]string{true: "yes", false: "NO"}[right])
	}
	return allRight, nil
}
