package hostscript

import (
	"bytes"
	"fmt"
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

// TestReportNamesTheInstalledAgent writes the report with the agent's
// package as rpm or dpkg-query answers for it: the report says that
// version (the gate tags the released AMI with it), and nothing when no
// agent package is installed. (The agent step asks the same function
// whether to install: before, rpm's "package ecs-init is not installed"
// read as an installed agent.)
func TestReportNamesTheInstalledAgent(t *testing.T) {
	for i, tc := range []struct {
		family, shim, want string
	}{
		{"al2023", `rpm() { [[ $* == "-q --qf %{VERSION} ecs-init" ]] && echo 1.101.2; }`, "1.101.2"},
		{"rhel", `rpm() { [[ $* == "-q --qf %{VERSION} amazon-ecs-init" ]] && echo 1.101.2; }`, "1.101.2"},
		{"ubuntu", `dpkg-query() { [[ $* == *amazon-ecs-init ]] && echo "installed 1.101.2-1"; }`, "1.101.2-1"},
		// rpm says so on stdout, and fails.
		{"al2023", `rpm() { echo "package ecs-init is not installed"; return 1; }`, ""},
		// Removed, its configuration kept: dpkg-query still knows it.
		{"ubuntu", `dpkg-query() { echo "config-files 1.101.2-1"; }`, ""},
	} {
		t.Run(fmt.Sprint(i, tc.family), func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "report.json")
			script, err := Render(Options{ReportPath: report})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-c", "source /dev/stdin\n"+tc.shim+"\nFAMILY="+tc.family+"\nwrite_report ok")
			cmd.Env = append(os.Environ(), "CISECS_SOURCE_ONLY=1")
			cmd.Stdin = bytes.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("write_report: %v\n%s", err, out)
			}
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseReport(b)
			if err != nil || !bytes.Contains(b, []byte(`"ecs_agent": {"version": `)) || r.ECSAgent.Version != tc.want {
				t.Errorf("report %s (%v): want schema %s and ecs_agent.version %q", b, err, ReportSchema, tc.want)
			}
		})
	}
}
