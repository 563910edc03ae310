package dbconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mosaique/rgz-backup/internal/config"
)

// Explain turns a failed connection to d into one line an operator
// acts on: "authentication failed for user X on host:port", "database X
// does not exist on host:port", "cannot reach host:port: connection
// refused". The driver's own text lists every fallback it tried (TLS, then
// plain) across several lines, and its first line ("tls error: server
// refused TLS connection") points at the wrong cause. No password is ever
// part of it: the URL holds none.
func Explain(d config.Database, err error) error {
	if err == nil {
		return nil
	}
	user, where := describe(d)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return oneLine(err, "authentication failed for user %s on %s (check the password and pg_hba.conf): %s", user, where, pgErr.Message)
		case "3D000": // invalid_catalog_name
			return oneLine(err, "on %s: %s", where, pgErr.Message)
		}
		return oneLine(err, "connect to %s as %s: %s (SQLSTATE %s)", where, user, pgErr.Message, pgErr.Code)
	}
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return oneLine(err, "cannot reach %s: %v", where, netErr.Err)
	}
	// Anything else: its last line, which is the last attempt's reason.
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	return oneLine(err, "connect to %s as %s: %s", where, user, strings.TrimSpace(lines[len(lines)-1]))
}

// connectError prints one line and still unwraps to the driver's error,
// so that errors.Is/As (a timeout, a PgError) keep working.
type connectError struct {
	msg string
	err error
}

func (e *connectError) Error() string { return e.msg }
func (e *connectError) Unwrap() error { return e.err }

func oneLine(err error, format string, args ...any) error {
	return &connectError{msg: fmt.Sprintf(format, args...), err: err}
}

// describe returns the user and the host:port (or socket) of d's URL.
func describe(d config.Database) (user, where string) {
	u, err := url.Parse(d.URL)
	if err != nil {
		return "?", "?"
	}
	user, where = u.User.Username(), d.Server()
	if user == "" {
		user = "(the OS user)"
	}
	return user, where
}
