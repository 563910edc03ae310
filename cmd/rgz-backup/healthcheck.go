package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func healthcheckCmd() *cobra.Command {
	var ready bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Ask the daemon on BACKUP_HTTP_ADDR whether it is alive (--ready: able to do its job); exit 0 or 1",
		Long: `Ask the daemon that serve runs on this host, at BACKUP_HTTP_ADDR, for
/healthz (the process answers) or, with --ready, /readyz (catalog
reachable, schema current, client programs usable, workers running).
Exit 0 when it answers 200, 1 otherwise, with one line saying why.

It is the container image's health check, which needs no shell nor curl:
in compose, test: ["CMD", "rgz-backup", "healthcheck", "--ready"]. With
BACKUP_HTTP_TLS_CERT_FILE set it speaks HTTPS to the loopback address
without checking the certificate's name (it sends no credential).`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			url := probeURL(cfg.HTTPAddr, cfg.HTTP.TLS(), ready)
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := probe(ctx, url); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), url, "ok")
			return err
		}),
	}
	cmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz (able to do its job) instead of /healthz (alive)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

// probeURL is where the daemon listening on addr (BACKUP_HTTP_ADDR) is
// asked: from the same host, so a wildcard or empty host is the loopback.
func probeURL(addr string, https, ready bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "8080"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme, path := "http", "/healthz"
	if https {
		scheme = "https"
	}
	if ready {
		path = "/readyz"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}

// probe GETs url and says why it is not a 200.
func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{
		// The daemon's own certificate names its public host, not the
		// loopback; nothing secret is sent.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec
		Proxy:           nil,
	}}
	resp, err := client.Do(req)
	var urlErr *neturl.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // it would name the URL twice
	}
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.Join(strings.Fields(string(body)), " "))
	}
	return nil
}
