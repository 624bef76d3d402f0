package twin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Firewall daemons a baseline can run: the real programs from the
// machine's packages, started in the host's namespaces.
const (
	// DaemonFirewalld is firewalld, on a private system D-Bus.
	DaemonFirewalld = "firewalld"
	// DaemonUfw is ufw, loaded at boot by ufw-init as ufw.service does.
	DaemonUfw = "ufw"
)

// Event is something that happens to a running host after boot, which
// the credentials path and bridge egress must survive.
type Event string

const (
	// EventFirewalldReload is `firewall-cmd --reload`.
	EventFirewalldReload Event = "firewall-cmd --reload"
	// EventFirewalldRestart is `systemctl restart firewalld`: firewalld
	// stops (cleaning up its rules) and starts again.
	EventFirewalldRestart Event = "systemctl restart firewalld"
	// EventUfwReload is `ufw reload`.
	EventUfwReload Event = "ufw reload"
	// EventSysctlSystem is `sysctl --system`.
	EventSysctlSystem Event = "sysctl --system"
	// EventFirewalldStop is `systemctl stop firewalld`, as on a build
	// instance where the image is baked with firewalld stopped (not one of
	// Events: a host runs its firewall).
	EventFirewalldStop Event = "systemctl stop firewalld"
)

// Events returns the events that apply to the baseline, in the order
// tests run them.
func (b Baseline) Events() []Event {
	switch b.Daemon {
	case DaemonFirewalld:
		return []Event{EventFirewalldReload, EventFirewalldRestart, EventSysctlSystem}
	case DaemonUfw:
		return []Event{EventUfwReload, EventSysctlSystem}
	}
	return []Event{EventSysctlSystem}
}

// daemonCommands are the machine's commands of each daemon, hidden from
// baselines that do not run it.
var daemonCommands = map[string][]string{
	DaemonFirewalld: {"/usr/sbin/firewalld", "/usr/bin/firewall-cmd", "/usr/bin/firewall-offline-cmd"},
	DaemonUfw:       {"/usr/sbin/ufw", "/usr/lib/ufw", "/lib/ufw"},
}

// daemonNeeds are the machine's commands a daemon baseline runs, and the
// Debian packages that install them.
var daemonNeeds = map[string]struct{ cmds, packages []string }{
	DaemonFirewalld: {[]string{"/usr/sbin/firewalld", "/usr/bin/firewall-cmd", "/usr/bin/dbus-daemon", "/usr/bin/dbus-send"}, []string{"firewalld", "dbus"}},
	DaemonUfw:       {[]string{"/usr/sbin/ufw", "/usr/lib/ufw/ufw-init"}, []string{"ufw"}},
}

// checkDaemon fails with ErrUnsupported when the machine lacks what the
// baseline's daemon needs, naming the packages to install.
func (b Baseline) checkDaemon() error {
	need, ok := daemonNeeds[b.Daemon]
	if !ok {
		return nil
	}
	var missing []string
	for _, c := range need.cmds {
		if _, err := os.Stat(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: baseline %s runs %s: missing %s (apt-get install %s)", ErrUnsupported, b.Name, b.Daemon,
			strings.Join(missing, ", "), strings.Join(need.packages, " "))
	}
	return nil
}

// firewalldStartTimeout bounds how long firewalld may take to come up.
const firewalldStartTimeout = 30 * time.Second

// daemon is a long-running process the twin started at boot.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

// startLocked starts argv in the host for a caller that holds t.mu.
// Boot-time daemons are not bound to a context: teardown kills them.
func (t *Twin) startLocked(argv ...string) (*daemon, error) {
	cmd := exec.Command(t.tools.nsenter, t.nsenterArgs(inHost, argv)...)
	if err := t.startCmd(cmd, argv[0]); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait() //nolint:errcheck // teardown kills it; stop waits on done
		close(d.done)
	}()
	return d, nil
}

// startDaemon starts the baseline's firewall daemon, as the OS does early
// at boot: before Docker and the ECS agent.
func (t *Twin) startDaemon(ctx context.Context) error {
	switch t.baseline.Daemon {
	case "":
		return nil
	case DaemonFirewalld:
		if err := t.startBus(ctx); err != nil {
			return fmt.Errorf("dbus.service: %w", err)
		}
		if err := t.dockerFirewalldConfig(); err != nil {
			return err
		}
		return t.startFirewalld(ctx)
	case DaemonUfw:
		argv := []string{"/lib/ufw/ufw-init", "start"}
		if _, err := t.run(ctx, inHost, nil, argv); err != nil {
			return fmt.Errorf("ufw.service: %w", err)
		}
		t.logf("ufw.service: %s", strings.Join(argv, " "))
		return nil
	}
	return fmt.Errorf("baseline %s: unknown daemon %q", t.baseline.Name, t.baseline.Daemon)
}

// startBus starts a system D-Bus of the twin's own: the host's /run is
// private, so its socket is not the machine's.
func (t *Twin) startBus(ctx context.Context) error {
	if _, err := t.run(ctx, inHost, nil, []string{"mkdir", "-p", "/run/dbus"}); err != nil {
		return err
	}
	if _, err := t.startLocked("dbus-daemon", "--system", "--nofork", "--nopidfile"); err != nil {
		return err
	}
	if err := t.waitFor(ctx, 10*time.Second, []string{"test", "-S", "/run/dbus/system_bus_socket"}); err != nil {
		return fmt.Errorf("system bus socket: %w", err)
	}
	t.logf("dbus.service: dbus-daemon --system")
	return nil
}

// startFirewalld starts firewalld and waits until it says it runs.
func (t *Twin) startFirewalld(ctx context.Context) error {
	d, err := t.startLocked("firewalld", "--nofork", "--nopid")
	if err != nil {
		return fmt.Errorf("firewalld.service: %w", err)
	}
	t.firewalld = d
	// Asked on D-Bus, as firewall-cmd --state does, without starting a
	// Python interpreter per poll.
	state := []string{"sh", "-c", "dbus-send --system --print-reply --dest=org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 " +
		"org.freedesktop.DBus.Properties.Get string:org.fedoraproject.FirewallD1 string:state 2>/dev/null | grep -q RUNNING"}
	if err := t.waitFor(ctx, firewalldStartTimeout, state); err != nil {
		log, _ := fs.ReadFile(t.hostFS(), "var/log/firewalld")
		return fmt.Errorf("firewalld.service: not running after %s: %w\n%s", firewalldStartTimeout, err, tail(string(log), 20))
	}
	t.logf("firewalld.service: firewalld --nofork")
	return nil
}

// stopFirewalld stops firewalld as systemd does (SIGTERM, then wait):
// with CleanupOnExit=yes it removes its rules on the way out.
func (t *Twin) stopFirewalld(ctx context.Context) error {
	d := t.firewalld
	if d == nil {
		return errors.New("stop firewalld: it is not running")
	}
	// nsenter became firewalld (same PID).
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop firewalld: %w", err)
	}
	select {
	case <-d.done:
		t.firewalld = nil
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("stop firewalld: still running 15s after SIGTERM")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Docker's firewalld configuration, as dockerd writes it (permanent) at
// its first start on a host where firewalld runs.
const (
	dockerZoneXML = `<?xml version="1.0" encoding="utf-8"?>
<zone target="ACCEPT">
  <short>docker</short>
  <description>zone for docker bridge network interfaces</description>
</zone>
`
	dockerPolicyXML = `<?xml version="1.0" encoding="utf-8"?>
<policy target="ACCEPT">
  <short>docker-forwarding</short>
  <description>allow forwarding to the docker zone</description>
  <ingress-zone name="ANY"/>
  <egress-zone name="docker"/>
</policy>
`
)

// dockerFirewalldConfig writes what dockerd's first start leaves in
// /etc/firewalld (zone docker, policy docker-forwarding), unless it is
// there: the state of an ECS host after its first boot, without the
// firewalld reload dockerd does when it creates them (seconds per boot).
func (t *Twin) dockerFirewalldConfig() error {
	for _, f := range []struct{ path, data string }{
		{"/etc/firewalld/zones/docker.xml", dockerZoneXML},
		{"/etc/firewalld/policies/docker-forwarding.xml", dockerPolicyXML},
	} {
		name, _ := hostName(f.path)
		if _, err := fs.Stat(t.hostFS(), name); err == nil {
			continue
		}
		if err := t.writeFile(f.path, []byte(f.data), 0o644); err != nil {
			return fmt.Errorf("docker firewalld config: %w", err)
		}
	}
	return nil
}

// waitFor runs argv in the host until it succeeds or timeout passes.
func (t *Twin) waitFor(ctx context.Context, timeout time.Duration, argv []string) error {
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if _, err = t.run(ctx, inHost, nil, argv); err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dockerFirewalld does what dockerd does when firewalld runs (moby
// libnetwork/iptables/firewalld.go): it binds docker0 to its zone
// "docker" (target ACCEPT) on D-Bus, at runtime. The zone and the policy
// "docker-forwarding" are in /etc/firewalld since dockerd's first start
// (dockerFirewalldConfig, before firewalld starts).
func (t *Twin) dockerFirewalld(ctx context.Context) error {
	if t.baseline.Daemon != DaemonFirewalld {
		return nil
	}
	_, err := t.run(ctx, inHost, nil, []string{"dbus-send", "--system", "--print-reply", "--dest=org.fedoraproject.FirewallD1",
		"/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.zone.addInterface", "string:docker", "string:docker0"})
	var ee *ExecError
	if err != nil && !(errors.As(err, &ee) && strings.Contains(ee.Stderr, "ALREADY")) {
		return fmt.Errorf("bind docker0 to zone docker: %w", err)
	}
	t.logf("docker.service: firewalld zone docker (target ACCEPT) holds docker0; policy docker-forwarding")
	return nil
}

// Do makes e happen on the running host, with what the host's other
// services do in answer: dockerd, which listens for firewalld's Reloaded
// signal and its restart on D-Bus, puts its zone binding and its iptables
// rules back; ecs-init does not (it has no reload handler). The events of
// AgentEvents happen on every baseline.
func (t *Twin) Do(ctx context.Context, e Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.guard(); err != nil {
		return fmt.Errorf("%s in twin: %w", e, err)
	}
	allowed := append(t.baseline.Events(), AgentEvents()...)
	if t.baseline.Daemon == DaemonFirewalld {
		allowed = append(allowed, EventFirewalldStop)
	}
	if !slices.Contains(allowed, e) {
		return fmt.Errorf("%s in twin %s: not an event of baseline %s", e, t.name, t.baseline.Name)
	}
	var err error
	switch e {
	case EventFirewalldReload:
		if _, err = t.run(ctx, inHost, nil, []string{"firewall-cmd", "--reload"}); err == nil {
			err = t.dockerReacts(ctx)
		}
	case EventFirewalldRestart:
		if err = t.stopFirewalld(ctx); err == nil {
			if err = t.startFirewalld(ctx); err == nil {
				err = t.dockerReacts(ctx)
			}
		}
	case EventFirewalldStop:
		err = t.stopFirewalld(ctx)
	case EventUfwReload:
		_, err = t.run(ctx, inHost, nil, []string{"ufw", "reload"})
	case EventSysctlSystem:
		_, err = t.run(ctx, inHost, nil, []string{"sysctl", "--system"})
		if t.ipv6Off && onlyMissingIPv6(err) {
			// Its exit status on a kernel without IPv6 whose sysctl
			// files set net.ipv6 keys; everything else was applied.
			err = nil
		}
	default:
		err = t.agentEvent(ctx, e)
	}
	if err != nil {
		return fmt.Errorf("%s in twin %s: %w", e, t.name, err)
	}
	return nil
}

// onlyMissingIPv6 says err is sysctl failing only on keys under
// /proc/sys/net/ipv6.
func onlyMissingIPv6(err error) bool {
	var ee *ExecError
	if !errors.As(err, &ee) || ee.ExitCode != 1 {
		return false
	}
	for _, line := range strings.Split(strings.TrimSpace(ee.Stderr), "\n") {
		if !strings.HasPrefix(line, "sysctl: cannot stat /proc/sys/net/ipv6/") {
			return false
		}
	}
	return true
}

// dockerReacts is dockerd's answer to a firewalld reload or restart.
func (t *Twin) dockerReacts(ctx context.Context) error {
	if err := t.dockerFirewalld(ctx); err != nil {
		return fmt.Errorf("docker.service: %w", err)
	}
	return t.applyDockerRules(ctx)
}

// hideDaemons returns the machine's daemon commands the baseline does not
// run, for the disk to hide.
func (b Baseline) hideDaemons() []string {
	var out []string
	for d, cmds := range daemonCommands {
		if d == b.Daemon {
			continue
		}
		for _, c := range cmds {
			if _, err := os.Lstat(c); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
