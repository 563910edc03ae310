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
	ID        int64 // what `sessions list` shows and `sessions revoke` takes
	Subject   string
	Role      string
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Token is the SHA-256 of the static token that opened it; zero for a
	// JWT or a single sign-on.
	Token  [32]byte
	Client string // the address it was opened from
}

// tokenDigest is the column's value: NULL without a static token.
func tokenDigest(t [32]byte) []byte {
	if t == [32]byte{} {
		return nil
	}
	return t[:]
}

// ErrNoSession means the cookie names no live session: unknown, ended
// or expired.
var ErrNoSession = errors.New("no live session")

// StartSession records a session for the cookie secret (only its SHA-256
// is kept).
func (s *Store) StartSession(ctx context.Context, secret string, sess Session, now time.Time) error {
	sum := sha256.Sum256([]byte(secret))
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (token_sha256, subject, role, csrf, created_at, expires_at, token_digest, client)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))`,
		sum[:], sess.Subject, sess.Role, sess.CSRF, now.UTC(), sess.ExpiresAt.UTC(), tokenDigest(sess.Token), sess.Client)
	if err != nil {
		return fmt.Errorf("record the console session: %w", err)
	}
	return nil
}

// SessionOf returns the live session of the cookie secret at now.
func (s *Store) SessionOf(ctx context.Context, secret string, now time.Time) (Session, error) {
	sum := sha256.Sum256([]byte(secret))
	var sess Session
	err := s.pool.QueryRow(ctx, `SELECT id, subject, role, csrf, expires_at FROM console_sessions
		WHERE token_sha256 = $1 AND ended_at IS NULL AND expires_at > $2`, sum[:], now.UTC()).Scan(&sess.ID, &sess.Subject, &sess.Role, &sess.CSRF, &sess.ExpiresAt)
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

// LiveSessions are the sessions not ended nor expired at now, newest
// first.
func (s *Store) LiveSessions(ctx context.Context, now time.Time) ([]Session, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, subject, role, created_at, expires_at, coalesce(token_digest, ''), coalesce(client, '')
		FROM console_sessions WHERE ended_at IS NULL AND expires_at > $1 ORDER BY created_at DESC, id DESC`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("read the console sessions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
		var sess Session
		var digest []byte
		err := r.Scan(&sess.ID, &sess.Subject, &sess.Role, &sess.CreatedAt, &sess.ExpiresAt, &digest, &sess.Client)
		copy(sess.Token[:], digest)
		sess.CreatedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.ExpiresAt.UTC()
		return sess, err
	})
}

// Revoke is which live sessions RevokeSessions ends: one by its id, every
// one of a subject, or all.
type Revoke struct {
	ID      int64
	Subject string
	All     bool
}

// RevokeSessions ends the live sessions which says, and says how many.
func (s *Store) RevokeSessions(ctx context.Context, which Revoke, now time.Time) (int64, error) {
	where, arg := "", any(nil)
	switch {
	case which.All:
		where, arg = "$2::bool", true
	case which.ID != 0:
		where, arg = "id = $2", which.ID
	case which.Subject != "":
		where, arg = "subject = $2", which.Subject
	default:
		return 0, errors.New("revoke which sessions? an id, a subject or all")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE console_sessions SET ended_at = $1 WHERE ended_at IS NULL AND expires_at > $1 AND `+where, now.UTC(), arg)
	if err != nil {
		return 0, fmt.Errorf("revoke console sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ListedToken is a static token as the list holds it now: a session it
// opened lives on only while its digest is listed with the same role.
type ListedToken struct {
	SHA256 [32]byte
	Role   string
}

// EndSessionsOfOtherTokens ends the live sessions opened with a static
// token that is no longer among tokens — it left BACKUP_API_TOKENS, or is
// listed with another role (a demoted token's admin sessions end) — and
// says how many.
func (s *Store) EndSessionsOfOtherTokens(ctx context.Context, tokens []ListedToken, now time.Time) (int64, error) {
	digests, roles := make([][]byte, len(tokens)), make([]string, len(tokens))
	for i := range tokens {
		digests[i], roles[i] = tokens[i].SHA256[:], tokens[i].Role
	}
	tag, err := s.pool.Exec(ctx, `UPDATE console_sessions SET ended_at = $1
		WHERE ended_at IS NULL AND expires_at > $1 AND token_digest IS NOT NULL
		AND (token_digest, role) NOT IN (SELECT d, r FROM unnest($2::bytea[], $3::text[]) AS listed(d, r))`, now.UTC(), digests, roles)
	if err != nil {
		return 0, fmt.Errorf("end the sessions of removed tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}
