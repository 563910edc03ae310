package targets_test

import (
	"fmt"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// Which databases a run backs up, from what the server has: unset, the one
// database of the connection (as the specification has it); a list; or
// "*", every database but the catalog's, less the exclusions.
func ExampleSelect() {
	onServer := []string{"mosaique", "radius", "rgz_catalog", "staging_1", "staging_2"}
	for _, sel := range []config.Databases{
		{},
		{Names: []string{"radius", "mosaique", "radius"}},
		{All: true, Exclude: []string{"staging_*"}},
	} {
		fmt.Println(targets.Select(sel, "mosaique", onServer, "rgz_catalog"))
	}
	// Output:
	// [mosaique]
	// [mosaique radius]
	// [mosaique radius]
}
