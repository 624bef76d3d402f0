package twingate_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twingate"
)

// planted is a twin backend on which plant runs once the host is up: what
// the test puts there stands in for a host gone wrong.
type planted struct {
	*twingate.Backend
	plant func(ctx context.Context, tw *twin.Twin) error
}

func (p planted) Launch(ctx context.Context, probes []validate.Probe) error {
	if err := p.Backend.Launch(ctx, probes); err != nil {
		return err
	}
	return p.plant(ctx, p.Backend.Twin())
}

// standInScript is a command of the OS the test stands in for.
func standIn(tw *twin.Twin, name, body string) error {
	return tw.WriteFile("/usr/local/sbin/"+name, []byte("#!/bin/sh\n"+body+"\n"), 0o755)
}

func shIn(ctx context.Context, tw *twin.Twin, cmd string) error {
	_, err := tw.Exec(ctx, nil, "sh", "-c", cmd)
	return err
}

// TestGateHostHealth: the host-health check fails the gate on an AVC
// denial since boot, a Docker filesystem short of room and a clock off
// its sources, each planted on a provisioned twin; on failure the
// diagnostics hold a wedged host's signals.
func TestGateHostHealth(t *testing.T) {
	tests := []struct {
		name  string
		plant func(ctx context.Context, tw *twin.Twin) error
		want  string
	}{
		{"avc denial", func(ctx context.Context, tw *twin.Twin) error {
			return standIn(tw, "ausearch", `echo '----'; echo 'type=AVC msg=audit(1733616000.123:456): avc:  denied  { connectto } for  pid=1234 comm="agent" path="/run/docker.sock" scontext=system_u:system_r:container_t:s0 tcontext=system_u:system_r:container_runtime_t:s0 tclass=unix_stream_socket permissive=0'`)
		}, "1 SELinux AVC denials since boot"},
		{"docker filesystem full", func(ctx context.Context, tw *twin.Twin) error {
			return shIn(ctx, tw, "mkdir -p /var/lib/docker && mount -t tmpfs -o size=64m,nodev,nosuid small-var /var/lib/docker")
		}, "Docker's filesystem /var/lib/docker has 64 MiB free, below 2048 MiB"},
		{"clock off", func(ctx context.Context, tw *twin.Twin) error {
			return standIn(tw, "chronyc", `cat <<'EOT'
Reference ID    : A9FEA97B (169.254.169.123)
Stratum         : 4
System time     : 3.250000000 seconds fast of NTP time
Last offset     : +3.250000000 seconds
Leap status     : Normal
EOT`)
		}, "the clock is 3.25s off its time sources"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := launchOn(t, "al2023-nftables", twingate.Options{})
			wedge := func(ctx context.Context, tw *twin.Twin) error {
				if err := tc.plant(ctx, tw); err != nil {
					return err
				}
				// A wedged host's signals, for the diagnostics.
				for name, body := range map[string]string{
					"dmesg":     `echo '[ 812.5] unregister_netdevice: waiting for veth1a2b3c4d to become free. Usage count = 1'`,
					"docker":    `exec sleep 11`,
					"systemctl": `case "$1" in is-system-running) echo degraded; exit 1 ;; esac`,
				} {
					if err := standIn(tw, name, body); err != nil {
						return err
					}
				}
				return shIn(ctx, tw, "mkdir -p /var/log/ecs && echo 'level=error msg=\"DockerTimeoutError: Could not transition to inspecting\"' >/var/log/ecs/ecs-agent.log")
			}
			r := validate.Run(t.Context(), planted{b, wedge}, gateOptions(t, b))
			if r.ExitCode() != validate.ExitFail {
				t.Fatalf("exit %d, want %d: %s", r.ExitCode(), validate.ExitFail, r.Summary())
			}
			i := slices.IndexFunc(r.Checks, func(c validate.Check) bool { return c.Name == validate.CheckHostHealth })
			if i < 0 || r.Checks[i].Status != validate.StatusFail || !strings.Contains(r.Checks[i].Message, tc.want) {
				t.Fatalf("checks %+v: want %s to fail saying %q", r.Checks, validate.CheckHostHealth, tc.want)
			}
			for _, c := range r.Checks[:i] {
				if c.Status != validate.StatusPass {
					t.Errorf("check %s %s before host-health, want pass", c.Name, c.Status)
				}
			}
			sig := r.Diagnostics["host signals"]
			for _, w := range []string{"dmesg=[ 812.5] unregister_netdevice", "docker_ps=timed out after 10s", "agent_docker_timeouts=1", "system_state=degraded"} {
				if !strings.Contains(sig, w) {
					t.Errorf("diagnostics' host signals lack %q:\n%s", w, sig)
				}
			}
		})
	}
}
