package twin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
)

// What happens to ecs.service and Docker on a running host. Each runs the
// commands of ECSInit.Stop and ECSInit.Start that the packaged units run
// (aws/amazon-ecs-agent packaging/*/ecs.service: ExecStartPre pre-start,
// ExecStart start, ExecStop stop, ExecStopPost post-stop).
const (
	// EventAgentStop is `systemctl stop ecs`: the agent stops, then
	// post-stop deletes ecs-init's rules and restores route_localnet.
	EventAgentStop Event = "systemctl stop ecs"
	// EventAgentStart is `systemctl start ecs`: pre-start adds the rules
	// again (-I at the top of INPUT, -A at the end of the nat chains),
	// then the agent starts.
	EventAgentStart Event = "systemctl start ecs"
	// EventAgentRestart is `systemctl restart ecs`: stop, then start.
	EventAgentRestart Event = "systemctl restart ecs"
	// EventAgentCrash is ecs-init exiting with a failure (its agent gone):
	// Restart=on-failure runs stop and post-stop, then start again after
	// RestartSec=10s, which the twin does at once.
	EventAgentCrash Event = "ecs-init exits with a failure"
	// EventDockerRestart is `systemctl restart docker`: dockerd stops and
	// starts again, making sure of its chains and rules (and, with
	// firewalld, binding docker0 to its zone). From agent 1.86.1 the
	// agent's unit is PartOf=docker.service, so ecs restarts around it.
	EventDockerRestart Event = "systemctl restart docker"
)

// AgentEvents returns the events of the agent's and Docker's units, in the
// order tests run them; every baseline has them.
func AgentEvents() []Event {
	return []Event{EventAgentStop, EventAgentStart, EventAgentRestart, EventAgentCrash, EventDockerRestart}
}

// AgentRunning says ecs.service is active and the agent serves.
func (t *Twin) AgentRunning() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.up && t.ecsActive
}

// ecsInit returns the ecs-init of the running host: its version, the
// environment ecs.service gives it, and what it finds (the default
// route's interface, whether /proc/sys/net/ipv6 exists; Docker's default
// bridge is docker0).
func (t *Twin) ecsInit() (ECSInit, error) {
	cfg, err := t.ecsConfig()
	if err != nil {
		return ECSInit{}, err
	}
	route, err := t.defaultRouteInterface()
	if err != nil {
		return ECSInit{}, err
	}
	return ECSInit{Version: t.agentVersion, Config: cfg, IPv6: !t.ipv6Off, Bridge: "docker0", DefaultRoute: route}, nil
}

// defaultRouteInterface reads the host's /proc/net/route as ecs-init does
// (v1.96.0 iptables.go:264-286): the first non-loopback interface with
// destination 0.0.0.0.
func (t *Twin) defaultRouteInterface() (string, error) {
	var iface string
	err := ns.WithNetNSPath(t.NetNS(Host), func(ns.NetNS) error {
		data, err := os.ReadFile("/proc/thread-self/net/route")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 1 && f[1] == "00000000" && f[0] != "lo" {
				iface = f[0]
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("default route: %w", err)
	}
	return iface, nil
}

// ecsEnvironmentFiles are the EnvironmentFiles of the baseline's packaged
// ecs.service, in order (a later file wins): Amazon Linux's unit reads
// /etc/ecs/ecs.config only; the generic rpm and deb units read
// /var/lib/ecs/ecs.config first.
func (b Baseline) ecsEnvironmentFiles() []string {
	if b.OS.ID == "amzn" {
		return []string{ecsConfigPath}
	}
	return []string{"/var/lib/ecs/ecs.config", ecsConfigPath}
}

// ecsConfig reads the EnvironmentFiles of ecs.service from the host's disk,
// as systemd does: a missing file is skipped, a later assignment wins.
func (t *Twin) ecsConfig() (map[string]string, error) {
	cfg := map[string]string{}
	for _, p := range t.baseline.ecsEnvironmentFiles() {
		name, _ := hostName(p)
		data, err := fs.ReadFile(t.hostFS(), name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for k, v := range parseEnvFile(data) {
			cfg[k] = v
		}
	}
	return cfg, nil
}

// ecsInitStarts runs ExecStartPre (`amazon-ecs-init pre-start`). When it
// fails, systemd runs ExecStopPost and the unit is failed; the boot goes
// on, the agent does not start, and Restart=on-failure would try again
// every 10 s to the same end.
func (t *Twin) ecsInitStarts(ctx context.Context) error {
	t.ecsActive = false
	e, err := t.ecsInit()
	if err != nil {
		return fmt.Errorf("ecs.service: %w", err)
	}
	start, err := e.Start()
	if err == nil {
		var n int
		if n, err = t.runECSInit(ctx, start); err == nil {
			t.ecsActive = true
			t.logf("ecs.service: pre-start: %d commands (ecs-init of agent %s)", n, e.version())
			return nil
		}
	}
	t.logf("ecs.service: pre-start failed: %v", err)
	if stop, serr := e.Stop(); serr == nil {
		t.runECSInit(ctx, stop) //nolint:errcheck // post-stop's failures are logged, as ecs-init does
	}
	t.logf("ecs.service: failed; the agent does not run")
	return nil
}

// version returns the agent version, CurrentAgentVersion when unset.
func (e ECSInit) version() string {
	if e.Version == "" {
		return CurrentAgentVersion
	}
	return e.Version
}

// runECSInit runs ecs-init's commands in the host, as ecs-init does: a
// command marked AfterOK only if the one before it succeeded, a failed
// Fatal command ending the run. It returns how many ran.
func (t *Twin) runECSInit(ctx context.Context, cmds []ECSInitCommand) (int, error) {
	ran, prevOK, prevOut := 0, true, ""
	for _, c := range cmds {
		if c.AfterOK && !prevOK {
			continue
		}
		argv := make([]string, len(c.Argv))
		for i, a := range c.Argv {
			argv[i] = strings.ReplaceAll(a, routeLocalnetDefault, prevOut)
		}
		out, err := t.run(ctx, inHost, nil, argv)
		ran++
		prevOK = err == nil
		// `sysctl KEY` prints "KEY = VALUE" (sysctl.go:113-126).
		_, v, _ := strings.Cut(string(out), "=")
		prevOut = strings.TrimSpace(v)
		if err != nil {
			if c.Fatal {
				return ran, err
			}
			t.logf("ecs-init: %v (ignored)", err)
		}
	}
	return ran, nil
}

// ecsStops runs ExecStop (the agent stops serving) and ExecStopPost
// (`amazon-ecs-init post-stop`). It does nothing when ecs is not active.
func (t *Twin) ecsStops(ctx context.Context) error {
	if !t.ecsActive {
		return nil
	}
	t.stopAgent()
	t.ecsActive = false
	e, err := t.ecsInit()
	if err != nil {
		return fmt.Errorf("ecs.service: %w", err)
	}
	stop, err := e.Stop()
	if err != nil {
		return fmt.Errorf("ecs.service: post-stop: %w", err)
	}
	n, err := t.runECSInit(ctx, stop)
	if err != nil {
		return fmt.Errorf("ecs.service: post-stop: %w", err)
	}
	t.logf("ecs.service: stopped; post-stop: %d commands", n)
	return nil
}

// ecsStarts runs ExecStartPre and ExecStart. It does nothing when ecs is
// active; a failed pre-start is an error.
func (t *Twin) ecsStarts(ctx context.Context) error {
	if t.ecsActive {
		return nil
	}
	if err := t.ecsInitStarts(ctx); err != nil {
		return err
	}
	if !t.ecsActive {
		return errors.New("ecs.service: start failed (see the journal)")
	}
	return t.startAgentServers()
}

// agentEvent makes an event of AgentEvents happen; the caller holds t.mu.
func (t *Twin) agentEvent(ctx context.Context, e Event) error {
	switch e {
	case EventAgentStop:
		return t.ecsStops(ctx)
	case EventAgentStart:
		return t.ecsStarts(ctx)
	case EventAgentRestart:
		if err := t.ecsStops(ctx); err != nil {
			return err
		}
		return t.ecsStarts(ctx)
	case EventAgentCrash:
		if !t.ecsActive {
			return errors.New("ecs.service is not running")
		}
		// The agent is gone before ExecStop runs; RestartSec=10s passes
		// at once.
		t.stopAgent()
		if err := t.ecsStops(ctx); err != nil {
			return err
		}
		return t.ecsStarts(ctx)
	case EventDockerRestart:
		return t.dockerRestarts(ctx)
	}
	return fmt.Errorf("not an agent event: %q", e)
}

// dockerRestarts is `systemctl restart docker`. dockerd's stop leaves its
// chains, rules and docker0 in place; its start makes sure of them. From
// agent 1.86.1, PartOf=docker.service turns the restart into a restart of
// an active ecs.service too (a try-restart: a stopped one stays stopped),
// stopped before dockerd and started after it (After=docker.service).
// Before, the agent's container dies with dockerd and ecs-init's
// supervisor starts it again once dockerd is back, rules untouched.
func (t *Twin) dockerRestarts(ctx context.Context) error {
	partOf := partOfDocker(t.agentVersion) && t.ecsActive
	wasActive := t.ecsActive
	if partOf {
		if err := t.ecsStops(ctx); err != nil {
			return err
		}
	} else if wasActive {
		t.stopAgent()
	}
	if err := t.dockerStarts(ctx); err != nil {
		return err
	}
	switch {
	case partOf:
		return t.ecsStarts(ctx)
	case wasActive:
		return t.startAgentServers()
	}
	return nil
}
