package hostscript_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/provisioner/hostscript"
)

// TestParseReport: a report of the schema is read whole; anything else is
// refused with what it is.
func TestParseReport(t *testing.T) {
	const good = `{"schema": "cisecs.report/v1", "result": "ok", "os": {"id": "amzn", "version_id": "2023", "family": "al2023"},
  "ecs_agent": {"version": "1.86.3-1"}, "firewall": {"kind": "nftables", "input_chains": ["inet filter input"]},
  "network_modes": ["awsvpc"], "steps": [{"name": "detect", "changed": [], "in_place": ["x"]}, {"name": "firewall", "changed": ["y"], "in_place": []}],
  "deviations": [{"id": "credentials-path", "cis_recommendation": "3.4.2", "change": "accept", "reason": "tasks"}],
  "findings": [{"id": "docker-zone", "finding": "f", "narrowing": "n"}], "added_later": true}`
	r, err := hostscript.ParseReport([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != "ok" || r.OS.Family != "al2023" || r.ECSAgent.Version != "1.86.3-1" || r.Firewall.Kind != "nftables" ||
		!slices.Equal(r.StepNames(), []string{"detect", "firewall"}) || r.Steps[1].Changed[0] != "y" ||
		r.Deviations[0].Recommendation != "3.4.2" || r.Findings[0].Narrowing != "n" {
		t.Errorf("report read as %+v", r)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "not a cisecs report: empty"},
		{"not JSON", "<html>", "not a cisecs report (JSON of schema cisecs.report/v1)"},
		{"another schema", `{"schema": "cisecs.report/v2"}`, `schema "cisecs.report/v2", want cisecs.report/v1`},
		{"no schema", `{"result": "ok"}`, `schema "", want cisecs.report/v1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := hostscript.ParseReport([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
