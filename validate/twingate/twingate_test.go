package twingate_test

// These tests run the gate against host twins: real network namespaces and
// real netfilter, never the machine's own. They need root; without it they
// skip, except under CI=true, where they fail (twintest's policy).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/internal/testenv"
	"github.com/cisecs/cisecs/release"
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
	return launchWith(t, tw, o), tw
}

// bootTwin boots a twin of baseline with o (its Baseline and Dir set
// here); the backend launched on it closes it.
func bootTwin(t *testing.T, baseline string, o twin.Options) *twin.Twin {
	t.Helper()
	needTwin(t)
	var err error
	if o.Baseline, err = twin.LookupBaseline(baseline); err != nil {
		t.Fatal(err)
	}
	o.Dir = t.TempDir()
	tw, err := twin.New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tw.Close() })
	return tw
}

// launchWith returns a twin backend on tw, cleaned up with the test.
func launchWith(t *testing.T, tw *twin.Twin, o twingate.Options) *twingate.Backend {
	t.Helper()
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
	return b
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
// passes, and the twin is gone afterwards. The awsvpc check is the first
// awsvpc task after the baked disk's boot: the persisted firewall loaded
// before the task created ecs-bridge, and its rules for ecs-bridge match.
// Right after launch the test also records what a bridge task meets on
// its way to IMDS: the host script turns IPv4 forwarding on and opens
// docker0's egress, so the host forwards and masquerades the task to IMDS
// (hop limit 2) on every baseline, until AWS's DOCKER-USER drop is added
// (live: the gate's reboot removes it).
func TestGatePassesOnEveryBaseline(t *testing.T) {
	for _, bl := range twin.Baselines() {
		t.Run(bl.Name, func(t *testing.T) {
			t.Parallel()
			b, tw := launchOn(t, bl.Name, twingate.Options{})
			afterBoot := func() {
				j := tw.Journal()
				task := slices.IndexFunc(j, func(l string) bool {
					return strings.HasPrefix(l, "awsvpc task:") && strings.Contains(l, "ecs-bridge created")
				})
				fw := slices.IndexFunc(j, func(l string) bool {
					unit, _, _ := strings.Cut(l, ":")
					return unit == string(bl.Daemon)+".service" ||
						slices.ContainsFunc(bl.Firewall, func(u twin.FirewallUnit) bool { return u.Unit == unit })
				})
				if fw < 0 || task < fw {
					t.Errorf("journal: firewall at %d, ecs-bridge created at %d; want the bridge after the firewall:\n%s", fw, task, strings.Join(j, "\n"))
				}
				bridge := validate.Probe{Mode: release.ModeBridge, IMDSBlocked: true}
				probeExit(t, b, bridge, validate.ProbeExitIMDSReachable, "provisioned, no DOCKER-USER rule")
				// The gate runs this in a goroutine of its own: no t.Fatal.
				if _, err := tw.Exec(t.Context(), nil, dockerUserDropsIMDS...); err != nil {
					t.Errorf("DOCKER-USER drop: %v", err)
					return
				}
				probeExit(t, b, bridge, validate.ProbeExitPass, "DOCKER-USER drops IMDS")
			}
			r := validate.Run(t.Context(), &afterLaunch{Backend: b, then: afterBoot}, gateOptions(t, b))
			if r.ExitCode() != validate.ExitPass {
				t.Errorf("exit %d: %s", r.ExitCode(), r.Summary())
				for _, c := range r.Checks {
					t.Logf("%s %s: %s", c.Name, c.Status, c.Message)
				}
			}
			want := []string{validate.CheckLaunch, validate.CheckAWSVPC, validate.CheckBridge, validate.CheckHost, validate.CheckForcedStop, validate.CheckHostHealth, validate.CheckReboot}
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

// TestHostProbeUnprovisioned is the gate's control for host mode, on
// every baseline: the rendered probe, run as a host-mode task (a process
// in the host's namespace with the agent's environment) on the CIS host
// as it comes, fails with exit 10 where the reports said (ufw's
// deny-outgoing policy at once; firewalld after the reboot's firewall
// reload and restart flushed ecs-init's REDIRECT), and passes where
// nothing blocks it (the CIS rulesets accept lo and new tcp out). Then
// the host script fixes the failing ones, through the same events.
func TestHostProbeUnprovisioned(t *testing.T) {
	for _, bl := range twin.Baselines() {
		t.Run(bl.Name, func(t *testing.T) {
			t.Parallel()
			host := validate.Probe{Mode: release.ModeHost}
			b, _ := launchOn(t, bl.Name, twingate.Options{Unprovisioned: true})
			if err := b.Launch(t.Context(), validate.Options{}.Probes()); err != nil {
				t.Fatal(err)
			}
			atBoot, afterEvents := validate.ProbeExitPass, validate.ProbeExitPass
			switch bl.Daemon {
			case twin.DaemonUfw:
				atBoot, afterEvents = validate.ProbeExitCredentialsUnreachable, validate.ProbeExitCredentialsUnreachable
			case twin.DaemonFirewalld:
				afterEvents = validate.ProbeExitCredentialsUnreachable
			}
			probeExit(t, b, host, atBoot, "unprovisioned, at boot")
			if err := b.Reboot(t.Context()); err != nil {
				t.Fatal(err)
			}
			probeExit(t, b, host, afterEvents, "unprovisioned, after a reboot and "+fmt.Sprint(bl.Events()))

			fixed, _ := launchOn(t, bl.Name, twingate.Options{})
			if err := fixed.Launch(t.Context(), validate.Options{NetworkModes: []string{release.ModeAWSVPC, release.ModeHost}}.Probes()); err != nil {
				t.Fatal(err)
			}
			probeExit(t, fixed, host, validate.ProbeExitPass, "provisioned for awsvpc,host")
			if err := fixed.Reboot(t.Context()); err != nil {
				t.Fatal(err)
			}
			probeExit(t, fixed, host, validate.ProbeExitPass, "provisioned, after a reboot and "+fmt.Sprint(bl.Events()))
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

// probeExit runs the real probe p on b and fails the test unless it
// exits want.
func probeExit(t *testing.T, b *twingate.Backend, p validate.Probe, want int, when string) {
	t.Helper()
	out, err := b.RunProbe(t.Context(), p)
	if err != nil || out.ExitCode != want {
		t.Errorf("%s: %s probe (IMDS must be blocked: %v): %+v, %v; want exit %d", when, p.Mode, p.IMDSBlocked, out, err, want)
	}
}

// setECSConfig rewrites the twin's ecs.config with key's line removed
// and, unless value is empty, key=value added.
func setECSConfig(t *testing.T, tw *twin.Twin, key, value string) {
	t.Helper()
	cfg, err := tw.ReadFile("/etc/ecs/ecs.config")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(cfg)), "\n") {
		if !strings.HasPrefix(l, key+"=") {
			lines = append(lines, l)
		}
	}
	if value != "" {
		lines = append(lines, key+"="+value)
	}
	if err := tw.WriteFile("/etc/ecs/ecs.config", []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerUserDropsIMDS is AWS's documented rule that keeps bridge tasks
// from IMDS.
var dockerUserDropsIMDS = []string{"iptables", "-I", "DOCKER-USER", "-d", "169.254.169.254/32", "-j", "DROP"}

// TestProbeIMDS runs the real probe against the twin's stand-in IMDS in
// the VPC. awsvpc: the host script's ECS_AWSVPC_BLOCK_IMDS=true makes the
// twin blackhole IMDS in the task, and the probe that requires it blocked
// passes; the same twin rebooted without the setting lets the task reach
// IMDS through its ENI, and that probe exits 30. bridge: the host forwards
// and masquerades the task to IMDS (hop limit 2), so the probe exits 30
// until Docker's DOCKER-USER drop is in place. host: reaches IMDS whatever
// is in place.
func TestProbeIMDS(t *testing.T) {
	t.Parallel()
	b, tw := launchOn(t, twingate.DefaultBaseline, twingate.Options{})
	ctx := t.Context()
	if err := b.Launch(ctx, validate.Options{IMDSBlocked: true}.Probes()); err != nil {
		t.Fatal(err)
	}
	cfg, err := tw.ReadFile("/etc/ecs/ecs.config")
	if err != nil || !strings.Contains(string(cfg), "ECS_AWSVPC_BLOCK_IMDS=true") {
		t.Errorf("ecs.config %q (%v) lacks ECS_AWSVPC_BLOCK_IMDS=true", cfg, err)
	}
	awsvpc := validate.Probe{Mode: release.ModeAWSVPC, IMDSBlocked: true}
	out, err := b.RunProbe(ctx, awsvpc)
	if err != nil || out.ExitCode != validate.ProbeExitPass || !strings.Contains(out.Reason, "IMDS blocked") {
		t.Errorf("awsvpc, ECS_AWSVPC_BLOCK_IMDS=true: %+v, %v; want a pass that says IMDS blocked", out, err)
	}

	bridge := validate.Probe{Mode: release.ModeBridge, IMDSBlocked: true}
	probeExit(t, b, bridge, validate.ProbeExitIMDSReachable, "bridge, no DOCKER-USER rule")
	bridge.IMDSBlocked = false
	probeExit(t, b, bridge, validate.ProbeExitPass, "bridge, IMDS reachable but not required blocked")
	if _, err := tw.Exec(ctx, nil, dockerUserDropsIMDS...); err != nil {
		t.Fatal(err)
	}
	bridge.IMDSBlocked = true
	probeExit(t, b, bridge, validate.ProbeExitPass, "bridge, DOCKER-USER drops IMDS")
	// A host-mode task is the host: neither ECS_AWSVPC_BLOCK_IMDS nor
	// Docker's DOCKER-USER drop keeps it from IMDS (the README says so,
	// and the gate never asks it of host mode).
	probeExit(t, b, validate.Probe{Mode: release.ModeHost, IMDSBlocked: true}, validate.ProbeExitIMDSReachable,
		"host mode, with ECS_AWSVPC_BLOCK_IMDS and DOCKER-USER's drop")

	setECSConfig(t, tw, "ECS_AWSVPC_BLOCK_IMDS", "")
	if err := b.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	probeExit(t, b, awsvpc, validate.ProbeExitIMDSReachable, "awsvpc, rebooted without ECS_AWSVPC_BLOCK_IMDS")
	awsvpc.IMDSBlocked = false
	probeExit(t, b, awsvpc, validate.ProbeExitPass, "awsvpc, IMDS reachable but not required blocked")
	probeExit(t, b, bridge, validate.ProbeExitIMDSReachable, "bridge, the live DOCKER-USER rule gone with the reboot")
}

// TestProbeIMDSHopLimit: with an IMDS hop limit of 1, the token's answer
// dies where the host forwards it to a bridge task, so the bridge probe
// finds IMDS blocked; an awsvpc task, on the subnet through its ENI,
// still gets a token.
func TestProbeIMDSHopLimit(t *testing.T) {
	t.Parallel()
	tw := bootTwin(t, twingate.DefaultBaseline, twin.Options{IMDSHopLimit: 1})
	b := launchWith(t, tw, twingate.Options{})
	if err := b.Launch(t.Context(), validate.Options{}.Probes()); err != nil {
		t.Fatal(err)
	}
	probeExit(t, b, validate.Probe{Mode: release.ModeBridge, IMDSBlocked: true}, validate.ProbeExitPass, "bridge, hop limit 1")
	probeExit(t, b, validate.Probe{Mode: release.ModeAWSVPC, IMDSBlocked: true}, validate.ProbeExitIMDSReachable, "awsvpc without ECS_AWSVPC_BLOCK_IMDS, hop limit 1")
	// Nor does hop limit 1 keep a host-mode task from IMDS: its request is
	// the host's own, not routed.
	probeExit(t, b, validate.Probe{Mode: release.ModeHost, IMDSBlocked: true}, validate.ProbeExitIMDSReachable, "host mode, hop limit 1")
}

// TestGateBridgeIMDSBlocked runs the gate with BridgeIMDSBlocked: it
// passes on a host whose IMDS hop limit is 1, and fails at the bridge
// check with probe exit 30 on one whose hop limit is 2.
func TestGateBridgeIMDSBlocked(t *testing.T) {
	for _, tt := range []struct {
		hopLimit int
		exit     int
	}{{1, validate.ExitPass}, {2, validate.ExitFail}} {
		t.Run(fmt.Sprintf("hop-limit-%d", tt.hopLimit), func(t *testing.T) {
			t.Parallel()
			tw := bootTwin(t, twingate.DefaultBaseline, twin.Options{IMDSHopLimit: tt.hopLimit})
			b := launchWith(t, tw, twingate.Options{})
			o := gateOptions(t, b)
			o.IMDSBlocked, o.BridgeIMDSBlocked = true, true
			r := validate.Run(t.Context(), b, o)
			if r.ExitCode() != tt.exit {
				t.Fatalf("exit %d, want %d: %s", r.ExitCode(), tt.exit, r.Summary())
			}
			if tt.exit == validate.ExitPass {
				return
			}
			i := slices.IndexFunc(r.Checks, func(c validate.Check) bool { return c.Status != validate.StatusPass })
			if c := r.Checks[i]; c.Name != validate.CheckBridge || c.ProbeExitCode == nil || *c.ProbeExitCode != validate.ProbeExitIMDSReachable {
				t.Errorf("%s %s (probe exit %v): %s; want %s to fail with probe exit 30", c.Name, c.Status, c.ProbeExitCode, c.Message, validate.CheckBridge)
			}
		})
	}
}

// TestHeldTask starts held probes and stops them by force, and checks
// that Cleanup kills what is still held.
func TestHeldTask(t *testing.T) {
	t.Parallel()
	b, tw := launchOn(t, twingate.DefaultBaseline, twingate.Options{})
	ctx := t.Context()
	if err := b.Launch(ctx, validate.Options{}.Probes()); err != nil {
		t.Fatal(err)
	}
	p := validate.Probe{Mode: release.ModeAWSVPC, Hold: true}
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
	if _, err := b.StartTask(ctx, validate.Probe{Mode: release.ModeBridge, Hold: true}); err != nil {
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
	if err := b2.Launch(ctx, validate.Options{}.Probes()); err != nil {
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

// afterLaunch runs then after a successful Launch.
type afterLaunch struct {
	*twingate.Backend
	then func()
}

func (a *afterLaunch) Launch(ctx context.Context, probes []validate.Probe) error {
	err := a.Backend.Launch(ctx, probes)
	if err == nil {
		a.then()
	}
	return err
}

// recorder remembers the twin its backend launched.
type recorder struct {
	*twingate.Backend
	tw *twin.Twin
}

func (r *recorder) Launch(ctx context.Context, probes []validate.Probe) error {
	err := r.Backend.Launch(ctx, probes)
	r.tw = r.Backend.Twin()
	return err
}

// TestWithoutTwin covers what needs no twin: options and calls before
// Launch.
func TestWithoutTwin(t *testing.T) {
	if _, err := twingate.New(twingate.Options{Baseline: "centos6"}); err == nil || !strings.Contains(err.Error(), `"centos6"`) {
		t.Errorf("unknown baseline: %v, want an error naming it", err)
	}
	nat, err := twingate.New(twingate.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := nat.Launch(t.Context(), []validate.Probe{{Mode: "nat"}}); err == nil || !strings.Contains(err.Error(), `"nat"`) || nat.Twin() != nil {
		t.Errorf("unknown mode: %v (twin %v), want an error naming it and nothing booted", err, nat.Twin())
	}
	b, err := twingate.New(twingate.Options{Unprovisioned: true, Baseline: "al2-iptables-legacy"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "twin" || b.ImageID() != "twin:al2-iptables-legacy:unprovisioned" {
		t.Errorf("name %q, image %q", b.Name(), b.ImageID())
	}
	ctx := t.Context()
	if _, err := b.RunProbe(ctx, validate.Probe{Mode: release.ModeAWSVPC}); err == nil || !strings.Contains(err.Error(), "not launched") {
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
	testenv.Root(tb, "host twin")
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
