package hostscript

import (
	"encoding/json"
	"fmt"
)

// ReportSchema is the schema the script's JSON report declares.
const ReportSchema = "cisecs.report/v1"

// Report is the script's JSON report (ReportSchema): what it found, what
// each step changed and found in place, and every deviation from CIS.
type Report struct {
	Schema      string `json:"schema"`
	GeneratedAt string `json:"generated_at"`
	// Result is "ok", or "failed" with Error saying why.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	OS     struct {
		ID        string `json:"id"`
		VersionID string `json:"version_id"`
		Family    string `json:"family"`
	} `json:"os"`
	// ECSAgent is the agent the host carries, as its package says (empty
	// where none is installed).
	ECSAgent struct {
		Version string `json:"version"`
	} `json:"ecs_agent"`
	Firewall struct {
		Kind          string   `json:"kind"`
		IPTables      string   `json:"iptables"`
		InputChains   []string `json:"input_chains"`
		ForwardChains []string `json:"forward_chains"`
		Found         []string `json:"found"`
	} `json:"firewall"`
	NetworkModes []string `json:"network_modes"`
	// Layers is what the layers step found and did on each CIS layer
	// (selinux, storage, audit, modules, apparmor, sudo, time): its
	// status, and what it read.
	Layers     map[string]map[string]string `json:"layers"`
	Steps      []Step                       `json:"steps"`
	Deviations []Deviation                  `json:"deviations"`
	Findings   []Finding                    `json:"findings"`
}

// Step is what one step changed, and what it found already in place.
type Step struct {
	Name    string   `json:"name"`
	Changed []string `json:"changed"`
	InPlace []string `json:"in_place"`
}

// Deviation is a change cisecs made that departs from a CIS
// recommendation, with the reason an auditor reads.
type Deviation struct {
	ID             string `json:"id"`
	Recommendation string `json:"cis_recommendation"`
	Change         string `json:"change"`
	Reason         string `json:"reason"`
}

// Finding is something on the host, not made by cisecs, that widens
// what tasks reach, with the narrowing the user may choose.
type Finding struct {
	ID        string `json:"id"`
	Finding   string `json:"finding"`
	Narrowing string `json:"narrowing"`
}

// ParseReport reads a report. Anything that is not JSON of ReportSchema is
// an error; fields a newer script adds are ignored.
func ParseReport(b []byte) (Report, error) {
	var r Report
	if len(b) == 0 {
		return Report{}, fmt.Errorf("not a cisecs report: empty")
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Report{}, fmt.Errorf("not a cisecs report (JSON of schema %s): %w", ReportSchema, err)
	}
	if r.Schema != ReportSchema {
		return Report{}, fmt.Errorf("not a cisecs report: schema %q, want %s", r.Schema, ReportSchema)
	}
	return r, nil
}

// StepNames are the names of the steps the report lists, in run order.
func (r Report) StepNames() []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Name)
	}
	return out
}
