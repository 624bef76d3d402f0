package twingate_test

// These tests run the gate against host twins: real network namespaces and
// real netfilter, never the machine's own. They need root; without it they
// skip, except under CI=true, where they fail (twintest's policy).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
	"github.com/cisecs/cisecs/validate/twingate"
)

// testWriter sends progress lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// launchOn returns a twin backend on a twintest twin of baseline.
func launchOn(t *testing.T, baseline string, o twingate.Options) (*twingate.Backend, *twin.Twin) {
	t.Helper()
	tw := twintest.New(t, baseline)
	o.Twin, o.Log = tw, testWriter{t}
	b, err := twingate.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return b, tw
}

// gateOptions are the gate's options for b, with progress in the test log.
func gateOptions(t testing.TB, b *twingate.Backend) validate.Options {
	return validate.Options{ImageID: b.ImageID(), Progress: testWriter{t}, Timeout: 2 * time.Minute}
}

// assertRemoved checks that the gate left no twin behind: no backend twin,
// no namespaces, nothing that runs.
func assertRemoved(t *testing.T, b *twingate.Backend, tw *twin.Twin) {
	t.Helper()
	if b.Twin() != nil {
		t.Error("the backend still holds a twin after the gate")
	}
	for _, e := range []twin.Endpoint{twin.Host, twin.AWSVPC, twin.Bridge, twin.VPC} {
		if _, err := os.Stat(tw.NetNS(e)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still there after the gate (%v)", tw.NetNS(e), err)
		}
	}
	if _, err := tw.Exec(t.Context(), nil, "true"); !errors.Is(err, twin.ErrNotRunning) {
		t.Errorf("exec in the twin after the gate: %v, want ErrNotRunning", err)
	}
}

// TestGatePassesOnEveryBaseline runs the whole gate on a twin of each CIS
// baseline provisioned as a baked image would have been: every check
// passes, and the twin is gone afterwards.
func TestGatePassesOnEveryBaseline(t *testing.T) {
	for _, bl := range twin.Baselines() {
		t.Run(bl.Name, func(t *testing.T) {
			t.Parallel()
			b, tw := launchOn(t, bl.Name, twingate.Options{})
			r := validate.Run(t.Context(), b, gateOptions(t, b))
			if r.ExitCode() != validate.ExitPass {
				t.Errorf("exit %d: %s", r.ExitCode(), r.Summary())
				for _, c := range r.Checks {
					t.Logf("%s %s: %s", c.Name, c.Status, c.Message)
				}
			}
			want := []string{validate.CheckLaunch, validate.CheckAWSVPC, validate.CheckBridge, validate.CheckForcedStop, validate.CheckReboot}
			var got []string
			for _, c := range r.Checks {
				if c.Status == validate.StatusPass {
					got = append(got, c.Name)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("checks passed %q, want %q", got, want)
			}
			if r.Cleanup.Status != validate.CleanupDone {
				t.Errorf("cleanup %+v", r.Cleanup)
			}
			assertRemoved(t, b, tw)
		})
	}
}

// TestGateFailsUnprovisioned is the gate's reason to be: on a CIS host the
// host script has not fixed, tasks start but cannot reach their
// credentials, and the gate fails with exit 1, the probe exiting 10: at
// awsvpc-credentials, or, where firewalld 1.x accepts DNAT'ed packets
// itself, at reboot, whose firewall reload flushes ecs-init's DNAT.
// Diagnostics hold the ruleset, and the twin is removed.
func TestGateFailsUnprovisioned(t *testing.T) {
	failsAt := map[string]string{"al2023-firewalld": validate.CheckReboot, "rhel9-firewalld": validate.CheckReboot}
	for _, bl := range twin.Baselines() {
		t.Run(bl.Name, func(t *testing.T) {
			t.Parallel()
			b, tw := launchOn(t, bl.Name, twingate.Options{Unprovisioned: true})
			r := validate.Run(t.Context(), b, gateOptions(t, b))
			if r.ExitCode() != validate.ExitFail {
				t.Errorf("exit %d, want %d: %s", r.ExitCode(), validate.ExitFail, r.Summary())
			}
			want := failsAt[bl.Name]
			if want == "" {
				want = validate.CheckAWSVPC
			}
			i := slices.IndexFunc(r.Checks, func(c validate.Check) bool { return c.Status != validate.StatusPass })
			if i < 0 {
				t.Fatalf("checks %+v: none failed", r.Checks)
			}
			c := r.Checks[i]
			if c.Name != want || c.Status != validate.StatusFail || c.ProbeExitCode == nil ||
				*c.ProbeExitCode != validate.ProbeExitCredentialsUnreachable {
				t.Errorf("first check not passed: %s %s (exit %v): %s; want %s to fail with probe exit 10", c.Name, c.Status, c.ProbeExitCode, c.Message, want)
			}
			for _, c := range r.Checks[i+1:] {
				if c.Status != validate.StatusSkipped {
					t.Errorf("check %s %s after the failure, want skipped", c.Name, c.Status)
				}
			}
			ruleset := r.Diagnostics["nft list ruleset"] + r.Diagnostics["iptables-legacy-save"]
			if dnat := strings.Contains(ruleset, "169.254.170.2"); dnat != (want == validate.CheckAWSVPC) || ruleset == "" {
				t.Errorf("diagnostics: ecs-init's DNAT in the live ruleset: %v, want %v (flushed by firewalld): %q", dnat, want == validate.CheckAWSVPC, r.Diagnostics)
			}
			if r.Cleanup.Status != validate.CleanupDone {
				t.Errorf("cleanup %+v", r.Cleanup)
			}
			assertRemoved(t, b, tw)
		})
	}
}

// TestGateWrongRole: credentials for another role than the gate expects
// fail the gate with probe exit 11.
func TestGateWrongRole(t *testing.T) {
	t.Parallel()
	b, _ := launchOn(t, twingate.DefaultBaseline, twingate.Options{})
	o := gateOptions(t, b)
	o.RoleARN = "arn:aws:iam::111122223333:role/not-the-task-role"
	r := validate.Run(t.Context(), b, o)
	c := r.Checks[1]
	if r.ExitCode() != validate.ExitFail || c.ProbeExitCode == nil || *c.ProbeExitCode != validate.ProbeExitWrongRole {
		t.Errorf("exit %d, %s %s: %s; want exit 1 with probe exit 11", r.ExitCode(), c.Name, c.Status, c.Message)
	}
}

// TestProbeIMDS runs the real probe with IMDS required blocked: it passes
// on the twin (the awsvpc task has no route to IMDS, as with
// ECS_AWSVPC_BLOCK_IMDS), and exits 30 once a stand-in IMDS answers in the
// task's namespace.
func TestProbeIMDS(t *testing.T) {
	t.Parallel()
	b, tw := launchOn(t, twingate.DefaultBaseline, twingate.Options{AWSVPCBlockIMDS: true})
	ctx := t.Context()
	if err := b.Launch(ctx); err != nil {
		t.Fatal(err)
	}
	p := validate.Probe{Mode: validate.ModeAWSVPC, IMDSBlocked: true}
	out, err := b.RunProbe(ctx, p)
	if err != nil || out.ExitCode != validate.ProbeExitPass || !strings.Contains(out.Reason, "IMDS blocked") {
		t.Fatalf("blocked IMDS: %+v, %v; want a pass that says IMDS blocked", out, err)
	}
	cfg, err := tw.ReadFile("/etc/ecs/ecs.config")
	if err != nil || !strings.Contains(string(cfg), "ECS_AWSVPC_BLOCK_IMDS=true") {
		t.Errorf("ecs.config %q (%v) lacks ECS_AWSVPC_BLOCK_IMDS=true", cfg, err)
	}

	netns := tw.NetNS(twin.AWSVPC)
	if out, err := exec.CommandContext(ctx, "nsenter", "--net="+netns, "--", "ip", "addr", "add", "169.254.169.254/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("stand-in IMDS address: %v: %s", err, out)
	}
	var l net.Listener
	err = ns.WithNetNSPath(netns, func(ns.NetNS) error {
		var err error
		l, err = net.Listen("tcp4", "169.254.169.254:80")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "AQAEAstandintoken")
	})}
	go srv.Serve(l)
	defer srv.Close()
	out, err = b.RunProbe(ctx, p)
	if err != nil || out.ExitCode != validate.ProbeExitIMDSReachable {
		t.Errorf("reachable IMDS: %+v, %v; want probe exit 30", out, err)
	}
	p.IMDSBlocked = false
	if out, err := b.RunProbe(ctx, p); err != nil || out.ExitCode != validate.ProbeExitPass {
		t.Errorf("reachable IMDS, not required blocked: %+v, %v; want a pass", out, err)
	}
}

// TestHeldTask starts held probes and stops them by force, and checks
// that Cleanup kills what is still held.
func TestHeldTask(t *testing.T) {
	t.Parallel()
	b, tw := launchOn(t, twingate.DefaultBaseline, twingate.Options{})
	ctx := t.Context()
	if err := b.Launch(ctx); err != nil {
		t.Fatal(err)
	}
	p := validate.Probe{Mode: validate.ModeAWSVPC, Hold: true}
	id, err := b.StartTask(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ForceStop(ctx, id); err != nil {
		t.Errorf("force-stop %s: %v", id, err)
	}
	if err := b.ForceStop(ctx, id); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", id)) {
		t.Errorf("second force-stop of %s: %v, want an error naming it", id, err)
	}
	if _, err := b.StartTask(ctx, validate.Probe{Mode: validate.ModeBridge, Hold: true}); err != nil {
		t.Fatal(err)
	}
	if held := heldProbes(t, tw.Name()); len(held) == 0 {
		t.Fatal("no held probe process found")
	}
	if err := b.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if left := heldProbes(t, tw.Name()); len(left) > 0 {
		t.Errorf("held probes %v survive Cleanup", left)
	}
	// A held probe that cannot pass says why instead of holding.
	b2, _ := launchOn(t, twingate.DefaultBaseline, twingate.Options{Unprovisioned: true})
	if err := b2.Launch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.StartTask(ctx, p); err == nil || !strings.Contains(err.Error(), "exit 10") {
		t.Errorf("held probe on an unprovisioned twin: %v, want an error with exit 10", err)
	}
}

// heldProbes returns the pids of the held probes of the twin called name:
// processes whose command line holds a probe script with HOLD=1 and a
// role of that twin.
func heldProbes(t *testing.T, name string) []string {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("readonly HOLD=1")) && bytes.Contains(b, []byte(":role/"+name+"-")) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}

// TestLaunchBootsItsOwnTwin runs the gate as cisecs validate does: the
// backend boots its own twin and removes it.
func TestLaunchBootsItsOwnTwin(t *testing.T) {
	t.Parallel()
	needTwin(t)
	b, err := twingate.New(twingate.Options{Dir: t.TempDir(), Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	rb := &recorder{Backend: b}
	r := validate.Run(t.Context(), rb, gateOptions(t, b))
	if r.ExitCode() != validate.ExitPass {
		t.Errorf("exit %d: %s", r.ExitCode(), r.Summary())
	}
	if r.Image != "twin:"+twingate.DefaultBaseline || r.Backend != "twin" {
		t.Errorf("report image %q, backend %q", r.Image, r.Backend)
	}
	if rb.tw == nil {
		t.Fatal("no twin was launched")
	}
	assertRemoved(t, b, rb.tw)
}

// recorder remembers the twin its backend launched.
type recorder struct {
	*twingate.Backend
	tw *twin.Twin
}

func (r *recorder) Launch(ctx context.Context) error {
	err := r.Backend.Launch(ctx)
	r.tw = r.Backend.Twin()
	return err
}

// TestWithoutTwin covers what needs no twin: options and calls before
// Launch.
func TestWithoutTwin(t *testing.T) {
	if _, err := twingate.New(twingate.Options{Baseline: "centos6"}); err == nil || !strings.Contains(err.Error(), `"centos6"`) {
		t.Errorf("unknown baseline: %v, want an error naming it", err)
	}
	if _, err := twingate.New(twingate.Options{NetworkModes: []string{"host"}}); err == nil || !strings.Contains(err.Error(), `"host"`) {
		t.Errorf("unknown mode: %v, want an error naming it", err)
	}
	b, err := twingate.New(twingate.Options{Unprovisioned: true, Baseline: "al2-iptables-legacy"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "twin" || b.ImageID() != "twin:al2-iptables-legacy:unprovisioned" {
		t.Errorf("name %q, image %q", b.Name(), b.ImageID())
	}
	ctx := t.Context()
	if _, err := b.RunProbe(ctx, validate.Probe{Mode: validate.ModeAWSVPC}); err == nil || !strings.Contains(err.Error(), "not launched") {
		t.Errorf("probe before launch: %v", err)
	}
	if _, err := b.Diagnostics(ctx); err == nil {
		t.Error("diagnostics before launch: no error")
	}
	if err := b.Reboot(ctx); err == nil {
		t.Error("reboot before launch: no error")
	}
	for range 2 {
		if err := b.Cleanup(ctx); err != nil {
			t.Errorf("cleanup before launch: %v", err)
		}
	}
}

// needTwin applies twintest's policy to a test that boots a twin itself:
// skip without root, unless CI=true.
func needTwin(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			tb.Fatal("host twin needs root, and CI=true forbids skipping")
		}
		tb.Skip("host twin needs root")
	}
}

// BenchmarkTwinGate measures one full gate run on the default baseline:
// boot, bake, first boot, every check, cleanup.
func BenchmarkTwinGate(b *testing.B) {
	needTwin(b)
	n := 0
	for b.Loop() {
		n++
		gb, err := twingate.New(twingate.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		r := validate.Run(b.Context(), gb, validate.Options{ImageID: gb.ImageID()})
		if r.ExitCode() != validate.ExitPass {
			b.Fatalf("exit %d: %s", r.ExitCode(), r.Summary())
		}
	}
	budget.Max(b, "the whole gate on the twin ("+twingate.DefaultBaseline+")", b.Elapsed().Seconds()/float64(n), 5, "s/gate")
}
