package catalog

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Console sessions: listed while live, revoked by id, by subject or all,
// and ended when the static token that opened them leaves the list (a
// JWT's sessions are not).
func TestSessions(t *testing.T) {
	t.Parallel()
	s, _ := migratedStore(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	kept, dropped := [32]byte{1}, [32]byte{2}
	open := func(secret, subject string, token [32]byte, expires time.Duration) {
		t.Helper()
		err := s.StartSession(ctx, secret, Session{Subject: subject, Role: "noc", CSRF: "c", ExpiresAt: now.Add(expires), Token: token, Client: "192.0.2.1"}, now)
		if err != nil {
			t.Fatal(err)
		}
	}
	open("a", "token:kept", kept, time.Hour)
	open("b", "token:dropped", dropped, time.Hour)
	open("c", "jwt:alice", [32]byte{}, time.Hour)
	open("d", "jwt:alice", [32]byte{}, time.Hour)
	open("e", "jwt:bob", [32]byte{}, time.Hour)
	open("old", "jwt:bob", [32]byte{}, -time.Minute)
	live, err := s.LiveSessions(ctx, now)
	if err != nil || len(live) != 5 || live[0].Subject != "jwt:bob" || live[0].Client != "192.0.2.1" {
		t.Fatalf("live: %+v %v", live, err)
	}
	// A token listed with another role is another token: its sessions end.
	open("f", "token:demoted", [32]byte{3}, time.Hour)
	if n, err := s.EndSessionsOfOtherTokens(ctx, []ListedToken{{kept, "noc"}, {[32]byte{3}, "admin"}}, now); err != nil || n != 2 {
		t.Fatalf("sessions of the removed and the demoted token: %d %v", n, err)
	}
	if _, err := s.SessionOf(ctx, "f", now); !errors.Is(err, ErrNoSession) {
		t.Fatalf("the demoted token's session lives: %v", err)
	}
	if _, err := s.SessionOf(ctx, "b", now); !errors.Is(err, ErrNoSession) {
		t.Fatalf("the removed token's session lives: %v", err)
	}
	if _, err := s.SessionOf(ctx, "a", now); err != nil {
		t.Fatalf("the kept token's session ended: %v", err)
	}
	if n, err := s.RevokeSessions(ctx, Revoke{Subject: "jwt:alice"}, now); err != nil || n != 2 {
		t.Fatalf("revoke a subject: %d %v", n, err)
	}
	bob, err := s.SessionOf(ctx, "e", now)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.RevokeSessions(ctx, Revoke{ID: bob.ID}, now); err != nil || n != 1 {
		t.Fatalf("revoke by id: %d %v", n, err)
	}
	if n, err := s.RevokeSessions(ctx, Revoke{ID: bob.ID}, now); err != nil || n != 0 {
		t.Fatalf("revoke an ended session again: %d %v", n, err)
	}
	if _, err := s.RevokeSessions(ctx, Revoke{}, now); err == nil {
		t.Fatal("revoke nothing named: accepted")
	}
	if n, err := s.RevokeSessions(ctx, Revoke{All: true}, now); err != nil || n != 1 {
		t.Fatalf("revoke all: %d %v", n, err)
	}
	if live, err := s.LiveSessions(ctx, now); err != nil || len(live) != 0 {
		t.Fatalf("after revoking all: %+v %v", live, err)
	}
}
