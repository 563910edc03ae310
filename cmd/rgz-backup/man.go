package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/mosaique/rgz-backup/internal/version"
)

// manCmd writes the manual pages that `make package` ships: one per
// command, from the same text as --help, gzipped as Debian installs them.
// Hidden: it is for packaging, not for operators.
func manCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the manual pages (rgz-backup.1.gz and one per command) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: action(func(_ *cobra.Command, args []string) error {
			return writeManPages(root, args[0])
		}),
	}
}

func writeManPages(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	info := version.Get()
	header := doc.GenManHeader{Section: "1", Source: "rgz-backup " + info.Version, Manual: "rgz-backup manual"}
	// The build's date, not the clock's: the same commit makes the same
	// pages (cobra falls back to SOURCE_DATE_EPOCH, then now).
	if d, err := time.Parse(time.RFC3339, info.Date); err == nil {
		header.Date = &d
	}
	root.DisableAutoGenTag = true
	var write func(c *cobra.Command) error
	write = func(c *cobra.Command) error {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
				continue
			}
			if err := write(sub); err != nil {
				return err
			}
		}
		asManText(c)
		var page bytes.Buffer
		h := header // GenMan fills in the title: one header per page
		if err := doc.GenMan(c, &h, &page); err != nil {
			return fmt.Errorf("man page of %s: %w", c.CommandPath(), err)
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // no name, no time: reproducible
		zw.Write(page.Bytes())
		if err := zw.Close(); err != nil {
			return err
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1.gz"
		if err := os.WriteFile(filepath.Join(dir, name), gz.Bytes(), 0o644); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
		return nil
	}
	return write(root)
}

// asManText readies a command's texts for cobra's man generator, which reads
// them as Markdown: the long help becomes a preformatted block (its
// aligned tables stay as --help shows them), and the short help and the
// flags' usages have their Markdown characters escaped (BACKUP_LOCAL_DIR
// must not turn italic).
func asManText(c *cobra.Command) {
	if c.Long != "" {
		c.Long = "    " + strings.ReplaceAll(strings.TrimRight(c.Long, "\n"), "\n", "\n    ")
	}
	escape := strings.NewReplacer(`\`, `\\`, "_", `\_`, "*", `\*`, "`", "\\`").Replace
	c.Short = escape(c.Short)
	c.Flags().VisitAll(func(f *pflag.Flag) { f.Usage = escape(f.Usage) })
}
