package hostscript_test

// These tests run the layers step of the rendered host script inside the
// host twin, on the files each baseline's hardening writes (SELinux's
// config, auditd.conf, modprobe.d, AppArmor's profiles, sudoers, chrony
// and timesyncd) and on filesystems the test mounts in the twin's own mount
// namespace (a small separate /var, a loop device for Docker's volume).
//
// SELinux and AppArmor cannot run in a namespace: where the script asks
// the OS (getenforce, rpm -q container-selinux, dnf install,
// apparmor_parser), the test puts a stand-in for the OS's command on the
// twin's PATH (/usr/local/sbin), recording how it was called. What the
// kernel then does with the policy stays unproven offline.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
)

// layerReport is the report, read for its layers.
type layerReport struct{ report }

func (r layerReport) field(layer, key string) string { return r.Layers[layer][key] }

// layerNames are the layers every report must hold, on every host.
var layerNames = []string{"selinux", "storage", "audit", "modules", "apparmor", "sudo", "time"}

// runLayers renders the script with opts and runs it in tw with env (as
// VAR=value words), returning the report, the combined output and the
// script's error.
func runLayers(ctx context.Context, t *testing.T, tw *twin.Twin, opts hostscript.Options, env ...string) (layerReport, string, error) {
	t.Helper()
	script, err := hostscript.Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteFile("/tmp/cisecs.sh", script, 0o700); err != nil {
		t.Fatal(err)
	}
	// A report left by an earlier run must not be read as this run's.
	if _, err := tw.Exec(ctx, nil, "rm", "-f", hostscript.DefaultReportPath); err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string{"env"}, env...), "bash", "/tmp/cisecs.sh")
	out, runErr := tw.Exec(ctx, nil, argv...)
	combined := string(out)
	var ee *twin.ExecError
	if errorsAs(runErr, &ee) {
		combined += ee.Stderr
	}
	t.Logf("script output:\n%s", combined)
	var rep layerReport
	if b, err := tw.ReadFile(hostscript.DefaultReportPath); err == nil {
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, b)
		}
	}
	return rep, combined, runErr
}

// sh runs a shell command in the twin's host and fails the test if it
// fails.
func sh(ctx context.Context, t *testing.T, tw *twin.Twin, cmd string) string {
	t.Helper()
	out, err := tw.Exec(ctx, nil, "sh", "-c", cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out)
}

// standIn puts an executable shell script called name on the twin's PATH,
// standing in for the OS's command of that name. Each call is appended to
// /tmp/stand-in.log.
func standIn(t *testing.T, tw *twin.Twin, name, body string) {
	t.Helper()
	script := "#!/bin/sh\necho \"" + name + " $*\" >>/tmp/stand-in.log\n" + body + "\n"
	if err := tw.WriteFile("/usr/local/sbin/"+name, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// layersOnly runs detect, layers and report.
func layersOnly(l hostscript.Layers) hostscript.Options {
	return hostscript.Options{Steps: []string{"layers"}, Layers: l}
}

// TestLayersReportedEverywhere: on every baseline, as it comes, the report
// holds every layer with a status, and the layers step's second run
// changes nothing.
func TestLayersReportedEverywhere(t *testing.T) {
	for _, b := range twin.Baselines() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			tw := twintest.New(t, b.Name)
			rep, _, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}))
			if err != nil {
				t.Fatalf("layers step failed: %v", err)
			}
			for _, l := range layerNames {
				if rep.field(l, "status") == "" {
					t.Errorf("report layer %q has no status: %v", l, rep.Layers[l])
				}
			}
			// Read from each baseline's rules: only UBUNTU22-CIS's ufw
			// (outgoing 53, 80, 443) drops udp to port 123.
			if blocked := strings.HasPrefix(rep.field("time", "firewall"), "blocked"); blocked != (b.Name == "ubuntu2204-ufw") {
				t.Errorf("time firewall %q", rep.field("time", "firewall"))
			}
			again, _, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}))
			if err != nil {
				t.Fatalf("second run failed: %v", err)
			}
			if c := again.changed(); len(c) > 0 {
				t.Errorf("second run changed %q, want nothing", c)
			}
		})
	}
}

// errorsAs is errors.As, kept apart so that this file's imports say what
// it uses.
func errorsAs(err error, target **twin.ExecError) bool {
	for err != nil {
		if e, ok := err.(*twin.ExecError); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// loopDevice attaches a sparse file of gib GiB as a loop device, detached
// when the test ends: the twin's stand-in for an EBS volume.
func loopDevice(t *testing.T, gib int) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "volume.img")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f, int64(gib)<<30); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", f).Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", dev).Run() })
	return dev
}

// imagePull writes what a pull of a layer of mib MiB writes under
// /var/lib/docker/tmp, and removes it; it returns the shell's error.
func imagePull(ctx context.Context, tw *twin.Twin, mib int) error {
	_, err := tw.Exec(ctx, nil, "sh", "-c", fmt.Sprintf(
		"mkdir -p /var/lib/docker/tmp && trap 'rm -f /var/lib/docker/tmp/layer.tar.gz' EXIT && head -c %d /dev/zero >/var/lib/docker/tmp/layer.tar.gz", mib<<20))
	return err
}

// TestLayersDockerStorage: on a CIS layout with a small /var of its own
// (nodev,nosuid), an image pull fails with ENOSPC; the layers step refuses
// the host, changing nothing, until docker_volume gives /var/lib/docker a
// volume, which it formats and mounts by label; the pull then fits.
func TestLayersDockerStorage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tw := twintest.New(t, "al2023-nftables")
	sh(ctx, t, tw, "mount -t tmpfs -o size=64m,nodev,nosuid,mode=0755 cis-var /var")

	err := imagePull(ctx, tw, 100)
	var ee *twin.ExecError
	if !errorsAs(err, &ee) || !strings.Contains(ee.Stderr, "No space left on device") {
		t.Fatalf("control: a 100 MiB pull on a 64 MiB /var: %v, want ENOSPC", err)
	}

	_, out, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}))
	if err == nil || !strings.Contains(out, "docker_volume { size_gb = 100 }") || !strings.Contains(out, "no space left on device") {
		t.Fatalf("small /var without docker_volume: err %v, want a refusal naming docker_volume and ENOSPC", err)
	}
	if got := sh(ctx, t, tw, "ls /etc/ecs 2>/dev/null; cat /etc/fstab 2>/dev/null; true"); got != "" {
		t.Errorf("the refusal changed files: %q", got)
	}
	// The standalone firewall fix on such a running host: a finding, not
	// a refusal.
	rep, _, err := runLayers(ctx, t, tw, hostscript.Options{Steps: []string{"firewall", "persist"}})
	if err != nil || !slices.Contains(rep.findingIDs(), "layer-storage") || rep.field("storage", "status") != "refused" {
		t.Errorf("standalone fix on a small /var: err %v, findings %v, storage %v; want it to run and report the refusal", err, rep.findingIDs(), rep.Layers["storage"])
	}

	dev := loopDevice(t, 1)
	vol := hostscript.Layers{DockerVolume: hostscript.Volume{SizeGB: 1, Device: dev}}
	rep, _, err = runLayers(ctx, t, tw, layersOnly(vol))
	if err != nil {
		t.Fatalf("with docker_volume: %v", err)
	}
	mnt := strings.Fields(sh(ctx, t, tw, "findmnt -n -o SOURCE,FSTYPE,OPTIONS -M /var/lib/docker"))
	if len(mnt) != 3 || mnt[0] != dev || mnt[1] != "ext4" || !strings.Contains(","+mnt[2]+",", ",nodev,") || !strings.Contains(","+mnt[2]+",", ",nosuid,") {
		t.Errorf("/var/lib/docker is mounted %q, want %s ext4 with nodev,nosuid", mnt, dev)
	}
	if fstab := sh(ctx, t, tw, "cat /etc/fstab"); !strings.Contains(fstab, "LABEL=cisecs-docker /var/lib/docker ext4 defaults,nodev,nosuid,nofail 0 2") {
		t.Errorf("/etc/fstab does not mount the volume by label:\n%s", fstab)
	}
	if err := imagePull(ctx, tw, 100); err != nil {
		t.Errorf("a 100 MiB pull on Docker's volume: %v", err)
	}
	if !strings.HasPrefix(rep.field("storage", "mount"), "/var/lib/docker ") || rep.field("storage", "volume") == "" {
		t.Errorf("report storage %v: want the volume mounted on /var/lib/docker", rep.Layers["storage"])
	}
	again, _, err := runLayers(ctx, t, tw, layersOnly(vol))
	if err != nil {
		t.Fatal(err)
	}
	if c := again.changed(); len(c) > 0 {
		t.Errorf("second run changed %q, want nothing", c)
	}
}

// overlayStopped reads the twin's modprobe.d as modprobe.d(5) does and
// returns the rules that stop the overlay module: the test's own oracle,
// independent of the script.
func overlayStopped(ctx context.Context, t *testing.T, tw *twin.Twin) []string {
	t.Helper()
	var rules []string
	for _, line := range strings.Split(sh(ctx, t, tw, "cat /etc/modprobe.d/*.conf"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == "overlay" && (f[0] == "install" || f[0] == "blacklist") {
			rules = append(rules, line)
		}
	}
	return rules
}

// TestLayersOverlayRule: UBUNTU24-CIS 1.1.1.6 as it was before commit
// 1c535ac5 stops the overlay module; the layers step refuses the host
// unless allow_overlayfs accepts the deviation, then comments the rules
// out and reports it, on every run. A rule on veth is refused whatever.
func TestLayersOverlayRule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tw := twintest.New(t, "ubuntu2404-ufw")
	sh(ctx, t, tw, "echo 'install overlay /bin/true' >>/etc/modprobe.d/CIS.conf && echo 'blacklist overlay' >>/etc/modprobe.d/blacklist.conf")
	if len(overlayStopped(ctx, t, tw)) != 2 {
		t.Fatalf("control: the planted rules do not stop overlay: %q", overlayStopped(ctx, t, tw))
	}
	before := sh(ctx, t, tw, "cat /etc/modprobe.d/*.conf")

	_, out, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}))
	if err == nil || !strings.Contains(out, "allow_overlayfs = true") || !strings.Contains(out, "/etc/modprobe.d/CIS.conf:") {
		t.Fatalf("overlay stopped, no allow_overlayfs: err %v, want a refusal naming the rule and allow_overlayfs", err)
	}
	if after := sh(ctx, t, tw, "cat /etc/modprobe.d/*.conf"); after != before {
		t.Errorf("the refusal changed modprobe.d")
	}

	allow := hostscript.Layers{AllowOverlayfs: true}
	for run := 1; run <= 2; run++ {
		rep, _, err := runLayers(ctx, t, tw, layersOnly(allow))
		if err != nil {
			t.Fatalf("run %d with allow_overlayfs: %v", run, err)
		}
		if r := overlayStopped(ctx, t, tw); len(r) > 0 {
			t.Errorf("run %d: overlay still stopped by %q", run, r)
		}
		if !slices.Contains(rep.deviationIDs(), "cisecs-overlayfs-module") {
			t.Errorf("run %d: deviations %v lack cisecs-overlayfs-module", run, rep.deviationIDs())
		}
		if c := rep.changed(); run == 2 && len(c) > 0 {
			t.Errorf("second run changed %q, want nothing", c)
		}
	}
	if got := sh(ctx, t, tw, "grep -c '^install cramfs /bin/true$' /etc/modprobe.d/CIS.conf"); strings.TrimSpace(got) != "1" {
		t.Errorf("the other CIS module rules changed")
	}

	sh(ctx, t, tw, "echo 'install veth /bin/false' >/etc/modprobe.d/site.conf")
	if _, out, err := runLayers(ctx, t, tw, layersOnly(allow)); err == nil || !strings.Contains(out, "stops the veth kernel module") {
		t.Errorf("a rule stopping veth: err %v, want a refusal", err)
	}
}

// runcMode is the test's own reading of runc's AppArmor profile flags.
func runcMode(ctx context.Context, t *testing.T, tw *twin.Twin) string {
	t.Helper()
	for _, line := range strings.Split(sh(ctx, t, tw, "cat /etc/apparmor.d/runc"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "profile runc ") {
			if strings.Contains(line, "flags=(unconfined)") {
				return "unconfined"
			}
			return line
		}
	}
	return "no profile line"
}

// TestLayersAppArmorRunc: after aa-enforce /etc/apparmor.d/* (UBUNTU24-CIS
// 1.3.1.4) runc's profile is enforced; the layers step puts it back to
// flags=(unconfined), as Ubuntu 24.04's apparmor ships it, and reports
// the deviation on every run. (Loading it into a kernel stays unproven:
// the twin runs no AppArmor.)
func TestLayersAppArmorRunc(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tw := twintest.New(t, "ubuntu2404-iptables-nft")
	if m := runcMode(ctx, t, tw); m == "unconfined" {
		t.Fatalf("control: the hardened host's runc profile is already unconfined")
	}
	for run := 1; run <= 2; run++ {
		rep, _, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}))
		if err != nil {
			t.Fatal(err)
		}
		if m := runcMode(ctx, t, tw); m != "unconfined" {
			t.Errorf("run %d: runc's profile %q, want flags=(unconfined)", run, m)
		}
		if !slices.Contains(rep.deviationIDs(), "cisecs-apparmor-runc") {
			t.Errorf("run %d: deviations %v lack cisecs-apparmor-runc", run, rep.deviationIDs())
		}
		if c := rep.changed(); run == 2 && len(c) > 0 {
			t.Errorf("second run changed %q, want nothing", c)
		}
	}
}

// TestLayersSELinux: on an enforcing host (getenforce and rpm stand in for
// the OS's), the layers step installs container-selinux when the agent
// step runs, and with Docker's selinux-enabled puts the agent in the
// host's PID namespace; it never makes SELinux permissive. A host
// configured enforcing that runs permissive is a finding, left as it is.
func TestLayersSELinux(t *testing.T) {
	tests := []struct {
		name        string
		getenforce  string
		daemonJSON  string
		cmdline     string
		wantInstall bool
		wantPIDHost bool
		wantFinding bool
	}{
		{name: "configured enforcing but booted with selinux=0", getenforce: "Disabled", cmdline: "BOOT_IMAGE=/boot/vmlinuz root=/dev/nvme0n1p1 selinux=0", wantFinding: true},
		{name: "enforcing with docker selinux-enabled", getenforce: "Enforcing", daemonJSON: `{"selinux-enabled": true}`, wantInstall: true, wantPIDHost: true},
		{name: "enforcing with docker unlabelled", getenforce: "Enforcing", wantInstall: true},
		{name: "configured enforcing but running permissive", getenforce: "Permissive", daemonJSON: `{"selinux-enabled": true}`, wantFinding: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			tw := twintest.New(t, "al2023-nftables")
			standIn(t, tw, "getenforce", "echo "+tc.getenforce)
			standIn(t, tw, "setenforce", "exit 1")
			// The agent and Docker are installed: rpm knows ecs-init, and
			// container-selinux once dnf has installed it.
			standIn(t, tw, "rpm", `case "$*" in
*ecs-init*) printf 1.90.0 ;;
*container-selinux*) [ -f /var/lib/stand-in-container-selinux ] || { echo "package container-selinux is not installed"; exit 1; } ;;
*) exit 1 ;;
esac`)
			standIn(t, tw, "dnf", `case "$*" in *container-selinux*) touch /var/lib/stand-in-container-selinux ;; esac`)
			standIn(t, tw, "docker", "exit 0")
			if tc.daemonJSON != "" {
				sh(ctx, t, tw, "mkdir -p /etc/docker && echo '"+tc.daemonJSON+"' >/etc/docker/daemon.json")
			}
			if tc.cmdline != "" {
				// The kernel's command line, as the twin's own mount shows it.
				sh(ctx, t, tw, "echo '"+tc.cmdline+"' >/run/cmdline && mount --bind /run/cmdline /proc/cmdline")
			}
			if _, err := tw.Exec(ctx, nil, "rpm", "-q", "container-selinux"); err == nil {
				t.Fatal("control: container-selinux installed on the hardened host")
			}
			opts := hostscript.Options{Steps: []string{"agent", "config", "layers"}}
			for run := 1; run <= 2; run++ {
				rep, _, err := runLayers(ctx, t, tw, opts)
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				log := sh(ctx, t, tw, "cat /tmp/stand-in.log")
				if got := strings.Count(log, "dnf install -y container-selinux"); got != map[bool]int{true: 1, false: 0}[tc.wantInstall] {
					t.Errorf("run %d: dnf installed container-selinux %d times, want it %v once", run, got, tc.wantInstall)
				}
				if strings.Contains(log, "setenforce") {
					t.Errorf("run %d: the script ran setenforce", run)
				}
				cfg := sh(ctx, t, tw, "cat /etc/ecs/ecs.config")
				if got := strings.Contains(cfg, "ECS_AGENT_PID_NAMESPACE_HOST=true\n"); got != tc.wantPIDHost {
					t.Errorf("run %d: ECS_AGENT_PID_NAMESPACE_HOST=true in ecs.config %v, want %v", run, got, tc.wantPIDHost)
				}
				if got := slices.Contains(rep.findingIDs(), "selinux-not-enforcing"); got != tc.wantFinding {
					t.Errorf("run %d: finding selinux-not-enforcing %v, want %v", run, got, tc.wantFinding)
				}
				if tc.cmdline != "" && rep.field("selinux", "kernel_cmdline") != "selinux=0" {
					t.Errorf("run %d: report selinux kernel_cmdline %q, want selinux=0", run, rep.field("selinux", "kernel_cmdline"))
				}
				if conf := sh(ctx, t, tw, "grep '^SELINUX=' /etc/selinux/config"); conf != "SELINUX=enforcing\n" {
					t.Errorf("run %d: /etc/selinux/config says %q", run, conf)
				}
				if rep.field("selinux", "live") != tc.getenforce {
					t.Errorf("run %d: report selinux %v", run, rep.Layers["selinux"])
				}
				if c := rep.changed(); run == 2 && len(c) > 0 {
					t.Errorf("second run changed %q, want nothing", c)
				}
			}
		})
	}
}

// TestLayersAuditd: with CIS's auditd (keep_logs, halt) and
// /var/log/audit on a small /var/log, the report gives the numbers and keeps auditd's actions;
// audit_volume moves the logs onto a volume of their own, mounted
// nodev,nosuid,noexec.
func TestLayersAuditd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tw := twintest.New(t, "rhel9-iptables-reject")
	// CIS's /var/log partition (1.1.2.6.x: nodev, nosuid, noexec), small.
	sh(ctx, t, tw, "mount -t tmpfs -o size=32m,nodev,nosuid,noexec,mode=0755 cis-var-log /var/log && mkdir -m 0700 -p /var/log/audit && head -c 3145728 /dev/zero >/var/log/audit/audit.log")
	conf := sh(ctx, t, tw, "cat /etc/audit/auditd.conf")
	rep, _, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}))
	if err != nil {
		t.Fatal(err)
	}
	var finding string
	for _, f := range rep.Findings {
		if f.ID == "auditd-halts-host" {
			finding = f.Finding
		}
	}
	for _, want := range []string{"keep_logs", "32 MiB", "3 MiB of audit logs", "admin_space_left_action = halt", "disk_full_action = halt"} {
		if !strings.Contains(finding, want) {
			t.Errorf("finding auditd-halts-host %q lacks %q", finding, want)
		}
	}
	if !strings.Contains(fmt.Sprint(rep.Findings), "audit_volume { size_gb = N }") {
		t.Errorf("findings %v do not name audit_volume", rep.Findings)
	}

	// An SELinux host: the new filesystem gets the policy's labels.
	standIn(t, tw, "selinuxenabled", "exit 0")
	standIn(t, tw, "restorecon", "exit 0")
	dev := loopDevice(t, 1)
	vol := hostscript.Layers{AuditVolume: hostscript.Volume{SizeGB: 1, Device: dev}}
	for run := 1; run <= 2; run++ {
		rep, _, err = runLayers(ctx, t, tw, layersOnly(vol))
		if err != nil {
			t.Fatalf("run %d with audit_volume: %v", run, err)
		}
		if c := rep.changed(); run == 2 && len(c) > 0 {
			t.Errorf("second run changed %q, want nothing", c)
		}
	}
	mnt := strings.Fields(sh(ctx, t, tw, "findmnt -n -o SOURCE,OPTIONS -M /var/log/audit"))
	if len(mnt) != 2 || mnt[0] != dev || !strings.Contains(","+mnt[1]+",", ",noexec,") || !strings.Contains(","+mnt[1]+",", ",nodev,") {
		t.Errorf("/var/log/audit is mounted %q, want %s with nodev,nosuid,noexec", mnt, dev)
	}
	if size := strings.TrimSpace(sh(ctx, t, tw, "stat -c %s /var/log/audit/audit.log")); size != "3145728" {
		t.Errorf("audit.log on the volume is %s bytes, want 3145728", size)
	}
	if got := strings.Count(sh(ctx, t, tw, "cat /tmp/stand-in.log"), "restorecon -R /var/log/audit"); got != 1 {
		t.Errorf("restorecon -R /var/log/audit ran %d times, want once (when the volume was mounted)", got)
	}
	if after := sh(ctx, t, tw, "cat /etc/audit/auditd.conf"); after != conf {
		t.Errorf("auditd.conf changed")
	}
}

// TestLayersBuildSudo: the build user's drop-in (the way out of CIS's
// PASSWD rule) is reported and removed by the cleanup step; the script
// runs from a noexec /tmp, as the provisioner runs it (bash FILE).
func TestLayersBuildSudo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tw := twintest.New(t, "ubuntu2404-ufw")
	sh(ctx, t, tw, "mount -t tmpfs -o nodev,nosuid,noexec cis-tmp /tmp")
	sh(ctx, t, tw, "echo 'ubuntu ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/90-cisecs-build && chmod 0440 /etc/sudoers.d/90-cisecs-build")
	rep, _, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}), "SUDO_USER=ubuntu")
	if err != nil {
		t.Fatalf("from a noexec /tmp: %v", err)
	}
	if rep.field("sudo", "build_user") != "ubuntu" || !strings.Contains(rep.field("sudo", "nopasswd"), "/etc/sudoers.d/90-cisecs-build") ||
		!strings.Contains(rep.field("sudo", "build_dropin"), "the cleanup step removes it") || !strings.Contains(rep.field("sudo", "tmp_options"), "noexec") {
		t.Errorf("report sudo %v", rep.Layers["sudo"])
	}
	rep, _, err = runLayers(ctx, t, tw, hostscript.Options{Steps: []string{"cleanup"}}, "SUDO_USER=ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tw.ReadFile("/etc/sudoers.d/90-cisecs-build"); err == nil {
		t.Errorf("the cleanup step left /etc/sudoers.d/90-cisecs-build")
	}
	if !slices.Contains(rep.changed(), "cleanup: removed /etc/sudoers.d/90-cisecs-build") {
		t.Errorf("cleanup changed %q", rep.changed())
	}
	if got := sh(ctx, t, tw, "cat /etc/sudoers.d/90-cloud-init-users"); !strings.Contains(got, "ubuntu ALL=(ALL) PASSWD:ALL") {
		t.Errorf("CIS's rule for the login user changed: %q", got)
	}
}

// TestLayersTime: the Amazon Time Sync Service is added beside the role's
// sources, once, in chrony or timesyncd as the role configured; where the
// firewall drops udp to port 123 (UBUNTU22-CIS's ufw allows out 53, 80,
// 443 only) it is a finding.
func TestLayersTime(t *testing.T) {
	const amazon = "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4"
	tests := []struct {
		name, baseline string
		noIPv6         bool
		file           string
		want           string
		wantBlocked    bool
		wantMinSources bool
	}{
		{"al2023 chrony.conf", "al2023-nftables", false, "/etc/chrony.conf", amazon, false, false},
		{"ubuntu 24.04 sources.d", "ubuntu2404-ufw", false, "/etc/chrony/sources.d/cisecs-amazon-time-sync.sources", amazon, false, false},
		{"ubuntu 22.04 timesyncd behind ufw", "ubuntu2204-ufw", false, "/etc/systemd/timesyncd.conf.d/60-cisecs-amazon-time-sync.conf", "NTP=169.254.169.123", true, false},
		{"al2 iptables", "al2-iptables-legacy", false, "/etc/chrony.conf", amazon, false, false},
		{"rhel9 minsources 2 without IPv6", "rhel9-iptables-reject", true, "/etc/chrony.conf", amazon, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			tw := twintest.New(t, tc.baseline)
			if tc.noIPv6 {
				sh(ctx, t, tw, "sysctl -q -w net.ipv6.conf.all.disable_ipv6=1")
			}
			if got := sh(ctx, t, tw, "cat /etc/chrony.conf /etc/chrony/sources.d/* /etc/systemd/timesyncd.conf.d/* 2>/dev/null; true"); strings.Contains(got, "169.254.169.123") {
				t.Fatal("control: the hardened host has the Amazon Time Sync Service")
			}
			for run := 1; run <= 2; run++ {
				rep, _, err := runLayers(ctx, t, tw, layersOnly(hostscript.Layers{}))
				if err != nil {
					t.Fatal(err)
				}
				got := sh(ctx, t, tw, "cat "+tc.file)
				if strings.Count(got, tc.want) != 1 {
					t.Errorf("run %d: %s:\n%s\nwant %q once", run, tc.file, got, tc.want)
				}
				if got := slices.Contains(rep.findingIDs(), "chrony-minsources"); got != tc.wantMinSources {
					t.Errorf("run %d: finding chrony-minsources %v, want %v", run, got, tc.wantMinSources)
				}
				if blocked := slices.Contains(rep.findingIDs(), "time-sync-blocked"); blocked != tc.wantBlocked {
					t.Errorf("run %d: finding time-sync-blocked %v, want %v (firewall: %s)", run, blocked, tc.wantBlocked, rep.field("time", "firewall"))
				}
				if c := rep.changed(); run == 2 && len(c) > 0 {
					t.Errorf("second run changed %q, want nothing", c)
				}
			}
		})
	}
}
