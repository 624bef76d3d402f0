package awsgate_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestGateHostHealthOverSSM: the host-health check runs its script through
// SSM Run Command, fed to bash; a clock off its sources fails the gate,
// and the diagnostics then hold the wedged host's signals.
func TestGateHostHealthOverSSM(t *testing.T) {
	var scripts []string
	o := awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe,
		Command: func(cmd string) (string, string, bool) {
			if !strings.HasPrefix(cmd, "bash -s <<'CISECS_HOST_SCRIPT'\n") || !strings.HasSuffix(cmd, "\nCISECS_HOST_SCRIPT") {
				return "output of " + cmd + "\n", "", true
			}
			scripts = append(scripts, cmd)
			out := "avc_denials=0\ndocker_fs=/var/lib/docker\ndocker_fs_avail_bytes=53687091200\nclock_offset_seconds=5.000000000 fast\nclock_leap_status=Normal\n"
			if strings.Contains(cmd, "timeout 10 docker ps") {
				out += "docker_ps=timed out after 10s\nagent_docker_timeouts=3\nsystem_state=degraded\n"
			}
			return out, "", true
		}}
	inBubble(t, o, func(t *testing.T, e *env) {
		r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
			ImageID: testAMI, RoleARN: testRole, RunID: runID(t), NetworkModes: []string{release.ModeAWSVPC},
		})
		i := slices.IndexFunc(r.Checks, func(c validate.Check) bool { return c.Name == validate.CheckHostHealth })
		if r.ExitCode() != validate.ExitFail || i < 0 || r.Checks[i].Status != validate.StatusFail || !strings.Contains(r.Checks[i].Message, "the clock is 5s off") {
			t.Fatalf("gate %s, checks %+v: want host-health to fail on the clock", r.Summary(), r.Checks)
		}
		if len(scripts) != 2 {
			t.Errorf("%d host scripts sent, want the check's and the diagnostics'", len(scripts))
		}
		if sig := r.Diagnostics["host signals"]; !strings.Contains(sig, "docker_ps=timed out after 10s") || !strings.Contains(sig, "system_state=degraded") {
			t.Errorf("diagnostics' host signals %q", sig)
		}
		if r.Cleanup.Status != validate.CleanupDone {
			t.Errorf("cleanup %+v", r.Cleanup)
		}
		e.assertClean(t, runID(t))
	})
}

// TestHostCommand: sh, as AWS-RunShellScript runs it, hands the script to
// bash unexpanded.
func TestHostCommand(t *testing.T) {
	script := "set -euo pipefail\nx='it''s'\necho \"$x $(echo sub) ${BASH_VERSION:+bash}\"\necho '$HOME' \"\\$\"\n"
	out, err := exec.Command("sh", "-c", awsgate.HostCommand(script)).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c: %v\n%s", err, out)
	}
	if got, want := string(out), "its sub bash\n$HOME $\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}
