package provisioner_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/internal/packertest"
	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
)

// e2eResult holds the figures of one end-to-end build.
type e2eResult struct {
	total, build, provisioner time.Duration
}

// runE2E boots a twin of baseline, starts sshd in its host, runs a real
// packer build of testdata/e2e.pkr.hcl from the VPC namespace, reboots the
// twin and probes both tasks' credentials.
func runE2E(ctx context.Context, tb testing.TB, baseline string) e2eResult {
	tb.Helper()
	start := time.Now()
	packer, plugins := packertest.Tool(tb)
	tw := twintest.New(tb, baseline)

	// What the agent step would have installed, which cannot run offline.
	for _, unit := range []string{"docker.service", "ecs.service"} {
		stub := "[Unit]\nDescription=" + unit + " (installed by the agent step)\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
		if err := tw.WriteFile("/etc/systemd/system/"+unit, []byte(stub), 0o644); err != nil {
			tb.Fatal(err)
		}
	}

	// sshd in the twin host, with its keys in the twin's private /run so
	// that the cleanup step's removal of host keys does not cut the build.
	dir := tb.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		tb.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		tb.Fatal(err)
	}
	const sshdDir = "/run/cisecs-e2e"
	sshdConfig := strings.Join([]string{
		"ListenAddress " + twin.HostAddr, "Port 22",
		"HostKey " + sshdDir + "/host_key",
		"AuthorizedKeysFile " + sshdDir + "/authorized_keys",
		"PermitRootLogin prohibit-password", "PasswordAuthentication no",
		"KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
		"PidFile " + sshdDir + "/sshd.pid", "Subsystem sftp internal-sftp", "",
	}, "\n")
	for path, data := range map[string][]byte{sshdDir + "/sshd_config": []byte(sshdConfig), sshdDir + "/authorized_keys": pub} {
		if err := tw.WriteFile(path, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	for _, argv := range [][]string{
		{"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", sshdDir + "/host_key"},
		{"install", "-d", "-m", "0755", "/run/sshd"},
	} {
		if _, err := tw.Exec(ctx, nil, argv...); err != nil {
			tb.Fatal(err)
		}
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := tw.Start(ctx, sshd, "-D", "-e", "-f", sshdDir+"/sshd_config"); err != nil {
		tb.Fatal(err)
	}
	sshAddr := net.JoinHostPort(twin.HostAddr, "22")
	for deadline := time.Now().Add(5 * time.Second); tw.Connect(ctx, twin.VPC, sshAddr) != nil; {
		if time.Now().After(deadline) {
			tb.Fatalf("sshd in the twin does not answer on %s", sshAddr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The build, from the VPC: the CIS firewall lets 22/tcp in.
	tmpl, err := filepath.Abs(filepath.Join("testdata", "e2e.pkr.hcl"))
	if err != nil {
		tb.Fatal(err)
	}
	buildStart := time.Now()
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+tw.NetNS(twin.VPC), packer, "build",
		"-var", "host="+twin.HostAddr, "-var", "private_key_file="+key, tmpl)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PACKER_PLUGIN_PATH="+plugins, "CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	build := time.Since(buildStart)
	tb.Logf("packer build:\n%s", out)
	if err != nil {
		tb.Fatalf("packer build: %v", err)
	}

	// The report came back through the plugin's download.
	b, err := os.ReadFile(filepath.Join(dir, "cisecs-report.json"))
	if err != nil {
		tb.Fatalf("report not downloaded: %v", err)
	}
	rep, err := hostscript.ParseReport(b)
	if err != nil {
		tb.Fatalf("report: %v\n%s", err, b)
	}
	steps := rep.StepNames()
	if rep.Result != "ok" || strings.Join(steps, " ") != "detect config layers firewall persist sysctl services cleanup" {
		tb.Errorf("report: result %q, steps %v", rep.Result, steps)
	}

	// What the steps left on the image's disk.
	checks := []struct {
		what string
		argv []string
	}{
		{"ecs.config has task roles and no cluster", []string{"sh", "-c", "grep -qx ECS_ENABLE_TASK_IAM_ROLE=true /etc/ecs/ecs.config && grep -qx ECS_AWSVPC_BLOCK_IMDS=true /etc/ecs/ecs.config && ! grep -q ECS_CLUSTER /etc/ecs/ecs.config"}},
		{"docker and ecs enabled", []string{"sh", "-c", "test -L /etc/systemd/system/multi-user.target.wants/ecs.service && test -L /etc/systemd/system/multi-user.target.wants/docker.service"}},
		{"machine identity removed", []string{"sh", "-c", "test ! -s /etc/machine-id && ! ls /etc/ssh/ssh_host_*_key 2>/dev/null"}},
	}
	for _, c := range checks {
		if _, err := tw.Exec(ctx, nil, c.argv...); err != nil {
			tb.Errorf("%s: %v", c.what, err)
		}
	}

	// The image boots: tasks reach their credentials, ecs-init's rules once.
	if err := tw.Reboot(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, task := range twin.Tasks() {
		if _, err := tw.Credentials(ctx, task); err != nil {
			tb.Errorf("after the build and a reboot: %s task: %v", task, err)
		}
	}
	twintest.ECSInitRulesOnce(ctx, tb, tw)
	// And keeps them through what a running host meets: its firewall
	// reloaded and restarted, sysctl --system.
	for _, e := range tw.Baseline().Events() {
		if err := tw.Do(ctx, e); err != nil {
			tb.Fatal(err)
		}
		for _, task := range twin.Tasks() {
			if _, err := tw.Credentials(ctx, task); err != nil {
				tb.Errorf("after the build, a reboot and %s: %s task: %v", e, task, err)
			}
		}
	}
	return e2eResult{total: time.Since(start), build: build, provisioner: provisionerShare(tb, out)}
}

var took = regexp.MustCompile(`cisecs: report saved to .* \(upload, run and download took ([0-9.]+)s\)`)

// provisionerShare is the plugin's own account of its time, from its last
// UI line.
func provisionerShare(tb testing.TB, out []byte) time.Duration {
	m := took.FindSubmatch(out)
	if m == nil {
		tb.Errorf("packer output lacks the plugin's closing line with its time")
		return 0
	}
	d, err := time.ParseDuration(string(m[1]) + "s")
	if err != nil {
		tb.Error(err)
	}
	return d
}

// TestPackerBuildE2E is a real packer build with our plugin against the
// host twin, for an nftables, an iptables, a firewalld and a ufw CIS
// baseline.
func TestPackerBuildE2E(t *testing.T) {
	for _, baseline := range []string{"al2023-nftables", "rhel9-iptables-reject", "al2023-firewalld", "ubuntu2404-ufw"} {
		t.Run(baseline, func(t *testing.T) {
			r := runE2E(t.Context(), t, baseline)
			t.Logf("e2e %s: %.1fs in all, packer build %.1fs, provisioner %.1fs", baseline, r.total.Seconds(), r.build.Seconds(), r.provisioner.Seconds())
		})
	}
}

// BenchmarkE2E measures the end-to-end build and the provisioner's own
// share of it.
func BenchmarkE2E(b *testing.B) {
	var sum e2eResult
	for b.Loop() {
		r := runE2E(b.Context(), b, "al2023-nftables")
		sum.total += r.total
		sum.provisioner += r.provisioner
	}
	n := float64(b.N)
	b.ReportMetric(sum.provisioner.Seconds()/n, "s/provisioner")
	budget.Max(b, "e2e packer build against the twin", sum.total.Seconds()/n, 60, "s/e2e")
}
