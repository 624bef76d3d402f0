// Package twingate is the release gate's offline backend: the host is a
// host twin (package twin) of a CIS baseline, provisioned with the host
// script as a baked image would have been, and the probe tasks are the real
// probe script run with sh and curl inside the twin's task namespaces.
//
// Nothing here touches the machine's own netfilter: the script runs inside
// the twin's host, and probes run with nsenter --net into a task namespace
// the twin created.
package twingate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/twin"
)

// DefaultBaseline is the baseline a twin is booted from when Options name
// none.
const DefaultBaseline = "al2023-nftables"

// ProvisionSteps returns the host script's steps the twin gets at "bake"
// time: everything but agent (no downloads: the twin has its stand-in
// agent), services (nothing to enable) and cleanup (nothing to snapshot).
func ProvisionSteps() []string { return []string{"config", "firewall", "persist", "sysctl"} }

// scriptPath is where the host script is uploaded in the twin, as the
// provisioner does.
const scriptPath = "/tmp/cisecs.sh"

// probePath is the PATH a probe runs with.
const probePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options configure the twin backend.
type Options struct {
	// Baseline names the CIS baseline to boot (twin.Baselines); empty
	// means DefaultBaseline.
	Baseline string
	// Unprovisioned leaves the twin as the CIS baseline has it, without
	// the host script: the gate must fail on it.
	Unprovisioned bool
	// Dir is the twin's state directory; empty means a temporary one that
	// Cleanup removes.
	Dir string
	// Twin, when set, is an already booted twin to launch on instead of
	// booting one (tests take it from twintest.New): Launch provisions it
	// and Cleanup closes it. Baseline is then the twin's.
	Twin *twin.Twin
	// Log receives the host script's output and the twin's boot journal;
	// nil discards them.
	Log io.Writer
}

// Backend is validate.Backend on a host twin. Its methods are safe for
// concurrent use.
type Backend struct {
	o        Options
	baseline twin.Baseline

	mu       sync.Mutex
	launched bool
	tw       *twin.Twin // nil before Launch and after Cleanup
	held     map[string]*heldTask
	tasks    int
}

var _ validate.Backend = (*Backend)(nil)

// heldTask is a probe started with Hold, until it is stopped.
type heldTask struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been waited for
	err  error         // cmd.Wait's error, once done is closed
}

// New returns a twin backend for o; nothing is booted until Launch.
func New(o Options) (*Backend, error) {
	if o.Twin != nil {
		o.Baseline = o.Twin.Baseline().Name
	}
	if o.Baseline == "" {
		o.Baseline = DefaultBaseline
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	b, err := twin.LookupBaseline(o.Baseline)
	if err != nil {
		return nil, fmt.Errorf("twin gate: %w", err)
	}
	return &Backend{o: o, baseline: b, held: map[string]*heldTask{}}, nil
}

// hostScript renders the host script the image under test was baked with,
// for probes: it opens their modes, and sets ECS_AWSVPC_BLOCK_IMDS when the
// awsvpc probes must find IMDS blocked.
func hostScript(probes []validate.Probe) ([]byte, error) {
	var o hostscript.Options
	o.Steps = ProvisionSteps()
	for _, p := range probes {
		if !slices.Contains(o.NetworkModes, p.Mode) {
			o.NetworkModes = append(o.NetworkModes, p.Mode)
		}
		if p.Mode == release.ModeAWSVPC && p.IMDSBlocked {
			o.AWSVPCBlockIMDS = true
		}
	}
	return hostscript.Render(o)
}

// Name implements validate.Backend.
func (b *Backend) Name() string { return "twin" }

// ImageID names what the twin stands for in reports: the baseline, and
// whether the host script ran.
func (b *Backend) ImageID() string {
	if b.o.Unprovisioned {
		return "twin:" + b.baseline.Name + ":unprovisioned"
	}
	return "twin:" + b.baseline.Name
}

// Twin returns the running twin, or nil before Launch and after Cleanup.
func (b *Backend) Twin() *twin.Twin {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tw
}

// Launch implements validate.Backend: it boots a twin of the baseline and,
// unless Options.Unprovisioned, bakes it as the provisioner would (the
// host script for probes, uploaded to /tmp and run with bash as root) and
// boots it again from its disk, as an instance of the baked image boots.
func (b *Backend) Launch(ctx context.Context, probes []validate.Probe) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.launched {
		return fmt.Errorf("launch twin of %q: already launched", b.baseline.Name)
	}
	b.launched = true
	var script []byte
	if !b.o.Unprovisioned {
		var err error
		if script, err = hostScript(probes); err != nil {
			return fmt.Errorf("launch twin of %q: nothing booted: host script: %w", b.baseline.Name, err)
		}
	}
	tw := b.o.Twin
	if tw == nil {
		var err error
		if tw, err = twin.New(ctx, twin.Options{Baseline: b.baseline, Dir: b.o.Dir}); err != nil {
			return fmt.Errorf("launch twin of %q: %w", b.baseline.Name, err)
		}
	}
	b.tw = tw
	b.logf("twin %s (%s) booted in %s", tw.Name(), b.baseline.Name, tw.LastBoot().Round(time.Millisecond))
	if script == nil {
		b.logf("twin %s left unprovisioned", tw.Name())
		return nil
	}
	if err := tw.WriteFile(scriptPath, script, 0o700); err != nil {
		return fmt.Errorf("launch twin of %q: upload host script: %w", b.baseline.Name, err)
	}
	out, err := tw.Exec(ctx, nil, "bash", scriptPath)
	b.logf("host script output:\n%s", out)
	if err != nil {
		return fmt.Errorf("launch twin of %q: host script (%s): %w", b.baseline.Name, strings.Join(ProvisionSteps(), ","), err)
	}
	if err := tw.Reboot(ctx); err != nil {
		return fmt.Errorf("launch twin of %q: first boot of the baked disk: %w", b.baseline.Name, err)
	}
	b.logf("twin %s booted from its baked disk in %s", tw.Name(), tw.LastBoot().Round(time.Millisecond))
	return nil
}

// RunProbe implements validate.Backend: it runs the probe script with the
// machine's sh and curl in the task's network namespace, with the task's
// ECS environment, and returns its exit code and its one-line message. An
// empty p.RoleARN means the role the twin's agent serves the task.
func (b *Backend) RunProbe(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
	p.Hold = false
	cmd, id, err := b.probeCommand(ctx, p)
	if err != nil {
		return validate.Outcome{ExitCode: -1}, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	none := validate.Outcome{TaskID: id, ExitCode: -1}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
		return validate.Outcome{TaskID: id, ExitCode: 0, Reason: lastLine(stdout.String())}, nil
	case ctx.Err() != nil:
		return none, fmt.Errorf("probe %s: %w", id, context.Cause(ctx))
	case !errors.As(runErr, &ee) || ee.ExitCode() < 0 || strings.HasPrefix(stderr.String(), "nsenter:"):
		// The probe did not run, or was killed: no verdict.
		return none, fmt.Errorf("probe %s: %w: %s", id, runErr, strings.TrimSpace(stderr.String()))
	}
	return validate.Outcome{TaskID: id, ExitCode: ee.ExitCode(), Reason: lastLine(stderr.String(), stdout.String())}, nil
}

// StartTask implements validate.Backend: it starts a held probe in the
// task's namespace and returns once the probe passed and holds. A probe
// that exits instead is an error that carries its exit code and message.
func (b *Backend) StartTask(ctx context.Context, p validate.Probe) (string, error) {
	p.Hold = true
	// The task outlives this call: it is bounded by ForceStop, Reboot and
	// Cleanup, not by ctx.
	cmd, id, err := b.probeCommand(context.WithoutCancel(ctx), p)
	if err != nil {
		return "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("start probe %s: %w", id, err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start probe %s: %w", id, err)
	}
	t := &heldTask{cmd: cmd, done: make(chan struct{})}
	b.mu.Lock()
	b.held[id] = t
	b.mu.Unlock()
	holding := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if sc.Text() == validate.ProbeHoldLine && !found {
				found = true
				holding <- true
			}
		}
		if !found {
			holding <- false
		}
		t.err = cmd.Wait()
		close(t.done)
	}()
	select {
	case ok := <-holding:
		if ok {
			return id, nil
		}
		<-t.done
		b.forget(id)
		return "", fmt.Errorf("start probe %s: it did not hold: exit %d: %s", id, cmd.ProcessState.ExitCode(), strings.TrimSpace(stderr.String()))
	case <-ctx.Done():
		b.kill(id)
		return "", fmt.Errorf("start probe %s: %w", id, context.Cause(ctx))
	}
}

// ForceStop implements validate.Backend: SIGKILL to the task's process
// group, as docker kill does after the stop timeout; it waits until the
// task is gone.
func (b *Backend) ForceStop(ctx context.Context, taskID string) error {
	b.mu.Lock()
	t, ok := b.held[taskID]
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("force-stop task %q: no such running task", taskID)
	}
	if err := unix.Kill(-t.cmd.Process.Pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("force-stop task %q: %w", taskID, err)
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return fmt.Errorf("force-stop task %q: %w", taskID, context.Cause(ctx))
	}
	b.forget(taskID)
	if ws, ok := t.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("force-stop task %q: it ended by itself (%v) before it was killed", taskID, t.err)
	}
	return nil
}

// Reboot implements validate.Backend: the tasks die with the host, the
// twin boots again from its disk, and then its firewall is reloaded and
// restarted and sysctl --system runs (the baseline's Events).
func (b *Backend) Reboot(ctx context.Context) error {
	b.killAll()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tw == nil {
		return errors.New("reboot twin: not launched")
	}
	if err := b.tw.Reboot(ctx); err != nil {
		return err
	}
	b.logf("twin %s rebooted in %s", b.tw.Name(), b.tw.LastBoot().Round(time.Millisecond))
	// Then what a running host meets: its firewall reloaded and restarted
	// (firewalld before 2.0 flushes ecs-init's DNAT then), ufw reloaded,
	// sysctl --system (which re-applies CIS's ip_forward=0 unless the fix
	// holds it off). The probes that follow must still pass.
	for _, e := range b.tw.Baseline().Events() {
		if err := b.tw.Do(ctx, e); err != nil {
			return err
		}
		b.logf("twin %s: %s", b.tw.Name(), e)
	}
	return nil
}

// Diagnostics implements validate.Backend: the twin's live ruleset as each
// tool prints it, its last boot's journal, and the host script's report
// and ecs.config as the host has them.
func (b *Backend) Diagnostics(ctx context.Context) (map[string]string, error) {
	tw := b.Twin()
	if tw == nil {
		return nil, errors.New("twin diagnostics: not launched")
	}
	d := map[string]string{"boot journal": strings.Join(tw.Journal(), "\n")}
	for _, f := range []string{hostscript.DefaultReportPath, "/etc/ecs/ecs.config"} {
		if data, err := tw.ReadFile(f); err == nil {
			d[f] = string(data)
		}
	}
	rs, err := tw.Ruleset(ctx)
	if err != nil {
		return d, fmt.Errorf("twin diagnostics: ruleset: %w", err)
	}
	for k, v := range map[string]string{
		"iptables-legacy-save":  rs.IptablesLegacy,
		"ip6tables-legacy-save": rs.IP6tablesLegacy,
		"iptables-nft-save":     rs.IptablesNFT,
		"ip6tables-nft-save":    rs.IP6tablesNFT,
		"nft list ruleset":      rs.Nftables,
	} {
		if strings.TrimSpace(v) != "" {
			d[k] = v
		}
	}
	return d, nil
}

// Cleanup implements validate.Backend: it kills the held tasks and closes
// the twin (its namespaces, processes and, unless Options.Dir was given,
// its state directory). It does nothing when nothing runs.
func (b *Backend) Cleanup(ctx context.Context) error {
	b.killAll()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tw == nil {
		return nil
	}
	if err := b.tw.Close(); err != nil {
		return fmt.Errorf("twin cleanup: %w", err)
	}
	b.tw = nil
	return nil
}

// probeCommand prepares the probe for p in its task's network namespace:
// nsenter --net=NS -- sh -c SCRIPT, with the task's ECS environment. It
// refuses a namespace that is missing or is the machine's own.
func (b *Backend) probeCommand(ctx context.Context, p validate.Probe) (*exec.Cmd, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tasks++
	id := fmt.Sprintf("%s-probe-%d", p.Mode, b.tasks)
	if b.tw == nil {
		return nil, id, fmt.Errorf("probe %s: twin not launched", id)
	}
	var e twin.Endpoint
	switch p.Mode {
	case release.ModeAWSVPC:
		e = twin.AWSVPC
	case release.ModeBridge:
		e = twin.Bridge
	case release.ModeHost:
		// A host-mode task is a process in the host's network namespace.
		e = twin.HostMode
	default:
		return nil, id, fmt.Errorf("probe %s: unknown network mode %q", id, p.Mode)
	}
	task, err := b.tw.Task(e)
	if err != nil {
		return nil, id, fmt.Errorf("probe %s: %w", id, err)
	}
	if p.RoleARN == "" {
		p.RoleARN = task.RoleARN
	}
	script, err := validate.ProbeScript(p)
	if err != nil {
		return nil, id, fmt.Errorf("probe %s: %w", id, err)
	}
	netns := b.tw.NetNS(e)
	if err := notOwnNetNS(netns); err != nil {
		return nil, id, fmt.Errorf("probe %s: %w", id, err)
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+netns, "--", "sh", "-c", string(script), "cisecs-probe")
	cmd.Env = append(task.Env(), probePath, "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Kill the whole group (sh, curl, sleep) when ctx ends.
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	return cmd, id, nil
}

// notOwnNetNS refuses a network namespace path that is missing or is the
// machine's own namespace.
func notOwnNetNS(path string) error {
	var ns, own unix.Stat_t
	if err := unix.Stat(path, &ns); err != nil {
		return fmt.Errorf("task namespace %q: %w (is the twin up?)", path, err)
	}
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		return fmt.Errorf("own network namespace: %w", err)
	}
	if ns.Dev == own.Dev && ns.Ino == own.Ino {
		return fmt.Errorf("task namespace %q is the machine's own: refusing", path)
	}
	return nil
}

// kill SIGKILLs a held task and waits for it.
func (b *Backend) kill(id string) {
	b.mu.Lock()
	t, ok := b.held[id]
	delete(b.held, id)
	b.mu.Unlock()
	if !ok {
		return
	}
	unix.Kill(-t.cmd.Process.Pid, unix.SIGKILL)
	<-t.done
}

// killAll kills every held task.
func (b *Backend) killAll() {
	b.mu.Lock()
	ids := make([]string, 0, len(b.held))
	for id := range b.held {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	for _, id := range ids {
		b.kill(id)
	}
}

// forget drops a held task that has ended.
func (b *Backend) forget(id string) {
	b.mu.Lock()
	delete(b.held, id)
	b.mu.Unlock()
}

// logf writes a line to Options.Log; the caller may hold b.mu.
func (b *Backend) logf(format string, a ...any) {
	fmt.Fprintf(b.o.Log, "twin: "+format+"\n", a...)
}

// lastLine returns the last non-empty line of the first stream that has
// one, the probe's one-line verdict, without the probe's name.
func lastLine(streams ...string) string {
	for _, s := range streams {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
			return strings.TrimPrefix(l, "cisecs-probe: ")
		}
	}
	return ""
}
