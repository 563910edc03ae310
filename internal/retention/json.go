package retention

import "encoding/json"

// The reports are read by scripts (`retention --json`, the API): an empty
// list is [], never null, so that `.deleted | length` works whatever
// happened.

// MarshalJSON writes the plan with its empty lists as [].
func (p Plan) MarshalJSON() ([]byte, error) {
	type plain Plan
	p.Decisions = listed(p.Decisions)
	return json.Marshal(plain(p))
}

// MarshalJSON writes the report with its empty lists as [].
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	r.Promoted, r.Deleted, r.Problems, r.Unknown, r.S3Deleted = listed(r.Promoted), listed(r.Deleted), listed(r.Problems), listed(r.Unknown), listed(r.S3Deleted)
	return json.Marshal(plain(r))
}

// MarshalJSON writes the destination's plan with its empty lists as [].
func (d DestinationPlan) MarshalJSON() ([]byte, error) {
	type plain DestinationPlan
	d.Deleted = listed(d.Deleted)
	return json.Marshal(plain(d))
}

func listed[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
