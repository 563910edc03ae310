package catalog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a console session (table console_sessions).
type Session struct {
	Subject   string
	Role      string
	CSRF      string
	ExpiresAt time.Time
}

// ErrNoSession means the cookie names no live session: unknown, ended
// or expired.
var ErrNoSession = errors.New("no live session")

// StartSession records a session for the cookie secret (only its SHA-256
// is kept).
func (s *Store) StartSession(ctx context.Context, secret string, sess Session, now time.Time) error {
	sum := sha256.Sum256([]byte(secret))
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (token_sha256, subject, role, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		sum[:], sess.Subject, sess.Role, sess.CSRF, now.UTC(), sess.ExpiresAt.UTC())
	if err != nil {
		return fmt.Errorf("record the console session: %w", err)
	}
	return nil
}

// SessionOf returns the live session of the cookie secret at now.
func (s *Store) SessionOf(ctx context.Context, secret string, now time.Time) (Session, error) {
	sum := sha256.Sum256([]byte(secret))
	var sess Session
	err := s.pool.QueryRow(ctx, `SELECT subject, role, csrf, expires_at FROM console_sessions
		WHERE token_sha256 = $1 AND ended_at IS NULL AND expires_at > $2`, sum[:], now.UTC()).Scan(&sess.Subject, &sess.Role, &sess.CSRF, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, ErrNoSession
	}
	if err != nil {
		return sess, fmt.Errorf("read the console session: %w", err)
	}
	return sess, nil
}

// EndSession ends the session of the cookie secret (logout), and forgets
// the sessions that expired a day ago or more.
func (s *Store) EndSession(ctx context.Context, secret string, now time.Time) error {
	sum := sha256.Sum256([]byte(secret))
	if _, err := s.pool.Exec(ctx, `UPDATE console_sessions SET ended_at = $2 WHERE token_sha256 = $1 AND ended_at IS NULL`, sum[:], now.UTC()); err != nil {
		return fmt.Errorf("end the console session: %w", err)
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < $1`, now.UTC().Add(-24*time.Hour))
	return err
}
