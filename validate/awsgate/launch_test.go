package awsgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestInstanceTypeFromArchitecture: with no instance type given, the gate
// launches the AMI on the default type of its architecture, read with
// DescribeImages; EC2 (the front) refuses a type of another architecture,
// as it refused the t3.small the gate used to launch every arm64 image on.
func TestInstanceTypeFromArchitecture(t *testing.T) {
	const (
		x86AMI  = "ami-0aaaaaaaaaaaaaaa1"
		armAMI  = "ami-0aaaaaaaaaaaaaaa2"
		i386AMI = "ami-0aaaaaaaaaaaaaaa3"
		goneAMI = "ami-0aaaaaaaaaaaaaaa4"
	)
	catalogue := []awssim.Image{
		{ID: x86AMI, Name: "cisecs-al2023-cis-level1", Architecture: "x86_64"},
		{ID: armAMI, Name: "cisecs-al2023-cis-level1-arm64", Architecture: "arm64"},
		{ID: i386AMI, Name: "old", Architecture: "i386"},
	}
	tests := []struct {
		name, ami, instanceType string
		// launched is the type RunInstances asked for; empty: Launch
		// fails, with wantErr.
		launched, wantErr string
		// runInstances is how many RunInstances calls are made.
		runInstances int
	}{
		{name: "x86_64", ami: x86AMI, launched: "t3.small", runInstances: 1},
		{name: "arm64", ami: armAMI, launched: "t4g.small", runInstances: 1},
		{name: "arm64 type given", ami: armAMI, instanceType: "m7g.medium", launched: "m7g.medium", runInstances: 1},
		{name: "arm64 on an x86_64 type", ami: armAMI, instanceType: "t3.small", runInstances: 1,
			wantErr: "InvalidParameterValue: The architecture 'x86_64' of the specified instance type does not match the architecture 'arm64' of the specified AMI"},
		{name: "no default for i386", ami: i386AMI, wantErr: `architecture "i386": no default instance type for it; give one`},
		{name: "AMI gone", ami: goneAMI, wantErr: "InvalidAMIID.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, awssim.Options{Latencies: briefLatencies(), Images: catalogue}, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.Gate.ImageID, o.InstanceType = tc.ami, tc.instanceType })
				err := b.Launch(t.Context(), probes)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("Launch: %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("Launch: %v, want an error with %q", err, tc.wantErr)
				}
				ri := e.front.Requests("RunInstances")
				if len(ri) != tc.runInstances {
					t.Fatalf("%d RunInstances, want %d", len(ri), tc.runInstances)
				}
				if tc.launched != "" {
					if got := ri[0].Form.Get("InstanceType"); got != tc.launched {
						t.Errorf("RunInstances InstanceType %q, want %q", got, tc.launched)
					}
				}
				if tc.instanceType != "" && e.front.Calls("DescribeImages") > 0 {
					t.Errorf("DescribeImages called although the instance type was given")
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

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

// TestLaunchInstanceNotYetShown: while EC2 does not yet show the new
// instance (InvalidInstanceID.NotFound), Launch waits for it to run as
// for any other state, and takes no longer for it.
func TestLaunchInstanceNotYetShown(t *testing.T) {
	lat := briefLatencies()
	lat.InstanceVisible = 20 * time.Second
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		start := time.Now()
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		if took := time.Since(start); took != 61*time.Second {
			t.Errorf("Launch took %s, want 61s", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestLaunchFailures breaks Launch in each way it can break, and checks
// the error, how long Launch took to give up, and that Cleanup (with a
// fresh context) still removes everything.
func TestLaunchFailures(t *testing.T) {
	never := briefLatencies()
	never.AgentRegister = awssim.Never

	tests := []struct {
		name string
		lat  awssim.Latencies
		// fault and handled get the run's cancel func.
		fault   func(cancel context.CancelFunc) func(string, int) *awssim.APIError
		handled func(cancel context.CancelFunc) func(string, int)
		drop    func(string, int) bool
		// cancelAfter cancels Launch's context after this long (fake).
		cancelAfter time.Duration
		// check checks Launch's error.
		check   func(t *testing.T, err error)
		maxTook time.Duration
		// unknownInstance: the backend must not have learnt the
		// instance's id (Cleanup finds it by its tag).
		unknownInstance bool
	}{{
		name: "instance never registers",
		lat:  never,
		check: func(t *testing.T, err error) {
			var te *awsgate.TimeoutError
			if !errors.As(err, &te) || !strings.Contains(te.Wait, "registered in cluster") || te.After != 5*time.Minute || te.Last != "not registered" {
				t.Errorf("Launch error %v: want a TimeoutError waiting 5m for the registration, last seen not registered", err)
			}
		},
		maxTook: 41*time.Second + 5*time.Minute + 5*time.Second,
	}, {
		name: "register task definition fails",
		lat:  briefLatencies(),
		fault: func(context.CancelFunc) func(string, int) *awssim.APIError {
			return failOnce("RegisterTaskDefinition", "AccessDeniedException")
		},
		check: func(t *testing.T, err error) {
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || !strings.Contains(err.Error(), "register task definition \"cisecs-gate-") {
				t.Errorf("Launch error %v: want the AccessDeniedException of register task definition", err)
			}
		},
		maxTook: 2 * time.Second, // it does not wait for the instance it started
	}, {
		name: "run instances fails",
		lat:  briefLatencies(),
		fault: func(context.CancelFunc) func(string, int) *awssim.APIError {
			return failOnce("RunInstances", "InsufficientInstanceCapacity")
		},
		check: func(t *testing.T, err error) {
			if !strings.Contains(err.Error(), "run t3.small instance from image \""+testAMI+"\"") || !strings.Contains(err.Error(), "InsufficientInstanceCapacity") {
				t.Errorf("Launch error %v: want the RunInstances failure, naming the image", err)
			}
		},
		maxTook: 2 * time.Second,
	}, {
		name:        "ctrl-c while the instance boots",
		lat:         briefLatencies(),
		cancelAfter: 30 * time.Second,
		check: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "running") {
				t.Errorf("Launch error %v: want context.Canceled, while waiting for the instance to run", err)
			}
		},
		maxTook: 30 * time.Second,
	}, {
		name: "ctrl-c as RunInstances answers, answer lost",
		lat:  briefLatencies(),
		handled: func(cancel context.CancelFunc) func(string, int) {
			return func(op string, _ int) {
				if op == "RunInstances" {
					cancel() // the instance exists; its id never reaches the backend
				}
			}
		},
		drop: func(op string, _ int) bool { return op == "RunInstances" },
		check: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Launch error %v: want context.Canceled", err)
			}
		},
		unknownInstance: true,
		maxTook:         2 * time.Second,
	}, {
		// EC2 lists the instance under its tag only 20 s after it
		// started: Cleanup looks again until it does.
		name: "ctrl-c as RunInstances answers, answer lost, instance not yet shown",
		lat: func() awssim.Latencies {
			l := briefLatencies()
			l.InstanceVisible = 20 * time.Second
			return l
		}(),
		handled: func(cancel context.CancelFunc) func(string, int) {
			return func(op string, _ int) {
				if op == "RunInstances" {
					cancel()
				}
			}
		},
		drop: func(op string, _ int) bool { return op == "RunInstances" },
		check: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Launch error %v: want context.Canceled", err)
			}
		},
		unknownInstance: true,
		maxTook:         2 * time.Second,
	}, {
		name: "ctrl-c as CreateCluster answers",
		lat:  briefLatencies(),
		handled: func(cancel context.CancelFunc) func(string, int) {
			return func(op string, _ int) {
				if op == "CreateCluster" {
					cancel()
				}
			}
		},
		check: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Launch error %v: want context.Canceled", err)
			}
		},
		maxTook: 3 * time.Second,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The context must be made inside the bubble; the hooks
			// reach its cancel func through this variable.
			var cancel context.CancelFunc
			cancelRun := func() { cancel() }
			o := awssim.Options{Latencies: tt.lat, Probe: holdingProbe}
			if tt.fault != nil {
				o.Fault = tt.fault(cancelRun)
			}
			if tt.handled != nil {
				o.Handled = tt.handled(cancelRun)
			}
			o.Drop = tt.drop
			inBubble(t, o, func(t *testing.T, e *env) {
				var ctx context.Context
				ctx, cancel = context.WithCancel(context.Background())
				defer cancel()
				b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Agent = 5 * time.Minute })
				if tt.cancelAfter > 0 {
					go func() {
						time.Sleep(tt.cancelAfter)
						cancel()
					}()
				}
				start := time.Now()
				err := b.Launch(ctx, probes)
				took := time.Since(start)
				if err == nil {
					t.Fatal("Launch succeeded")
				}
				t.Logf("Launch failed after %s (fake), knowing instance %q: %v", took, b.Instance(), err)
				tt.check(t, err)
				if took > tt.maxTook {
					t.Errorf("Launch took %s to fail, want at most %s", took, tt.maxTook)
				}
				if tt.unknownInstance && b.Instance() != "" {
					t.Errorf("the backend knows instance %q, whose answer was lost", b.Instance())
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestRunInstancesAnswerLost: RunInstances does its work but its answer is
// lost; the SDK retries with the same client token, and EC2 (the front)
// answers with the same instance: Launch goes on with exactly one.
func TestRunInstancesAnswerLost(t *testing.T) {
	o := awssim.Options{
		Latencies: briefLatencies(),
		Drop:      func(op string, n int) bool { return op == "RunInstances" && n == 1 },
	}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		ri := e.front.Requests("RunInstances")
		if len(ri) != 2 || ri[0].Form.Get("ClientToken") == "" || ri[0].Form.Get("ClientToken") != ri[1].Form.Get("ClientToken") {
			t.Errorf("RunInstances requests %d, want 2 with one client token", len(ri))
		}
		left, err := e.front.Leftovers(t.Context(), runID(t))
		if err != nil {
			t.Fatal(err)
		}
		instances := 0
		for _, l := range left {
			if strings.HasPrefix(l, "instance ") {
				instances++
			}
		}
		if instances != 1 {
			t.Errorf("%d instances of the run, want 1: %q", instances, left)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestLaunchBadProbe: a probe of no known mode stops Launch before it
// calls AWS, naming the mode.
func TestLaunchBadProbe(t *testing.T) {
	b, err := awsgate.New(t.Context(), fakeOptions()) // its fakes fail every call
	if err != nil {
		t.Fatal(err)
	}
	err = b.Launch(t.Context(), []validate.Probe{{Mode: "nat"}})
	if err == nil || !strings.Contains(err.Error(), `probe network mode "nat"`) || !strings.Contains(err.Error(), "nothing launched") || errors.Is(err, errUnexpected) {
		t.Errorf("Launch with a nat probe: %v, want it refused before any call, naming the mode", err)
	}
}

// launchLost launches b with fakes whose create calls (CreateCluster,
// RunInstances, RegisterTaskDefinition) have no func: each call is made
// and fails without an answer, so the run may have created anything and
// Cleanup must look for all of it.
func launchLost(t *testing.T, b *awsgate.Backend) {
	t.Helper()
	if err := b.Launch(t.Context(), probes); !errors.Is(err, errUnexpected) {
		t.Fatalf("Launch: %v, want the fakes' unexpected calls", err)
	}
}

// TestRunInstancesProfileJustMade: IAM is eventually consistent, and for
// some seconds after an instance profile is made RunInstances refuses it
// (InvalidParameterValue: Invalid IAM Instance Profile name). Launch asks
// again, with backoff, until EC2 takes it.
func TestRunInstancesProfileJustMade(t *testing.T) {
	lat := briefLatencies()
	lat.ProfileVisible = 10 * time.Second
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		e.front.CreateInstanceProfile("cisecs-gate-instance")
		b := e.backend(t, nil)
		start := time.Now()
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		ri := e.front.Requests("RunInstances")
		if len(ri) < 2 {
			t.Errorf("%d RunInstances, want the refused ones asked again", len(ri))
		}
		tokens := map[string]bool{}
		for _, r := range ri {
			tokens[r.Form.Get("ClientToken")] = true
		}
		if len(tokens) != len(ri) || tokens[""] {
			t.Errorf("RunInstances client tokens %v: want a new one for each call", tokens)
		}
		if took := time.Since(start); took > 61*time.Second+20*time.Second {
			t.Errorf("Launch took %s, want at most 20 s more than the 61 s of a launch", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestRunInstancesProfileNeverUsable: a profile EC2 never takes (a name
// that does not exist looks the same) fails Launch after
// awsgate.ProfileRetry, saying so.
func TestRunInstancesProfileNeverUsable(t *testing.T) {
	lat := briefLatencies()
	lat.ProfileVisible = awssim.Never
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		e.front.CreateInstanceProfile("cisecs-gate-instance")
		b := e.backend(t, nil)
		start := time.Now()
		err := b.Launch(t.Context(), probes)
		if err == nil || !strings.Contains(err.Error(), `instance profile "cisecs-gate-instance" still refused after`) || !strings.Contains(err.Error(), "Invalid IAM Instance Profile name") {
			t.Fatalf("Launch: %v, want the profile refused after about 2m", err)
		}
		if took := time.Since(start); took > 3*time.Minute {
			t.Errorf("Launch gave up after %s, want within about 2m", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}
