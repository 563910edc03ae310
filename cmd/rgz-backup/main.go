// Command rgz-backup takes, verifies and catalogs PostgreSQL backups for the
// MOSAÏQUE platform. This package only wires the internal packages to verbs.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/targets"
	"github.com/mosaique/rgz-backup/internal/version"
)

// Exit codes, documented in --help and the README.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitLockHeld = 75 // EX_TEMPFAIL: try again later
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-signals
		cancel(fmt.Errorf("interrupted by %s", unix.SignalName(s.(syscall.Signal))))
		<-signals // a second signal: stop waiting for cleanup
		os.Exit(exitFailed)
	}()
	root := newRoot()
	ran, err := root.ExecuteContextC(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rgz-backup:", err)
	}
	os.Exit(restoreCommandCode(ran, exitCode(err)))
}

// failure marks an error from a verb's work (exit 1); every other error
// that reaches main comes from the command line itself (exit 2).
type failure struct{ error }

func (f failure) Unwrap() error { return f.error }

// exitStatus is an error with an exit status of its own, for a verb
// whose caller reads it (PostgreSQL's restore_command: pitr wal-fetch).
type exitStatus struct {
	error
	code int
}

func (e exitStatus) Unwrap() error { return e.error }

// restoreCommandCode is the exit code of pitr wal-fetch, PostgreSQL's
// restore_command: 1 says only "not in the archive" (recovery ends
// there); any other trouble, a bad configuration or command line
// included, must stop recovery instead, which only a code above 125 does.
func restoreCommandCode(ran *cobra.Command, code int) int {
	if ran != nil && ran.Name() == "wal-fetch" && code != exitOK && code != exitFailed {
		return pitr.WALFetchExitUnreachable
	}
	return code
}

func exitCode(err error) int {
	var cfgErr *config.Error
	var held *lock.HeldError
	var f failure
	var status exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &status):
		return status.code
	case errors.As(err, &held):
		return exitLockHeld
	case errors.As(err, &cfgErr):
		return exitUsage
	case errors.As(err, &f):
		return exitFailed
	}
	return exitUsage
}

// action adapts a verb so that its errors count as failures (exit 1), not
// as usage errors.
func action(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			var cfgErr *config.Error
			var held *lock.HeldError
			var lineErr *targets.LineError
			if errors.As(err, &cfgErr) || errors.As(err, &held) || errors.As(err, &lineErr) {
				return err
			}
			return failure{err}
		}
		return nil
	}
}

// loadConfig reads the environment. Every verb handles several databases
// (BACKUP_DATABASES, BACKUP_TARGETS_FILE: docs/TARGETS.md). Where backups
// are encrypted or read back decrypted, the garbage collector runs sooner
// (GOGC 25, unless GOGC is set): age's decrypting reader allocates 64 KiB
// per chunk, which otherwise adds 14 to 22 MB to a backup's peak RSS; at
// 25 it adds 4 to 7, at no measurable cost in time (docs/BENCHMARKS.md).
func loadConfig() (config.Config, error) {
	cfg, err := config.LoadLookup(os.LookupEnv)
	if err == nil {
		// A targets file's own destinations: where its targets' copies are
		// healed and expired.
		cfg, err = targets.WithTargetDestinations(cfg)
		var lineErr *targets.LineError
		if err != nil && !errors.As(err, &lineErr) {
			err = &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
		}
	}
	if err == nil && (cfg.Encryption.On() || cfg.Encryption.IdentityFile != "") && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	return cfg, err
}

func logger(cfg config.Config) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "rgz-backup",
		Short: "Verified, restorable PostgreSQL backups for the MOSAÏQUE platform",
		Long: `rgz-backup takes a consistent pg_dump of the database, compresses and
checksums it in one pass, validates it (re-read, full decompression,
pg_restore reading the archive to its end) before it is published, and
records every attempt in the backup_executions table.

Configuration comes from the environment:
` + config.HelpText() + `
Exit codes: 0 success; 1 the work failed; 2 bad configuration or usage;
75 another backup holds the lock (try again later).`,
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, c.CommandPath())
	})
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(versionCmd(), serveCmd(), statusCmd(), backupCmd(), listCmd(), showCmd(), verifyCmd(), restoreTestCmd(), restoreCmd(), pitrCmd(), retentionCmd(), archiveCmd(), catalogCmd(), targetsCmd(), tokenCmd(), sessionsCmd(), healthcheckCmd(), keyCmd(), migrateCmd(), configCmd())
	root.AddCommand(manCmd(root))
	return root
}
