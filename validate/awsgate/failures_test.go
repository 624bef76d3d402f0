package awsgate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// failOnce makes the first call of op answer code.
func failOnce(op, code string) func(string, int) *awssim.APIError {
	return func(o string, n int) *awssim.APIError {
		if o == op && n == 1 {
			return &awssim.APIError{Code: code, Message: "scripted failure of " + op}
		}
		return nil
	}
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

// TestProbeOutcomes reads back how probes end: the container's exit code
// and ECS's reasons.
func TestProbeOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		run        awssim.Run
		wantExit   int
		wantReason []string
	}{{
		name:       "pass",
		run:        awssim.Run{ExitCode: awssim.Exit(0)},
		wantExit:   0,
		wantReason: []string{"Essential container in task exited"},
	}, {
		name:       "credentials for another role",
		run:        awssim.Run{ExitCode: awssim.Exit(11), Reason: "cisecs-probe: FAIL: credentials for role x"},
		wantExit:   11,
		wantReason: []string{"Essential container in task exited", "container: cisecs-probe: FAIL: credentials for role x"},
	}, {
		name:       "image pull fails",
		run:        awssim.Run{NeverStarts: true, For: 20 * time.Second, Reason: "CannotPullContainerError: pull access denied", StoppedReason: "Task failed to start"},
		wantExit:   -1,
		wantReason: []string{"Task failed to start", "container: CannotPullContainerError: pull access denied", "stop code TaskFailedToStart"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := awssim.Options{Latencies: briefLatencies(), Probe: func(awssim.TaskDefinition) awssim.Run { return tt.run }}
			inBubble(t, o, func(t *testing.T, e *env) {
				b := e.backend(t, nil)
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				got, err := b.RunProbe(t.Context(), probes[0])
				if err != nil {
					t.Fatalf("RunProbe: %v", err)
				}
				if got.ExitCode != tt.wantExit {
					t.Errorf("exit code %d, want %d", got.ExitCode, tt.wantExit)
				}
				for _, r := range tt.wantReason {
					if !strings.Contains(got.Reason, r) {
						t.Errorf("reason %q lacks %q", got.Reason, r)
					}
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestTaskFailures covers a held probe that stops instead of running, a
// probe that never stops, and Ctrl-C while a probe runs.
func TestTaskFailures(t *testing.T) {
	held := validate.Probe{Mode: validate.ModeBridge, RoleARN: testRole, Hold: true}
	tests := []struct {
		name string
		run  awssim.Run
		do   func(ctx context.Context, b *awsgate.Backend) error
		want func(t *testing.T, err error)
	}{{
		name: "held probe exits at once",
		run:  awssim.Run{ExitCode: awssim.Exit(10), For: time.Second},
		do: func(ctx context.Context, b *awsgate.Backend) error {
			_, err := b.StartTask(ctx, held)
			return err
		},
		want: func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "exit code 10") {
				t.Errorf("StartTask error %v: want one that says it stopped with exit code 10", err)
			}
		},
	}, {
		name: "probe never stops",
		run:  awssim.Run{Hold: true},
		do: func(ctx context.Context, b *awsgate.Backend) error {
			_, err := b.RunProbe(ctx, probes[1])
			return err
		},
		want: func(t *testing.T, err error) {
			if !awsgate.IsTimeout(err) || !strings.Contains(err.Error(), "RUNNING") {
				t.Errorf("RunProbe error %v: want a timeout, last seen RUNNING", err)
			}
		},
	}, {
		name: "ctrl-c while a probe runs",
		run:  awssim.Run{Hold: true},
		do: func(ctx context.Context, b *awsgate.Backend) error {
			ctx, cancel := context.WithCancel(ctx)
			go func() {
				time.Sleep(20 * time.Second)
				cancel()
			}()
			_, err := b.RunProbe(ctx, probes[0])
			return err
		},
		want: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("RunProbe error %v: want context.Canceled", err)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := awssim.Options{Latencies: briefLatencies(), Probe: func(awssim.TaskDefinition) awssim.Run { return tt.run }}
			inBubble(t, o, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Task = 3 * time.Minute })
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				err := tt.do(t.Context(), b)
				t.Logf("error: %v", err)
				tt.want(t, err)
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestCleanupRetry makes one cleanup step fail once: Cleanup reports it,
// goes on with the rest, and a second Cleanup (as the gate retries)
// finishes the job.
func TestCleanupRetry(t *testing.T) {
	tests := []struct {
		op, code, want string
	}{
		{"TerminateInstances", "UnauthorizedOperation", "terminate instances"},
		{"DeleteCluster", "AccessDeniedException", "delete cluster"},
		{"DeregisterTaskDefinition", "ClientException", "deregister task definition"},
		{"StopTask", "AccessDeniedException", "stop task"},
		{"ListContainerInstances", "AccessDeniedException", "list container instances"},
		{"DescribeInstances", "UnauthorizedOperation", "find instances"},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			held := validate.Probe{Mode: validate.ModeAWSVPC, RoleARN: testRole, Hold: true}
			var armed bool
			o := awssim.Options{
				Latencies: briefLatencies(),
				Probe:     holdingProbe,
				Fault: func(op string, _ int) *awssim.APIError {
					if armed && op == tt.op {
						armed = false
						return &awssim.APIError{Code: tt.code, Message: "scripted failure"}
					}
					return nil
				},
			}
			inBubble(t, o, func(t *testing.T, e *env) {
				b := e.backend(t, nil)
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				if _, err := b.StartTask(t.Context(), held); err != nil {
					t.Fatalf("StartTask: %v", err)
				}
				armed = true
				err := b.Cleanup(context.Background())
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.code) {
					t.Errorf("first Cleanup: %v, want an error of %s (%s)", err, tt.want, tt.code)
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("second Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestCleanupNothing: Cleanup before Launch, or twice, has nothing to do:
// the run asked AWS to create nothing, so Cleanup makes no call at all (a
// call that fails could only claim leftovers that do not exist).
func TestCleanupNothing(t *testing.T) {
	o := awssim.Options{Latencies: briefLatencies(), InvalidCredentials: true}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		for i := range 2 {
			if err := b.Cleanup(context.Background()); err != nil {
				t.Fatalf("Cleanup #%d: %v", i+1, err)
			}
		}
		if ops := e.front.Ops(); len(ops) > 0 {
			t.Errorf("Cleanup called %v, want nothing", ops)
		}
	})
}

// TestGateCreatesNothing: the gate, refusing its options, runs no check
// and makes no call; its cleanup is done and says nothing of leftovers,
// even with credentials AWS would refuse.
func TestGateCreatesNothing(t *testing.T) {
	o := awssim.Options{Latencies: briefLatencies(), InvalidCredentials: true}
	inBubble(t, o, func(t *testing.T, e *env) {
		var progress strings.Builder
		r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
			ImageID: "", RoleARN: testRole, RunID: runID(t), Progress: &progress,
		})
		t.Logf("progress:\n%s", progress.String())
		if r.Error == "" || r.ExitCode() != validate.ExitError || len(r.Checks) > 0 {
			t.Errorf("report: error %q, exit %d, checks %v; want bad options, exit 2, no check", r.Error, r.ExitCode(), r.Checks)
		}
		if r.Cleanup.Status != validate.CleanupDone {
			t.Errorf("cleanup %+v, want done", r.Cleanup)
		}
		if strings.Contains(progress.String(), "left behind") || strings.Contains(progress.String(), "FAILED") {
			t.Errorf("progress claims a failure or leftovers:\n%s", progress.String())
		}
		if ops := e.front.Ops(); len(ops) > 0 {
			t.Errorf("the gate called %v, want nothing", ops)
		}
	})
}

// TestRebootNeverHappens: a reboot that does not happen (the boot id
// never changes) fails closed, with a timeout.
func TestRebootNeverHappens(t *testing.T) {
	lat := briefLatencies()
	lat.RebootDown = awssim.Never
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Reboot = 4 * time.Minute })
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		start := time.Now()
		err := b.Reboot(t.Context())
		var te *awsgate.TimeoutError
		if !errors.As(err, &te) || !strings.Contains(te.Wait, "rebooted: a boot id other than") || te.After != 4*time.Minute {
			t.Errorf("Reboot: %v, want a 4m timeout waiting for a new boot id", err)
		}
		if took := time.Since(start); took < 4*time.Minute || took > 4*time.Minute+5*time.Second {
			t.Errorf("Reboot gave up after %s, want 4m", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestDiagnosticsFailures: a command that fails still gives its output and
// stderr; one that cannot be sent is an error, and the others' output is
// still returned.
func TestDiagnosticsFailures(t *testing.T) {
	o := awssim.Options{
		Latencies: briefLatencies(),
		Command: func(cmd string) (string, string, bool) {
			if cmd == "nft list ruleset" {
				return "", "sh: nft: command not found", false
			}
			return "ok: " + cmd, "", true
		},
		Fault: func(op string, n int) *awssim.APIError {
			if op == "SendCommand" && n == 1 {
				return &awssim.APIError{Code: "InvalidInstanceId", Message: "scripted failure"}
			}
			return nil
		},
	}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		if _, err := b.Diagnostics(t.Context()); err == nil {
			t.Error("Diagnostics before Launch succeeded")
		}
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		got, err := b.Diagnostics(t.Context())
		if err == nil || !strings.Contains(err.Error(), "InvalidInstanceId") {
			t.Errorf("Diagnostics error %v, want the failed SendCommand", err)
		}
		if len(got) != len(awsgate.DiagnosticCommands())-1 {
			t.Errorf("Diagnostics gave %d outputs, want %d: %q", len(got), len(awsgate.DiagnosticCommands())-1, got)
		}
		if nft, ok := got["nft list ruleset"]; ok && (!strings.Contains(nft, "SSM status Failed") || !strings.Contains(nft, "nft: command not found")) {
			t.Errorf("output of the failed command %q: want its status and stderr", nft)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
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
