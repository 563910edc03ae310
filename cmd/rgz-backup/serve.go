package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/api"
	"github.com/mosaique/rgz-backup/internal/audit"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/console"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/front"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/metrics"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/pitrproof"
	"github.com/mosaique/rgz-backup/internal/restoretest"
	"github.com/mosaique/rgz-backup/internal/sso"
	"github.com/mosaique/rgz-backup/internal/targets"
	"github.com/mosaique/rgz-backup/internal/walstream"
)

func serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: scheduled backups and restore tests, retention, S3, the HTTP API",
		Long: `Run the daemon. It schedules the daily backup (POSTGRES_BACKUP_HOUR_UTC and
POSTGRES_BACKUP_MINUTE_UTC, or BACKUP_SCHEDULE_CRON) as River jobs in the
catalog database, retries a failed attempt after 30 s, 60 s and 120 s,
catches up a missed night at start, and takes jobs put on the queue by
` + "`rgz-backup backup --enqueue`" + `. Any number of replicas may run: each slot gets
one backup. It also runs the scheduled restore test (BACKUP_RESTORE_TEST_*),
retention daily, and, with S3, the hourly upload of partial backups.

With BACKUP_DATABASES or BACKUP_TARGETS_FILE, each run lists the
databases of every server and backs up each as its own job (its lock,
retries, row), BACKUP_MAX_PARALLEL_PER_SERVER at once per server and
BACKUP_MAX_PARALLEL in all, then sends one mail for the run; SIGHUP reads
the targets file again (docs/TARGETS.md).

At start it checks that pg_dump, pg_restore and pg_dumpall run (exit 2
naming what is missing). It listens on BACKUP_HTTP_ADDR: /healthz (the
process answers), /readyz (catalog reachable, schema current, client
programs usable, workers running), /metrics
(Prometheus, docs/MONITORING.md), the API under /api/v1 for admin and
NOC callers (docs/API.md), and the web console under /console/
(docs/CONSOLE.md).

On SIGTERM or SIGINT it stops taking jobs, lets a running backup finish
within BACKUP_SHUTDOWN_GRACE_SECONDS, then cancels it (failed row
"interrupted by shutdown"; the job is retried) and exits 0. Logs are JSON lines
on stdout (where a container runtime and journald read them), at info
unless BACKUP_LOG_LEVEL says otherwise; a failure to start is one line
on stderr.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			level := slog.LevelInfo
			if os.Getenv("BACKUP_LOG_LEVEL") != "" {
				level = cfg.LogLevel
			}
			log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
			// River's own info lines (job counts every few seconds) are
			// noise for an operator; its warnings and errors are not.
			riverLog := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: max(level, slog.LevelWarn)}))
			return serve(cmd.Context(), cfg, log, riverLog)
		}),
	}
}

// serve runs until ctx is cancelled (the first SIGTERM or SIGINT), then
// stops gracefully. Work runs under a context that signals do not cancel:
// stopping is decided here, step by step.
func serve(ctx context.Context, cfg config.Config, log, riverLog *slog.Logger) error {
	work := context.WithoutCancel(ctx)
	clk := clock.Real
	tools := dump.Tools{BinDir: cfg.PgBinDir}
	// The servers whose WAL this daemon streams are fixed at start: a
	// reload of the targets file changes what is dumped, not what streams.
	streaming, err := targets.Servers(cfg, os.Getenv)
	if err != nil {
		return &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
	}
	streaming = targets.Streaming(streaming)
	if len(streaming) > 0 {
		tools.Programs = append(slices.Clone(dump.Required), dump.PITRPrograms...)
	}
	pool, store, err := prepare(ctx, cfg, tools, streaming)
	if err != nil {
		return err
	}
	defer store.Close()
	authn, err := auth.New(cfg.API)
	if err != nil {
		return err
	}
	var cert *front.Certificate
	if cfg.HTTP.TLS() {
		if cert, err = front.LoadCertificate(cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile); err != nil {
			return &config.Error{Var: "BACKUP_HTTP_TLS_CERT_FILE", Value: cfg.HTTP.TLSCertFile, Allowed: err.Error()}
		}
	}
	listener, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return &config.Error{Var: "BACKUP_HTTP_ADDR", Value: cfg.HTTPAddr, Allowed: "must be an address this host can listen on: " + err.Error()}
	}
	for _, w := range config.Warnings(cfg) {
		log.Warn(w)
	}
	metricsSrv, metricsListener, err := metricsServer(cfg, store, log)
	if err != nil {
		listener.Close()
		return err
	}
	if metricsListener != nil {
		defer metricsListener.Close() // on the early returns; after Shutdown, a no-op
	}
	if cfg.HTTP.Clear() {
		log.Warn("HTTP is served in clear: console sessions and API tokens travel unencrypted; set BACKUP_HTTP_TLS_CERT_FILE and BACKUP_HTTP_TLS_KEY_FILE, or BACKUP_HTTP_TRUSTED_PROXIES behind a TLS-terminating proxy",
			"http", cfg.HTTPAddr)
	}

	var fleet *targets.Fleet
	if cfg.Several() {
		if fleet, err = targets.NewFleet(cfg, os.Getenv); err != nil {
			listener.Close()
			return &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
		}
	}
	shutdown, interrupt := context.WithCancelCause(work)
	defer interrupt(nil)
	client, err := jobs.NewClient(pool, jobs.Options{Config: cfg, Fleet: fleet, Store: store, Log: log, RiverLog: riverLog, Shutdown: shutdown, Clock: clk, Streaming: streaming})
	if err != nil {
		listener.Close()
		return err
	}
	endSessionsOfOtherTokens(ctx, store, authn.Tokens(), clk, log)
	stopReload := reloadOnHangup(reloadable{ctx: ctx, fleet: fleet, cert: cert, authn: authn, store: store, client: client, cfg: cfg, clk: clk, log: log})
	defer stopReload()
	if err := jobs.Recover(ctx, client, store, cfg, clk, log); err != nil {
		listener.Close()
		return fmt.Errorf("recover after an interrupted backup: %w", err)
	}
	sweepScratch(ctx, store, cfg, clk, log)
	// Copies left by a killed point-in-time restore test hold a server in
	// clear: swept at start, then every few minutes.
	sweepCopies := func() {
		pitrproof.Sweep(ctx, cfg.LocalDir, log)
		for _, s := range streaming {
			if s.Config.LocalDir != cfg.LocalDir {
				pitrproof.Sweep(ctx, s.Config.LocalDir, log)
			}
		}
	}
	sweepCopies()
	go func() {
		for ctx.Err() == nil {
			clock.Sleep(ctx, clk, copySweepEvery, time.Minute)
			sweepCopies()
		}
	}()
	if err := client.Start(work); err != nil {
		listener.Close()
		return fmt.Errorf("start the job engine: %w", err)
	}
	var working atomic.Bool
	working.Store(true)
	prober := readiness(store, tools, &working, cfg, log)
	prober.Refresh(ctx)
	go prober.Run(work)
	server := httpServer(cfg, store, authn, client, log, prober.Handler(), streaming)
	go func() {
		var err error
		if cert != nil {
			server.TLSConfig = cert.TLSConfig()
			err = server.ServeTLS(listener, "", "")
		} else {
			err = server.Serve(listener)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "error", err)
		}
	}()
	if metricsSrv != nil {
		go func() {
			if err := metricsSrv.Serve(metricsListener); !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics HTTP server stopped", "error", err)
			}
		}()
	}
	var archived sync.WaitGroup
	for _, s := range streaming {
		archive := &pitr.Archive{Config: s.Config, Server: s.Config.Database, Catalog: store, Tools: tools, Clock: clk, Log: log,
			Tell: func(ctx context.Context, e notify.Event) {
				if notify.Unsent(cfg.Notify, e.Kind) != "" {
					return
				}
				if err := jobs.EnqueueNotify(ctx, client, e, clk.Now()); err != nil {
					log.Error("notification not queued", "event", e.Kind, "error", err)
				}
			}}
		if cfg.TargetsFile != "" {
			archive.Log = log.With("target", s.Target)
		}
		archived.Go(func() { archive.Run(ctx) })
	}
	// The daemon's row stays while a backup may still run, until its jobs
	// have stopped.
	presence := &jobs.Presence{Store: store, Config: cfg, Fleet: fleet, Clock: clk, Log: log}
	present, leave := context.WithCancel(work)
	gone := make(chan struct{})
	go func() { presence.Run(present); close(gone) }()
	announce(ctx, client, store, cfg, fleet, clk, listener.Addr().String(), log)

	<-ctx.Done()
	working.Store(false)
	log.Info("stopping: no new jobs; a running backup may finish", "cause", context.Cause(ctx).Error(), "grace_seconds", cfg.ShutdownGrace.Seconds())
	stopJobs(work, client, interrupt, cfg.ShutdownGrace, log)
	leave()
	<-gone
	archived.Wait()
	closeCtx, cancelClose := context.WithTimeout(work, 5*time.Second)
	defer cancelClose()
	_ = server.Shutdown(closeCtx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(closeCtx)
	}
	log.Info("stopped")
	return nil
}

// copySweepEvery is how often serve removes the copies of point-in-time
// restore tests whose process died (pitrproof.Sweep).
const copySweepEvery = 5 * time.Minute

// prepare checks what the daemon needs before it takes work: the client
// programs, the catalog, the backup directory.
func prepare(ctx context.Context, cfg config.Config, tools dump.Tools, streaming []targets.Server) (*pgxpool.Pool, *catalog.Store, error) {
	if cfg.Encryption.On() && cfg.RestoreTest.Enabled && cfg.Encryption.IdentityFile == "" {
		// Better not to start than to fail every scheduled restore test.
		return nil, nil, &config.Error{Var: "BACKUP_ENCRYPTION_IDENTITY_FILE", Value: "",
			Allowed: "must name an identity of the backups' recipients while they are encrypted and restore tests are enabled (or set BACKUP_RESTORE_TEST_ENABLED=false and test them where the identity is)"}
	}
	if _, err := tools.Check(ctx); err != nil {
		return nil, nil, &config.Error{Var: "BACKUP_PG_BIN_DIR", Value: cfg.PgBinDir, Allowed: "must hold usable " + strings.Join(tools.Needed(), ", ") + ": " + err.Error()}
	}
	for _, s := range streaming {
		// An unfit server is told at start, once, with what to change; an
		// unreachable one is the stream's to retry.
		if _, err := pitr.Inspect(ctx, s.Config.Database); errors.Is(err, walstream.ErrUnfit) {
			if cfg.TargetsFile != "" {
				return nil, nil, &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: "target " + s.Target + " streams its WAL (pitr): " + err.Error()}
			}
			return nil, nil, &config.Error{Var: "BACKUP_PITR_ENABLED", Value: "true", Allowed: err.Error()}
		}
	}
	pool, store, err := openCatalogPool(ctx, cfg, "rgz-backup serve", 10, true)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(cfg.LocalDir, 0o750); err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("backup directory: %w", err)
	}
	return pool, store, nil
}

// readiness is what /readyz checks: the catalog and the client programs
// every BACKUP_READYZ_INTERVAL_SECONDS, the workers on each request.
func readiness(store *catalog.Store, tools dump.Tools, working *atomic.Bool, cfg config.Config, log *slog.Logger) *api.Prober {
	return &api.Prober{Every: cfg.ReadyzInterval, Log: log, Checks: map[string]api.Check{
		"catalog": func(ctx context.Context) error {
			current, err := store.SchemaCurrent(ctx)
			if err == nil && !current {
				err = errors.New("schema not current: run rgz-backup migrate")
			}
			return err
		},
		"client_programs": func(ctx context.Context) error {
			_, err := tools.Check(ctx)
			return err
		},
	}, Instant: map[string]func() error{
		"workers": func() error {
			if !working.Load() {
				return errors.New("stopping")
			}
			return nil
		},
	}}
}

func httpServer(cfg config.Config, store *catalog.Store, authn *auth.Authenticator, client *jobs.Client, log *slog.Logger, probes http.Handler, streaming []targets.Server) *http.Server {
	trail := audit.New(store, nil, log) // one trail: a flood is counted once, whichever door it knocks at
	mux := http.NewServeMux()
	var beside http.Handler // /metrics beside the API, unless it has its own address
	if cfg.HTTP.MetricsAddr == "" {
		beside = metricsHandler(cfg, store, log)
	}
	mux.Handle("/", api.Server(api.Deps{Config: cfg, Store: store, Auth: authn, Queue: client, Log: log, Audit: trail, Streaming: streaming,
		Metrics: beside}, probes))
	var single *sso.Provider
	if cfg.API.OIDC.On() {
		single = sso.New(cfg.API.OIDC, time.Now)
		go func() {
			if err := single.Check(context.Background()); err != nil {
				log.Warn("single sign-on: the identity provider cannot be reached now; the console offers it again at each login, and tokens still log in", "error", err)
			}
		}()
	}
	ui := console.Handler(console.Deps{Config: cfg, Store: store, Auth: authn, Queue: client, Log: log, Audit: trail, Streaming: streaming, SSO: single})
	mux.Handle(console.Prefix, ui)
	mux.Handle(console.Prefix+"/", ui)
	// A person who types the daemon's address finds the console.
	mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix+"/", http.StatusSeeOther))
	return &http.Server{
		Handler:           front.Wrap(mux, cfg.HTTP.TrustedProxies),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// metricsHandler is /metrics, behind BACKUP_METRICS_TOKEN when it is set.
func metricsHandler(cfg config.Config, store *catalog.Store, log *slog.Logger) http.Handler {
	return metrics.Guarded(metrics.Handler(metrics.Registry(metrics.Collector{Store: store, Cfg: cfg, Log: log})), cfg.HTTP.MetricsToken)
}

// metricsServer serves /metrics alone on BACKUP_METRICS_ADDR (nil when it
// is not set): a port a firewall can keep to the Prometheus host.
func metricsServer(cfg config.Config, store *catalog.Store, log *slog.Logger) (*http.Server, net.Listener, error) {
	if cfg.HTTP.MetricsAddr == "" {
		return nil, nil, nil
	}
	listener, err := net.Listen("tcp", cfg.HTTP.MetricsAddr)
	if err != nil {
		return nil, nil, &config.Error{Var: "BACKUP_METRICS_ADDR", Value: cfg.HTTP.MetricsAddr, Allowed: "must be an address this host can listen on: " + err.Error()}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(cfg, store, log))
	return &http.Server{Handler: front.Wrap(mux, cfg.HTTP.TrustedProxies), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second}, listener, nil
}

// announce logs what the daemon will do, and starts making sure of every
// slot of the schedules (jobs.SlotKeeper): at once — a slot that passed
// while no daemon ran is caught up — then at each slot, until work ends.
func announce(ctx context.Context, client *jobs.Client, store *catalog.Store, cfg config.Config, fleet *targets.Fleet, clk clock.Clock, addr string, log *slog.Logger) {
	if !cfg.ScheduleEnabled {
		log.Warn("scheduled backups are disabled (POSTGRES_BACKUP_ENABLED=false): only manual and enqueued backups run", "http", addr)
		return
	}
	log.Info("serving", "schedule", cfg.Schedule.Spec, "next_backup", cfg.Schedule.Next(clk.Now()), "http", addr)
	keeper := &jobs.SlotKeeper{Client: client, Store: store, Config: cfg, Fleet: fleet, Clock: clk, Log: log}
	go keeper.Run(ctx)
}

// reloadOnHangup reads again, on each SIGHUP, what may change under a
// running daemon: the TLS certificate (new connections get the new one,
// open ones keep theirs), the static tokens' file (sessions opened with a
// token that left it end), and the targets file (the next run backs up
// the servers it lists now; queued and running jobs go on). What does not
// read is logged and changes nothing.
func reloadOnHangup(r reloadable) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			r.hangup()
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

// reloadable is what a SIGHUP reads again, and what it changes.
type reloadable struct {
	ctx    context.Context
	fleet  *targets.Fleet      // nil: no targets file
	cert   *front.Certificate  // nil: no TLS
	authn  *auth.Authenticator // its tokens, from BACKUP_API_TOKENS_FILE
	store  *catalog.Store
	client *jobs.Client
	cfg    config.Config
	clk    clock.Clock
	log    *slog.Logger
}

func (r reloadable) hangup() {
	if r.cert != nil {
		if err := r.cert.Reload(); err != nil {
			r.log.Error("SIGHUP: the TLS certificate was not reloaded; the one in use stays", "error", err)
		} else {
			r.log.Info("SIGHUP: TLS certificate reloaded", "cert_file", r.cfg.HTTP.TLSCertFile)
		}
	}
	if file := r.cfg.API.TokensFile; file != "" {
		if tokens, err := config.ReadTokensFile(file); err != nil {
			r.log.Error("SIGHUP: the tokens file was not reloaded; the tokens stay as they were", "file", file, "error", err)
		} else {
			r.authn.SetTokens(tokens)
			r.log.Info("SIGHUP: tokens reloaded", "file", file, "tokens", len(tokens))
			endSessionsOfOtherTokens(r.ctx, r.store, tokens, r.clk, r.log)
		}
	}
	reload(r.fleet, r.client, r.cfg, r.clk, r.log)
}

// endSessionsOfOtherTokens ends the console sessions opened with a static
// token that is no longer accepted, or no longer with that role (at start,
// and when the tokens file is read again).
func endSessionsOfOtherTokens(ctx context.Context, store *catalog.Store, tokens []config.StaticToken, clk clock.Clock, log *slog.Logger) {
	listed := make([]catalog.ListedToken, len(tokens))
	for i, t := range tokens {
		listed[i] = catalog.ListedToken{SHA256: t.SHA256, Role: t.Role}
	}
	n, err := store.EndSessionsOfOtherTokens(ctx, listed, clk.Now())
	switch {
	case err != nil:
		log.Error("console sessions of removed tokens could not be ended", "error", err)
	case n > 0:
		log.Info("console sessions ended: their token was removed", "sessions", n)
	}
}

// reload is one SIGHUP: the targets file read again and the targets' own
// schedules replaced. Whatever the file says, it never takes the daemon
// down (a panic is caught and logged) and a file that is refused — it
// does not read, or River refuses its schedules — changes nothing.
func reload(fleet *targets.Fleet, client *jobs.Client, cfg config.Config, clk clock.Clock, log *slog.Logger) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("SIGHUP: the reload failed; the daemon goes on as it was", "panic", fmt.Sprint(p))
		}
	}()
	if fleet == nil {
		log.Info("SIGHUP: no targets to reload (no BACKUP_TARGETS_FILE)")
		return
	}
	before := fleet.Servers()
	after, err := fleet.Reload()
	if err != nil {
		log.Error("SIGHUP: the targets file was not reloaded; the servers stay as they were", "error", err)
		return
	}
	if err := jobs.Reschedule(client, cfg, before, after); err != nil {
		fleet.Set(before)
		log.Error("SIGHUP: the targets file was not reloaded; the servers stay as they were", "error", err)
		return
	}
	names := make([]string, len(after))
	for i, s := range after {
		names[i] = s.Target
	}
	log.Info("SIGHUP: targets reloaded", "targets", names)
}

// stopJobs lets a running backup finish within the grace period, then
// interrupts it (it records itself as failed and its job waits for a retry).
func stopJobs(work context.Context, client *jobs.Client, interrupt context.CancelCauseFunc, grace time.Duration, log *slog.Logger) {
	graceCtx, cancel := context.WithTimeout(work, grace)
	defer cancel()
	if err := client.Stop(graceCtx); err == nil {
		return
	}
	log.Warn("grace period over: cancelling the running backup")
	interrupt(jobs.ErrShutdown)
	hardCtx, cancelHard := context.WithTimeout(work, 30*time.Second)
	defer cancelHard()
	if err := client.StopAndCancel(hardCtx); err != nil {
		log.Error("the job engine did not stop", "error", err)
	}
}

// sweepScratch drops, at start, the scratch databases of restore tests
// whose process died (restoretest.Sweep); the restore-test server being
// unreachable is logged and waits for the next test.
func sweepScratch(ctx context.Context, store *catalog.Store, cfg config.Config, clk clock.Clock, log *slog.Logger) {
	sweepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	swept, err := restoretest.Sweep(sweepCtx, store, cfg.RestoreTest.Target, clk.Now(), log)
	if err != nil {
		log.Warn("scratch databases of earlier restore tests not swept at start", "error", err)
		return
	}
	if len(swept.Dropped)+len(swept.Abandoned) > 0 {
		log.Warn("cleaned up after restore tests whose process died", "dropped", swept.Dropped, "abandoned", swept.Abandoned)
	}
}
