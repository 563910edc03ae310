package dbconn

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mosaique/rgz-backup/internal/config"
)

func TestExplainIsOneLine(t *testing.T) {
	t.Parallel()
	d := config.Database{URL: "postgres://rgz@db.example.net:5433/rgz"}
	wrongPassword := &pgconn.PgError{Code: "28P01", Message: `password authentication failed for user "rgz"`}
	multi := errors.Join(errors.New("tls error: server refused TLS connection"), wrongPassword)
	err := Explain(d, multi)
	if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "authentication failed for user rgz on db.example.net:5433") {
		t.Fatalf("%q", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatal("the driver's error is no longer reachable")
	}
	if got := Explain(d, errors.New("a\nb\nlast reason")).Error(); got != "connect to db.example.net:5433 as rgz: last reason" {
		t.Fatalf("%q", got)
	}
}
