package awsgate_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// budgetEnv names a directory where TestLaunchBudget writes its figures,
// one JSON file per case, for BenchmarkLaunchCriticalPath.
const budgetEnv = "AWSGATE_BUDGET_OUT"

// budgetFigures are one case's figures, in fake seconds.
type budgetFigures struct {
	Took       float64 `json:"took"`
	Critical   float64 `json:"critical"`
	Sequential float64 `json:"sequential"`
}

// criticalPath is the longest chain of Launch's latencies: the cluster and
// each task definition are independent of the instance, which runs, boots
// and registers in turn.
func criticalPath(l awssim.Latencies) time.Duration {
	api := l.API
	return max(api["CreateCluster"], api["RegisterTaskDefinition"], api["RunInstances"]+l.InstanceBoot+l.AgentRegister)
}

// sequentialPath is what Launch would take doing one step after another.
func sequentialPath(l awssim.Latencies, probes int) time.Duration {
	api := l.API
	return api["CreateCluster"] + time.Duration(probes)*api["RegisterTaskDefinition"] + api["RunInstances"] + l.InstanceBoot + l.AgentRegister
}

// TestLaunchBudget: on scripted latencies, Launch takes (in fake time) at
// most 5% more than the critical path of those latencies. The brief's
// script is one where doing the steps in turn would break the budget.
func TestLaunchBudget(t *testing.T) {
	slowControl := briefLatencies()
	slowControl.API["CreateCluster"] = 8 * time.Second
	slowControl.API["RegisterTaskDefinition"] = 6 * time.Second
	unaligned := briefLatencies()
	unaligned.API["RunInstances"] = 1300 * time.Millisecond
	unaligned.InstanceBoot = 43700 * time.Millisecond
	unaligned.AgentRegister = 17900 * time.Millisecond

	tests := []struct {
		name string
		lat  awssim.Latencies
		poll time.Duration
	}{
		{name: "brief", lat: briefLatencies(), poll: awsgate.DefaultPollInterval},
		{name: "slow control plane", lat: slowControl, poll: awsgate.DefaultPollInterval},
		{name: "unaligned", lat: unaligned, poll: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, awssim.Options{Latencies: tt.lat}, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.PollInterval = tt.poll })
				start := time.Now()
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				took, critical, seq := time.Since(start), criticalPath(tt.lat), sequentialPath(tt.lat, len(probes))
				ratio := took.Seconds() / critical.Seconds()
				t.Logf("Launch took %s (fake), critical path %s, ratio %.3f; in turn it would take %s (%.3f)", took, critical, ratio, seq, seq.Seconds()/critical.Seconds())
				if took < critical || ratio > 1.05 {
					t.Errorf("Launch took %s, want within 5%% of the critical path %s", took, critical)
				}
				if tt.name == "brief" && seq.Seconds()/critical.Seconds() <= 1.05 {
					t.Errorf("the brief's script does not tell a concurrent Launch from a sequential one")
				}
				if dir := os.Getenv(budgetEnv); dir != "" {
					f, _ := json.Marshal(budgetFigures{Took: took.Seconds(), Critical: critical.Seconds(), Sequential: seq.Seconds()})
					if err := os.WriteFile(filepath.Join(dir, runID(t)+".json"), f, 0o644); err != nil {
						t.Error(err)
					}
				}
				if err := b.Cleanup(t.Context()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// BenchmarkLaunchCriticalPath reports Launch's time on the brief's
// latencies (fake seconds), the critical path of those latencies, and
// their ratio. Fake time needs a synctest bubble, which only a test can
// have (synctest.Test takes a *testing.T), so the benchmark runs
// TestLaunchBudget/brief in a child process and reads its figures; ns/op
// is that child's wall time.
func BenchmarkLaunchCriticalPath(b *testing.B) {
	var f budgetFigures
	for b.Loop() {
		dir := b.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestLaunchBudget$/^brief$", "-test.count=1")
		cmd.Env = append(os.Environ(), budgetEnv+"="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "testlaunchbudget-brief.json"))
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(f.Took, "fake-s/launch")
	b.ReportMetric(f.Critical, "critical-s")
	b.ReportMetric(f.Sequential/f.Critical, "sequential-ratio")
	budget.Max(b, "aws launch / critical path of AWS latencies", f.Took/f.Critical, 1.05, "ratio")
}
