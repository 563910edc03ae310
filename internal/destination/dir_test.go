package destination_test

import (
	"path/filepath"
	"testing"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/destination/destinationtest"
)

func TestDirConforms(t *testing.T) {
	t.Parallel()
	destinationtest.Run(t, func(t *testing.T) destination.Store {
		return destination.Dir{Root: filepath.Join(t.TempDir(), "nas", "rgz")}
	})
}
