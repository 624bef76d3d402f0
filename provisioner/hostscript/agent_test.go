package hostscript

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAL2AgentFromTheEcsExtra runs the agent step on Amazon Linux 2 with
// amazon-linux-extras and yum recording what they are asked: the agent and
// its Docker come from the ecs extra, and the docker extra, whose Docker
// conflicts with it, is disabled first (AWS's install steps for AL2).
func TestAL2AgentFromTheEcsExtra(t *testing.T) {
	script, err := Render(Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "calls")
	installed := filepath.Join(t.TempDir(), "installed")
	cmd := exec.Command("bash", "-c", `source /dev/stdin
calls=$0 installed=$1
amazon-linux-extras() { echo "amazon-linux-extras $*" >>"$calls"; }
yum() { echo "yum $*" >>"$calls"; : >"$installed"; }
agent_installed() { [[ -e $installed ]] && echo 1.99.0; }
FAMILY=al2 CURRENT_STEP=agent
step_agent`, log, installed)
	cmd.Env = append(os.Environ(), "CISECS_SOURCE_ONLY=1")
	cmd.Stdin = bytes.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("agent step: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		"amazon-linux-extras disable docker",
		"amazon-linux-extras enable ecs",
		"yum install -y docker ecs-init",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}
