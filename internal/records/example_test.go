package records_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/records"
)

// Finding a backup on the worst day: no catalog (it was lost with the
// server), so For gives the manifests written beside the dumps, and Find
// asks them for a name as an operator types it (the stem is enough).
func ExampleFind() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example-records-")
	defer os.RemoveAll(dir)
	date := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	dump := filepath.Join(dir, "20261206_030000.dump.zst")
	os.WriteFile(dump, []byte("…"), 0o600)
	db := "mosaique"
	if _, err := layout.WriteManifest(dump, catalog.Execution{
		ID: "7d1c2a54-2f0a-4c55-9a59-5a1f3e0b7c11", BackupType: catalog.TypePgDump, BackupDate: date,
		Filename: filepath.Base(dump), FilePath: &dump, Status: catalog.StatusSuccess, DatabaseName: &db,
		RestoreTestStatus: catalog.TestNotTested, TriggeredBy: catalog.TriggerScheduled, RetentionClass: catalog.ClassDaily,
	}); err != nil {
		fmt.Println(err)
		return
	}

	readers := records.For(nil, dir, true) // no catalog: the manifests alone
	row, from, err := records.Find(ctx, readers, "20261206_030000")
	fmt.Println(row.Filename, row.Status, *row.DatabaseName, err)
	fmt.Println("answered by the manifests:", from.String() == records.EveryManifest{Root: dir}.String())

	_, _, err = records.Find(ctx, readers, "20261205_030000")
	fmt.Println("unknown name:", err != nil)
	// Output:
	// 20261206_030000.dump.zst success mosaique <nil>
	// answered by the manifests: true
	// unknown name: true
}
