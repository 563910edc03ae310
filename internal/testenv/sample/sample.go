// Package sample creates a MOSAÏQUE-like database (resellers, subscribers,
// RADIUS sessions, invoices, incidents) at a chosen scale, for the demo, the
// tests and the benchmarks.
package sample

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
)

//go:embed schema.sql
var schema string

// Sizes is how many rows each table gets at a given scale.
type Sizes struct {
	Resellers, Subscribers, Sessions, Invoices, Incidents, Claims int
}

// SizesAt returns the row counts for scale (1 = a few thousand rows; about
// 600 = the 650 MB database of the benchmark).
func SizesAt(scale int) Sizes {
	return Sizes{
		Resellers:   max(5, 5*scale),
		Subscribers: 500 * scale,
		Sessions:    5000 * scale,
		Invoices:    1000 * scale,
		Incidents:   20 * scale,
		Claims:      10 * scale,
	}
}

// Load creates the schema in the (empty) database at url and fills it.
func Load(ctx context.Context, url string, scale int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, schema); err != nil {
		return fmt.Errorf("create sample schema: %w", err)
	}
	n := SizesAt(scale)
	steps := []struct{ what, sql string }{
		{"resellers", fmt.Sprintf(`INSERT INTO resellers(name, zone, phone)
			SELECT 'Revendeur ' || i, (ARRAY['Dakar','Thiès','Abidjan','Bamako','Lomé'])[1 + i %% 5], '+221 77 ' || lpad(i::text, 7, '0')
			FROM generate_series(1, %d) i`, n.Resellers)},
		{"subscribers", fmt.Sprintf(`INSERT INTO subscribers(reseller_id, msisdn, full_name, plan, active)
			SELECT 1 + i %% %d, '22177' || lpad(i::text, 7, '0'), 'Abonné n°' || i,
			       (ARRAY['day','week','month'])[1 + i %% 3], i %% 7 <> 0
			FROM generate_series(1, %d) i`, n.Resellers, n.Subscribers)},
		{"radius_sessions", fmt.Sprintf(`INSERT INTO radius_sessions(subscriber_id, nas_ip, started_at, stopped_at, bytes_in, bytes_out, attributes)
			SELECT 1 + i %% %[1]d, ('10.' || (i %% 200) || '.' || (i / 200 %% 250) || '.1')::inet,
			       timestamptz '2026-01-01' + i * interval '7 seconds',
			       timestamptz '2026-01-01' + i * interval '7 seconds' + (i %% 3600) * interval '1 second',
			       (i * 7919) %% 50000000, (i * 104729) %% 9000000,
			       jsonb_build_object('nas_port', i %% 48, 'calling_station', md5(i::text), 'terminate_cause',
			                          (ARRAY['User-Request','Idle-Timeout','Session-Timeout','Lost-Carrier'])[1 + i %% 4])
			FROM generate_series(1::bigint, %[2]d) i`, n.Subscribers, n.Sessions)},
		{"invoices", fmt.Sprintf(`INSERT INTO billing.invoices(reseller_id, amount_xof, issued_on, paid, lines)
			SELECT 1 + i %% %d, round(((i * 7877) %% 2000000) / 100.0, 2), date '2025-01-01' + (i %% 600)::int, i %% 4 <> 0,
			       jsonb_build_array(jsonb_build_object('item', 'Forfait ' || (ARRAY['jour','semaine','mois'])[1 + i %% 3], 'qty', 1 + i %% 20))
			FROM generate_series(1::bigint, %d) i`, n.Resellers, n.Invoices)},
		{"incidents", fmt.Sprintf(`INSERT INTO incidents(reseller_id, severity, summary)
			SELECT 1 + i %% %d, 1 + i %% 4, 'Coupure point d''accès ' || i FROM generate_series(1, %d) i`, n.Resellers, n.Incidents)},
		{"claims", fmt.Sprintf(`INSERT INTO "Réclamations clients"(subscriber_id, "Motif", reçue_le)
			SELECT 1 + i %% %d, 'Débit insuffisant — ticket ' || i, date '2026-01-01' + (i %% 300) FROM generate_series(1, %d) i`, n.Subscribers, n.Claims)},
		{"sequence", `SELECT setval('billing.invoice_number_seq', 987654, true)`},
		{"materialized view", `REFRESH MATERIALIZED VIEW billing.monthly_revenue`},
		{"large object", `SELECT lo_from_bytea(0, convert_to('Contrat revendeur scanné — MOSAÏQUE', 'UTF8'))`},
		{"analyze", `ANALYZE`},
	}
	for _, s := range steps {
		if _, err := conn.Exec(ctx, s.sql); err != nil {
			return fmt.Errorf("load sample %s: %w", s.what, err)
		}
	}
	return nil
}
