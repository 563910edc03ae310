package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPITRSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(with(map[string]string{})))
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	p := c.PITR
	if p.Enabled || p.Slot != "rgz_backup" || p.ShipEvery != 30*time.Second || p.RetentionDays != 14 ||
		!p.BaseSchedule.Next(sunday.Add(-time.Hour)).Equal(sunday) || p.BaseScheduleText != "weekly" {
		t.Fatalf("defaults: %+v", p)
	}
	c, err = Load(env(with(map[string]string{"BACKUP_PITR_ENABLED": "true", "BACKUP_PITR_SLOT": "site_b",
		"BACKUP_PITR_SHIP_SECONDS": "5", "BACKUP_PITR_BASE_SCHEDULE": "Daily", "BACKUP_PITR_RETENTION_DAYS": "35"})))
	if err != nil {
		t.Fatal(err)
	}
	p = c.PITR
	if !p.Enabled || p.Slot != "site_b" || p.ShipEvery != 5*time.Second || p.RetentionDays != 35 ||
		!p.BaseSchedule.Next(sunday).Equal(sunday.Add(24*time.Hour)) {
		t.Fatalf("set: %+v", p)
	}
}

func TestPITRSettingsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, says string }{
		{"BACKUP_PITR_SLOT", "Rgz-Backup", "replication slot"},
		{"BACKUP_PITR_SLOT", strings.Repeat("a", 64), "replication slot"},
		{"BACKUP_PITR_SHIP_SECONDS", "0", "from 1 to 3600"},
		{"BACKUP_PITR_SHIP_SECONDS", "soon", "from 1 to 3600"},
		{"BACKUP_PITR_BASE_SCHEDULE", "fortnightly", "daily, weekly, monthly"},
		{"BACKUP_PITR_RETENTION_DAYS", "0", "from 1 to 3650"},
		{"BACKUP_PITR_ENABLED", "maybe", "true or false"},
	} {
		_, err := Load(env(with(map[string]string{tc.name: tc.value})))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != tc.name || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s=%q: %v, want an error naming it that says %q", tc.name, tc.value, err, tc.says)
		}
	}
}
