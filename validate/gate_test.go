package validate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

const (
	testImage = "ami-0123456789abcdef0"
	testRole  = "arn:aws:iam::111122223333:role/cisecs-gate-probe"
	testParam = "/cisecs/al2023/ami"
)

// options returns gate options for the fake, with a fake clock and a
// progress buffer.
func options(progress *syncBuffer) validate.Options {
	return validate.Options{
		ImageID:  testImage,
		RoleARN:  testRole,
		RunID:    "gate-test",
		Clock:    newFakeClock(),
		Progress: progress,
	}
}

// statuses returns "name=status" for every check of r.
func statuses(r validate.Report) []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name+"="+string(c.Status))
	}
	return out
}

// exit returns a probe outcome with code.
func exit(code int) func(context.Context, validate.Probe) (validate.Outcome, error) {
	return func(context.Context, validate.Probe) (validate.Outcome, error) {
		return validate.Outcome{TaskID: "task-x", ExitCode: code, Reason: "probe said so"}, nil
	}
}

// TestRun covers the gate's paths with a fake backend: which checks run,
// their statuses, the exit code, diagnostics, cleanup and publishing.
func TestRun(t *testing.T) {
	allPass := []string{"launch=pass", "awsvpc-credentials=pass", "bridge-credentials=pass", "host-credentials=pass", "forced-stop=pass", "reboot=pass"}
	tests := []struct {
		name          string
		backend       func() *fakeBackend
		options       func(*validate.Options)
		publish       func(ctx context.Context, parameter, imageID string) error
		wantExit      int
		wantChecks    []string
		wantMessage   map[string]string // check name -> substring of its message
		wantDiag      bool
		wantCleanup   string
		wantAttempts  int
		wantPublished bool
		wantCalls     []string // calls, in order, exactly (nil: not checked)
	}{
		{
			name:          "all pass, published",
			backend:       func() *fakeBackend { return &fakeBackend{} },
			wantExit:      validate.ExitPass,
			wantChecks:    allPass,
			wantCleanup:   validate.CleanupDone,
			wantAttempts:  1,
			wantPublished: true,
			wantCalls: []string{"launch", "probe awsvpc", "probe bridge", "probe host", "start awsvpc", "force-stop held-1", "probe awsvpc",
				"reboot", "probe awsvpc", "probe bridge", "probe host", "cleanup"},
		},
		{
			name:     "awsvpc only: no bridge check",
			backend:  func() *fakeBackend { return &fakeBackend{} },
			options:  func(o *validate.Options) { o.NetworkModes = []string{release.ModeAWSVPC} },
			wantExit: validate.ExitPass, wantCleanup: validate.CleanupDone, wantAttempts: 1, wantPublished: true,
			wantChecks: []string{"launch=pass", "awsvpc-credentials=pass", "forced-stop=pass", "reboot=pass"},
			wantCalls:  []string{"launch", "probe awsvpc", "start awsvpc", "force-stop held-1", "probe awsvpc", "reboot", "probe awsvpc", "cleanup"},
		},
		{
			name:        "credentials unreachable (exit 10): fail, later checks skipped, diagnostics, cleanup, no publishing",
			backend:     func() *fakeBackend { return &fakeBackend{RunProbeFunc: exit(validate.ProbeExitCredentialsUnreachable)} },
			wantExit:    validate.ExitFail,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=fail", "bridge-credentials=skipped", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"},
			wantMessage: map[string]string{"awsvpc-credentials": "exited 10 (credentials unreachable): probe said so", "reboot": "not run: awsvpc-credentials did not pass"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
			wantCalls: []string{"launch", "probe awsvpc", "diagnostics", "cleanup"},
		},
		{
			name: "bridge fails (exit 11)",
			backend: func() *fakeBackend {
				return &fakeBackend{RunProbeFunc: func(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
					if p.Mode == release.ModeBridge {
						return exit(validate.ProbeExitWrongRole)(ctx, p)
					}
					return validate.Outcome{TaskID: "t"}, nil
				}}
			},
			wantExit:   validate.ExitFail,
			wantChecks: []string{"launch=pass", "awsvpc-credentials=pass", "bridge-credentials=fail", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"},
			wantDiag:   true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name: "host mode fails (exit 10): the image promised host-mode tasks their roles",
			backend: func() *fakeBackend {
				return &fakeBackend{RunProbeFunc: func(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
					if p.Mode == release.ModeHost {
						return exit(validate.ProbeExitCredentialsUnreachable)(ctx, p)
					}
					return validate.Outcome{TaskID: "t"}, nil
				}}
			},
			wantExit:    validate.ExitFail,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=pass", "bridge-credentials=pass", "host-credentials=fail", "forced-stop=skipped", "reboot=skipped"},
			wantMessage: map[string]string{"host-credentials": "host probe task-x exited 10"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name: "probe after the forced stop fails",
			backend: func() *fakeBackend {
				f := &fakeBackend{}
				f.RunProbeFunc = func(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
					if f.count("force-stop") > 0 {
						return exit(validate.ProbeExitCredentialsUnreachable)(ctx, p)
					}
					return validate.Outcome{TaskID: "t"}, nil
				}
				return f
			},
			wantExit:    validate.ExitFail,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=pass", "bridge-credentials=pass", "host-credentials=pass", "forced-stop=fail", "reboot=skipped"},
			wantMessage: map[string]string{"forced-stop": "after task held-1 was stopped by force: awsvpc probe"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name: "probe after the reboot fails",
			backend: func() *fakeBackend {
				f := &fakeBackend{}
				f.RunProbeFunc = func(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
					if f.count("reboot") > 0 {
						return exit(validate.ProbeExitCredentialsUnreachable)(ctx, p)
					}
					return validate.Outcome{TaskID: "t"}, nil
				}
				return f
			},
			wantExit:    validate.ExitFail,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=pass", "bridge-credentials=pass", "host-credentials=pass", "forced-stop=pass", "reboot=fail"},
			wantMessage: map[string]string{"reboot": "after reboot: awsvpc probe task-x exited 10"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name: "launch error: exit 2, diagnostics, cleanup",
			backend: func() *fakeBackend {
				return &fakeBackend{LaunchFunc: func(context.Context, []validate.Probe) error { return errors.New("instance never registered") }}
			},
			wantExit:    validate.ExitError,
			wantChecks:  []string{"launch=error", "awsvpc-credentials=skipped", "bridge-credentials=skipped", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"},
			wantMessage: map[string]string{"launch": "instance never registered"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
			wantCalls: []string{"launch", "diagnostics", "cleanup"},
		},
		{
			name: "probe backend error: exit 2",
			backend: func() *fakeBackend {
				return &fakeBackend{RunProbeFunc: func(context.Context, validate.Probe) (validate.Outcome, error) {
					return validate.Outcome{}, errors.New("RunTask: capacity")
				}}
			},
			wantExit:    validate.ExitError,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=error", "bridge-credentials=skipped", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"},
			wantMessage: map[string]string{"awsvpc-credentials": "RunTask: capacity"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name:        "probe without an exit code (image not pulled): exit 2",
			backend:     func() *fakeBackend { return &fakeBackend{RunProbeFunc: exit(-1)} },
			wantExit:    validate.ExitError,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=error", "bridge-credentials=skipped", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"},
			wantMessage: map[string]string{"awsvpc-credentials": "exited -1 (no exit code)"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name: "backend panics: exit 2, cleanup still runs",
			backend: func() *fakeBackend {
				return &fakeBackend{RebootFunc: func(context.Context) error { panic("nil instance") }}
			},
			wantExit:    validate.ExitError,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=pass", "bridge-credentials=pass", "host-credentials=pass", "forced-stop=pass", "reboot=error"},
			wantMessage: map[string]string{"reboot": "panic: nil instance"},
			wantDiag:    true, wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name: "cleanup fails once: retried, exit 0, published",
			backend: func() *fakeBackend {
				f := &fakeBackend{}
				f.CleanupFunc = func(context.Context) error {
					if f.count("cleanup") == 1 {
						return errors.New("DeleteCluster: instances still registered")
					}
					return nil
				}
				return f
			},
			wantExit: validate.ExitPass, wantChecks: allPass,
			wantCleanup: validate.CleanupDone, wantAttempts: 2, wantPublished: true,
		},
		{
			name: "cleanup fails twice: exit 2, not published",
			backend: func() *fakeBackend {
				return &fakeBackend{CleanupFunc: func(context.Context) error { return errors.New("TerminateInstances: throttled") }}
			},
			wantExit: validate.ExitError, wantChecks: allPass,
			wantCleanup: validate.CleanupFailed, wantAttempts: 2,
		},
		{
			name: "check failed and cleanup failed: exit 2",
			backend: func() *fakeBackend {
				return &fakeBackend{RunProbeFunc: exit(10), CleanupFunc: func(context.Context) error { return errors.New("x") }}
			},
			wantExit: validate.ExitError, wantDiag: true,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=fail", "bridge-credentials=skipped", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"},
			wantCleanup: validate.CleanupFailed, wantAttempts: 2,
		},
		{
			name:     "publish fails: exit 2",
			backend:  func() *fakeBackend { return &fakeBackend{} },
			publish:  func(context.Context, string, string) error { return errors.New("PutParameter: AccessDenied") },
			wantExit: validate.ExitError, wantChecks: allPass,
			wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
		{
			name: "diagnostics fail: still exit 1",
			backend: func() *fakeBackend {
				return &fakeBackend{RunProbeFunc: exit(12), DiagnosticsFunc: func(context.Context) (map[string]string, error) { return nil, errors.New("SSM agent offline") }}
			},
			wantExit: validate.ExitFail, wantDiag: true,
			wantChecks:  []string{"launch=pass", "awsvpc-credentials=fail", "bridge-credentials=skipped", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"},
			wantCleanup: validate.CleanupDone, wantAttempts: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := tc.backend()
			progress := &syncBuffer{}
			o := options(progress)
			pub := &fakePublisher{PublishFunc: tc.publish}
			o.Publish, o.Publisher = testParam, pub
			if tc.options != nil {
				tc.options(&o)
			}
			r := validate.Run(t.Context(), b, o)
			if got := r.ExitCode(); got != tc.wantExit {
				t.Errorf("exit code %d, want %d\nreport: %s", got, tc.wantExit, mustJSON(t, r))
			}
			if got := statuses(r); !slices.Equal(got, tc.wantChecks) {
				t.Errorf("checks %q, want %q", got, tc.wantChecks)
			}
			for name, want := range tc.wantMessage {
				i := slices.IndexFunc(r.Checks, func(c validate.Check) bool { return c.Name == name })
				if i < 0 || !strings.Contains(r.Checks[i].Message, want) {
					t.Errorf("check %s: checks %+v, want its message to contain %q", name, r.Checks, want)
				}
			}
			if got := b.count("diagnostics") == 1; got != tc.wantDiag {
				t.Errorf("diagnostics collected: %v, want %v (calls %q)", got, tc.wantDiag, b.Calls())
			}
			if tc.wantDiag && len(r.Diagnostics) == 0 && r.DiagnosticsError == "" {
				t.Errorf("report holds neither diagnostics nor why they are missing")
			}
			if r.Cleanup.Status != tc.wantCleanup || r.Cleanup.Attempts != tc.wantAttempts || b.count("cleanup") != tc.wantAttempts {
				t.Errorf("cleanup %+v after %d calls, want %s after %d", r.Cleanup, b.count("cleanup"), tc.wantCleanup, tc.wantAttempts)
			}
			if r.Published != tc.wantPublished {
				t.Errorf("published %v, want %v (publish error %q)", r.Published, tc.wantPublished, r.PublishError)
			}
			if tc.wantPublished && !slices.Equal(pub.calls, []string{testParam + "=" + testImage}) {
				t.Errorf("publisher calls %q", pub.calls)
			}
			if !r.Passed() && len(pub.calls) > 0 {
				t.Errorf("published %q although a check did not pass", pub.calls)
			}
			if tc.wantCalls != nil && !slices.Equal(b.Calls(), tc.wantCalls) {
				t.Errorf("calls\n %q\nwant\n %q", b.Calls(), tc.wantCalls)
			}
			if !strings.Contains(progress.String(), "cleanup: ") {
				t.Errorf("progress says nothing of cleanup:\n%s", progress)
			}
		})
	}
}

// TestRunProbes checks what the probes are asked for: the role, IMDS
// blocked for awsvpc only, and Hold for the forced-stop task only.
func TestRunProbes(t *testing.T) {
	b := &fakeBackend{}
	o := options(&syncBuffer{})
	o.IMDSBlocked = true
	r := validate.Run(t.Context(), b, o)
	if r.ExitCode() != validate.ExitPass {
		t.Fatalf("exit %d: %s", r.ExitCode(), mustJSON(t, r))
	}
	want := []validate.Probe{
		{Mode: "awsvpc", RoleARN: testRole, IMDSBlocked: true},
		{Mode: "bridge", RoleARN: testRole},
		{Mode: "host", RoleARN: testRole},
		{Mode: "awsvpc", RoleARN: testRole, IMDSBlocked: true, Hold: true},
		{Mode: "awsvpc", RoleARN: testRole, IMDSBlocked: true},
		{Mode: "awsvpc", RoleARN: testRole, IMDSBlocked: true},
		{Mode: "bridge", RoleARN: testRole},
		{Mode: "host", RoleARN: testRole},
	}
	if !slices.Equal(b.probes, want) {
		t.Errorf("probes\n %+v\nwant\n %+v", b.probes, want)
	}
	// Launch is given exactly the distinct probes the gate ran, in the
	// order it first ran them, and Options.Probes says the same.
	var distinct []validate.Probe
	for _, p := range b.probes {
		if !slices.Contains(distinct, p) {
			distinct = append(distinct, p)
		}
	}
	if !slices.Equal(b.launched, distinct) {
		t.Errorf("Launch was given\n %+v\nwant\n %+v", b.launched, distinct)
	}
	if got := o.Probes(); !slices.Equal(got, distinct) {
		t.Errorf("Options.Probes()\n %+v\nwant\n %+v", got, distinct)
	}
}

// TestRunBadOptions checks that bad options stop the gate before it
// launches anything, with exit code 2 and every problem named.
func TestRunBadOptions(t *testing.T) {
	tests := []struct {
		name    string
		options func(*validate.Options)
		want    []string
	}{
		{"no image", func(o *validate.Options) { o.ImageID = "" }, []string{"image id: empty"}},
		{"unknown mode", func(o *validate.Options) { o.NetworkModes = []string{"awsvpc", "nat"} }, []string{`unknown mode "nat"`}},
		{"bridge only", func(o *validate.Options) { o.NetworkModes = []string{"bridge"} }, []string{`network modes "bridge": the gate needs awsvpc`}},
		{"bad role", func(o *validate.Options) { o.RoleARN = "ecsTaskRole" }, []string{`role arn "ecsTaskRole"`}},
		{"bad run id", func(o *validate.Options) { o.RunID = "a b" }, []string{`run id "a b"`}},
		{"publish without publisher", func(o *validate.Options) { o.Publish = testParam }, []string{`publish "/cisecs/al2023/ami": no publisher`}},
		{"bad probe image", func(o *validate.Options) { o.ProbeImage = "x y" }, []string{`probe image "x y"`}},
		{"negative timeout", func(o *validate.Options) { o.Timeout = -time.Second }, []string{"timeout -1s: negative"}},
		{"all at once", func(o *validate.Options) { o.ImageID, o.RoleARN = "", "x" }, []string{"image id: empty", `role arn "x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{}
			o := options(&syncBuffer{})
			tc.options(&o)
			r := validate.Run(t.Context(), b, o)
			if r.ExitCode() != validate.ExitError {
				t.Errorf("exit %d, want %d", r.ExitCode(), validate.ExitError)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("error %q lacks %q", r.Error, w)
				}
			}
			if b.count("launch") > 0 || len(r.Checks) > 0 {
				t.Errorf("the gate ran (calls %q, checks %q) with bad options", b.Calls(), statuses(r))
			}
		})
	}
	if r := validate.Run(t.Context(), nil, options(&syncBuffer{})); r.ExitCode() != validate.ExitError || !strings.Contains(r.Error, "no backend") {
		t.Errorf("nil backend: exit %d, error %q", r.ExitCode(), r.Error)
	}
}

// TestRunInterrupted is Ctrl-C in the middle of a check: the check is an
// error, the rest is skipped, and diagnostics and cleanup still run, with
// contexts that are not cancelled.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var cleanupErr, diagErr error
	b := &fakeBackend{
		RunProbeFunc: func(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
			cancel() // Ctrl-C while the probe runs
			<-ctx.Done()
			return validate.Outcome{}, ctx.Err()
		},
		DiagnosticsFunc: func(ctx context.Context) (map[string]string, error) {
			diagErr = ctx.Err()
			return map[string]string{"k": "v"}, nil
		},
		CleanupFunc: func(ctx context.Context) error {
			cleanupErr = ctx.Err()
			return ctx.Err()
		},
	}
	progress := &syncBuffer{}
	r := validate.Run(ctx, b, options(progress))
	if r.ExitCode() != validate.ExitError {
		t.Errorf("exit %d, want %d", r.ExitCode(), validate.ExitError)
	}
	want := []string{"launch=pass", "awsvpc-credentials=error", "bridge-credentials=skipped", "host-credentials=skipped", "forced-stop=skipped", "reboot=skipped"}
	if got := statuses(r); !slices.Equal(got, want) {
		t.Errorf("checks %q, want %q", got, want)
	}
	if r.Error != "interrupted" || !strings.HasPrefix(r.Checks[1].Message, "interrupted: ") {
		t.Errorf("error %q, check message %q: want them to say interrupted", r.Error, r.Checks[1].Message)
	}
	if b.count("cleanup") != 1 || cleanupErr != nil || r.Cleanup.Status != validate.CleanupDone {
		t.Errorf("cleanup: %d calls, its context %v, status %q: want one call with a live context", b.count("cleanup"), cleanupErr, r.Cleanup.Status)
	}
	if b.count("diagnostics") != 1 || diagErr != nil {
		t.Errorf("diagnostics: %d calls, context %v: want one with a live context", b.count("diagnostics"), diagErr)
	}
}

// TestRunTimeout is the gate's own timeout, on its clock: the waiting
// check ends in an error that says so, and cleanup runs.
func TestRunTimeout(t *testing.T) {
	expire := make(chan time.Time, 1)
	clock := newFakeClock()
	clock.AfterFunc = func(d time.Duration) <-chan time.Time {
		if d == time.Hour {
			return expire
		}
		return nil
	}
	var cleanupErr error
	b := &fakeBackend{
		RebootFunc: func(ctx context.Context) error {
			expire <- time.Time{} // the hour passes while the host reboots
			<-ctx.Done()
			return ctx.Err()
		},
		CleanupFunc: func(ctx context.Context) error { cleanupErr = ctx.Err(); return nil },
	}
	o := options(&syncBuffer{})
	o.Clock, o.Timeout = clock, time.Hour
	r := validate.Run(t.Context(), b, o)
	if r.ExitCode() != validate.ExitError {
		t.Errorf("exit %d, want %d", r.ExitCode(), validate.ExitError)
	}
	if got := statuses(r); got[len(got)-1] != "reboot=error" || !strings.Contains(r.Checks[len(got)-1].Message, "gate timed out after 1h0m0s") {
		t.Errorf("checks %q, last message %q: want reboot to time out", got, r.Checks[len(got)-1].Message)
	}
	if r.Error != "gate timed out after 1h0m0s" {
		t.Errorf("error %q", r.Error)
	}
	if b.count("cleanup") != 1 || cleanupErr != nil {
		t.Errorf("cleanup: %d calls, context %v", b.count("cleanup"), cleanupErr)
	}
}

// TestRunCleanupTimeout: a cleanup attempt that hangs is cut off by the
// cleanup timeout and tried once more.
func TestRunCleanupTimeout(t *testing.T) {
	clock := newFakeClock()
	clock.AfterFunc = func(d time.Duration) <-chan time.Time {
		if d == validate.DefaultCleanupTimeout {
			c := make(chan time.Time, 1)
			c <- time.Time{}
			return c
		}
		return nil
	}
	b := &fakeBackend{}
	b.CleanupFunc = func(ctx context.Context) error {
		if b.count("cleanup") == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	o := options(&syncBuffer{})
	o.Clock = clock
	r := validate.Run(t.Context(), b, o)
	if r.Cleanup.Status != validate.CleanupDone || r.Cleanup.Attempts != 2 || r.ExitCode() != validate.ExitPass {
		t.Errorf("cleanup %+v, exit %d: want done on the second attempt, exit 0", r.Cleanup, r.ExitCode())
	}
}

// TestRunProgress checks the progress lines: elapsed time, phase, what the
// gate waits for, and a heartbeat while it waits.
func TestRunProgress(t *testing.T) {
	beat := make(chan time.Time, 1)
	clock := newFakeClock()
	clock.AfterFunc = func(d time.Duration) <-chan time.Time {
		if d == validate.HeartbeatInterval {
			return beat
		}
		return nil
	}
	progress := &syncBuffer{signal: "still waiting", seen: make(chan string, 1)}
	b := &fakeBackend{LaunchFunc: func(ctx context.Context, _ []validate.Probe) error {
		beat <- time.Time{}
		<-progress.seen // the heartbeat has been written
		return nil
	}}
	o := options(progress)
	o.Clock = clock
	r := validate.Run(t.Context(), b, o)
	if r.ExitCode() != validate.ExitPass {
		t.Fatalf("exit %d", r.ExitCode())
	}
	out := progress.String()
	for _, want := range []string{
		"] gate: run gate-test: image " + testImage + " on fake, modes awsvpc,bridge,host\n",
		"] launch: waiting for the fake backend to launch a host from " + testImage,
		"] launch: still waiting for the fake backend to launch a host",
		"] launch: pass (",
		"] awsvpc-credentials: waiting for the awsvpc probe task to finish\n",
		"] forced-stop: waiting for task held-1 to stop by force\n",
		"] reboot: waiting for the host to reboot and run tasks again\n",
		"] cleanup: done\n",
		"] gate: gate gate-test on fake (" + testImage + "): PASS: 6 pass; cleanup done\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "[") || !strings.Contains(line, "s] ") {
			t.Errorf("progress line %q lacks the elapsed time", line)
		}
	}
}

// TestRunIDGenerated checks that a run without an id gets one.
func TestRunIDGenerated(t *testing.T) {
	o := options(&syncBuffer{})
	o.RunID = ""
	r := validate.Run(t.Context(), &fakeBackend{}, o)
	if !strings.HasPrefix(r.RunID, "gate-20250601-12000") || len(r.RunID) != len("gate-20250601-120001-abcdef") {
		t.Errorf("run id %q", r.RunID)
	}
	if a, b := validate.NewRunID(time.Now()), validate.NewRunID(time.Now()); a == b {
		t.Errorf("two run ids are the same: %q", a)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Example_exitCodes shows the probe's exit codes as the gate reports them.
func Example_exitCodes() {
	for _, code := range []int{0, 2, 10, 11, 12, 20, 21, 30} {
		fmt.Printf("%d %s\n", code, validate.ProbeExitMeaning(code))
	}
	// Output:
	// 0 pass
	// 2 task environment incomplete
	// 10 credentials unreachable
	// 11 credentials for the wrong role
	// 12 credentials expired or malformed
	// 20 task metadata unreachable
	// 21 task metadata malformed
	// 30 IMDS reachable
}
