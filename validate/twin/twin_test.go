package twin_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
)

// ctx bounds every call of a test; a probe has its own, shorter timeout.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// narrowFix returns the hand-made fix that opens only the credentials
// path on a baseline: a rule at the top of the chain that drops the
// packet, accepting what enters on ecs-bridge or docker0 for 51679.
func narrowFix(t *testing.T, name string) [][]string {
	t.Helper()
	iptables := func(iface string) []string {
		return []string{"iptables", "-I", "INPUT", "1", "-i", iface, "-d", "127.0.0.0/8", "-p", "tcp", "--dport", "51679", "-j", "ACCEPT"}
	}
	nft := func(table, chain string) []string {
		return []string{"nft", "insert rule inet " + table + " " + chain +
			` iifname { "ecs-bridge", "docker0" } ip daddr 127.0.0.0/8 tcp dport 51679 accept`}
	}
	switch name {
	case "al2-iptables-legacy", "rhel9-iptables-reject", "ubuntu2404-iptables-nft":
		return [][]string{iptables("ecs-bridge"), iptables("docker0")}
	case "al2023-nftables":
		return [][]string{nft("filter", "input")}
	case "ubuntu2204-nftables":
		return [][]string{nft("cis_firewall", "cis_in")}
	}
	t.Fatalf("no narrow fix for baseline %q", name)
	return nil
}

// assertBlocked fails unless err is a probe the baseline's firewall
// stopped the way it stops packets: dropped, or rejected.
func assertBlocked(t *testing.T, b twin.Baseline, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got through, want blocked", what)
	case b.Rejects && !twin.IsUnreachable(err):
		t.Errorf("%s: %v; want ICMP unreachable (REJECT)", what, err)
	case !b.Rejects && !twin.IsTimeout(err):
		t.Errorf("%s: %v; want a timeout (DROP)", what, err)
	}
}

// assertCredentialsOpen fails unless every task gets credentials and
// metadata.
func assertCredentialsOpen(t *testing.T, tw *twin.Twin) {
	t.Helper()
	ctx := testContext(t)
	for _, task := range twin.Tasks() {
		if _, err := tw.Credentials(ctx, task); err != nil {
			t.Errorf("credentials: %v", err)
		}
		if _, err := tw.Metadata(ctx, task); err != nil {
			t.Errorf("metadata: %v", err)
		}
	}
}

func TestBaselines(t *testing.T) {
	bs := twin.Baselines()
	want := []string{"al2-firewalld", "al2-iptables-legacy", "al2023-firewalld", "al2023-nftables", "rhel9-firewalld",
		"rhel9-iptables-reject", "ubuntu2204-nftables", "ubuntu2204-ufw", "ubuntu2404-iptables-nft", "ubuntu2404-ufw"}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("baselines %v, want %v", names, want)
	}
	for _, b := range bs {
		t.Run(b.Name, func(t *testing.T) {
			if b.Description == "" || b.OS.ID == "" || b.OS.VersionID == "" {
				t.Errorf("incomplete: %+v", b)
			}
			if b.Iptables != twin.IptablesLegacy && b.Iptables != twin.IptablesNFT {
				t.Errorf("backend %q", b.Iptables)
			}
			if (len(b.Firewall) == 0) == (b.Daemon == "") {
				t.Errorf("firewall units %v, daemon %q: want exactly one way to load the firewall", b.Firewall, b.Daemon)
			}
			for _, u := range b.Firewall {
				if _, err := fs.Stat(b.Files, strings.TrimPrefix(u.File, "/")); err != nil {
					t.Errorf("%s: %v", u.Unit, err)
				}
			}
			err := fs.WalkDir(b.Files, ".", func(p string, d fs.DirEntry, err error) error {
				top, _, _ := strings.Cut(p, "/")
				if err == nil && p != "." && !slices.Contains([]string{"etc", "var", "root", "home", "usr"}, top) {
					t.Errorf("%s: outside the disk", p)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
			got, err := twin.LookupBaseline(b.Name)
			if err != nil || got.Name != b.Name {
				t.Errorf("LookupBaseline(%q) = %q, %v", b.Name, got.Name, err)
			}
		})
	}
	_, err := twin.LookupBaseline("centos6")
	if err == nil || !strings.Contains(err.Error(), `"centos6"`) || !strings.Contains(err.Error(), "al2023-nftables") {
		t.Errorf("LookupBaseline(centos6) error %v, want it to name the input and the baselines", err)
	}
}

func TestBaselineOS(t *testing.T) {
	tests := []struct {
		name, id, version string
		backend           twin.IptablesVariant
	}{
		{"al2-iptables-legacy", "amzn", "2", twin.IptablesLegacy},
		{"al2-firewalld", "amzn", "2", twin.IptablesLegacy},
		{"al2023-firewalld", "amzn", "2023", twin.IptablesNFT},
		{"rhel9-firewalld", "rhel", "9.4", twin.IptablesNFT},
		{"ubuntu2204-ufw", "ubuntu", "22.04", twin.IptablesNFT},
		{"ubuntu2404-ufw", "ubuntu", "24.04", twin.IptablesNFT},
		{"al2023-nftables", "amzn", "2023", twin.IptablesNFT},
		{"rhel9-iptables-reject", "rhel", "9.4", twin.IptablesNFT},
		{"ubuntu2204-nftables", "ubuntu", "22.04", twin.IptablesNFT},
		{"ubuntu2404-iptables-nft", "ubuntu", "24.04", twin.IptablesNFT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := twin.LookupBaseline(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if b.OS.ID != tt.id || b.OS.VersionID != tt.version || b.Iptables != tt.backend {
				t.Errorf("got %s %s %s, want %s %s %s", b.OS.ID, b.OS.VersionID, b.Iptables, tt.id, tt.version, tt.backend)
			}
		})
	}
}

// TestNegativeControl: on a freshly booted CIS twin, nothing opened the
// credentials path, so no task gets credentials.
func TestNegativeControl(t *testing.T) {
	for _, b := range twin.Baselines() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Daemon != "" {
				t.Skip("a firewall daemon's host: TestDaemonBaselines covers it")
			}
			t.Parallel()
			tw := twintest.New(t, b.Name)
			ctx := testContext(t)
			for _, task := range twin.DNATTasks() {
				_, err := tw.Credentials(ctx, task)
				assertBlocked(t, b, string(task)+" credentials", err)
			}
			// A host-mode task's request goes out and in on lo after
			// ecs-init's REDIRECT: these baselines accept lo and new tcp
			// out, so nothing blocks it.
			if _, err := tw.Credentials(ctx, twin.HostMode); err != nil {
				t.Errorf("host-mode credentials: %v, want open (lo and new tcp out are accepted)", err)
			}
		})
	}
}

// TestNarrowFixOpensCredentials proves the twin, not the product: with the
// firewall opened by hand for 51679 on the task bridges, both tasks get
// credentials and metadata, and nothing else opens.
func TestNarrowFixOpensCredentials(t *testing.T) {
	for _, b := range twin.Baselines() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Daemon != "" {
				t.Skip("a firewall daemon's host: TestDaemonBaselines covers it")
			}
			t.Parallel()
			tw := twintest.New(t, b.Name)
			ctx := testContext(t)
			for _, argv := range narrowFix(t, b.Name) {
				twintest.Exec(t, tw, argv...)
			}
			assertCredentialsOpen(t, tw)
			probes := []struct {
				from twin.Endpoint
				addr string
			}{
				{twin.AWSVPC, twin.ECSBridgeAddr + ":" + twin.HostServicePort},
				{twin.Bridge, twin.Docker0Addr + ":" + twin.HostServicePort},
				{twin.VPC, twin.CredentialsAddr},
				{twin.VPC, twin.HostAddr + ":" + twin.IntrospectionPort},
			}
			for _, p := range probes {
				if err := tw.Connect(ctx, p.from, p.addr); !twin.IsBlocked(err) {
					t.Errorf("%s -> %s: %v, want blocked", p.from, p.addr, err)
				}
			}
			if err := tw.Connect(ctx, twin.Host, twin.VPCServiceAddr); err != nil {
				t.Errorf("host -> VPC service: %v", err)
			}
		})
	}
}

// TestIptablesAcceptAloneFailsOnNftables is the finding DOMAIN.md §1
// reports: on a native nftables CIS host, the published iptables fix
// accepts the packet in iptables-nft's ip filter INPUT chain, but the CIS
// table's own input chain still drops it. Only a rule in that chain works.
func TestIptablesAcceptAloneFailsOnNftables(t *testing.T) {
	for _, name := range []string{"al2023-nftables", "ubuntu2204-nftables"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tw := twintest.New(t, name)
			ctx := testContext(t)
			for _, iface := range []string{"ecs-bridge", "docker0"} {
				twintest.Exec(t, tw, "iptables-nft", "-I", "INPUT", "1", "-i", iface, "-d", "127.0.0.0/8", "-p", "tcp", "-m", "tcp", "--dport", "51679", "-j", "ACCEPT")
			}
			r, err := tw.Ruleset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.IptablesNFT, "-A INPUT -d 127.0.0.0/8 -i ecs-bridge -p tcp -m tcp --dport 51679 -j ACCEPT") {
				t.Fatalf("the iptables-nft ACCEPT is not in place:\n%s", r.IptablesNFT)
			}
			for _, task := range twin.DNATTasks() {
				_, err := tw.Credentials(ctx, task)
				if !twin.IsTimeout(err) {
					t.Errorf("%s with the iptables-nft ACCEPT alone: %v, want a timeout", task, err)
				}
			}
			for _, argv := range narrowFix(t, name) {
				twintest.Exec(t, tw, argv...)
			}
			assertCredentialsOpen(t, tw)
		})
	}
}

// TestAppendedAcceptIsUseless: where INPUT ends in a REJECT rule, the
// published `iptables -A` fix lands after it and is never reached.
func TestAppendedAcceptIsUseless(t *testing.T) {
	t.Parallel()
	b, _ := twin.LookupBaseline("rhel9-iptables-reject")
	tw := twintest.New(t, b.Name)
	ctx := testContext(t)
	for _, iface := range []string{"ecs-bridge", "docker0"} {
		twintest.Exec(t, tw, "iptables", "-A", "INPUT", "-i", iface, "-d", "127.0.0.0/8", "-p", "tcp", "-m", "tcp", "--dport", "51679", "-j", "ACCEPT")
	}
	for _, task := range twin.DNATTasks() {
		_, err := tw.Credentials(ctx, task)
		assertBlocked(t, b, string(task)+" credentials after iptables -A", err)
	}
	for _, argv := range narrowFix(t, b.Name) {
		twintest.Exec(t, tw, argv...)
	}
	assertCredentialsOpen(t, tw)
}

// TestRebootForgetsLiveRules: a rule added live is gone after a reboot,
// and a file written to the disk is not.
func TestRebootForgetsLiveRules(t *testing.T) {
	t.Parallel()
	b, _ := twin.LookupBaseline("al2-iptables-legacy")
	tw := twintest.New(t, b.Name)
	ctx := testContext(t)
	for _, argv := range narrowFix(t, b.Name) {
		twintest.Exec(t, tw, argv...)
	}
	assertCredentialsOpen(t, tw)
	if err := tw.WriteFile("/etc/cisecs/marker", []byte("written\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	twintest.Exec(t, tw, "sh", "-c", "mkdir -p /var/lib/cisecs && echo exec > /var/lib/cisecs/exec && echo tmp > /tmp/tmpfile")
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	for _, task := range twin.DNATTasks() {
		_, err := tw.Credentials(ctx, task)
		assertBlocked(t, b, string(task)+" credentials after reboot", err)
	}
	r, err := tw.Ruleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.IptablesLegacy, "--dport 51679 -j ACCEPT") {
		t.Errorf("live rule survived the reboot:\n%s", r.IptablesLegacy)
	}
	for path, want := range map[string]string{"/etc/cisecs/marker": "written\n", "/var/lib/cisecs/exec": "exec\n"} {
		got, err := tw.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s after reboot: %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := tw.ReadFile("/tmp/tmpfile"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/tmp/tmpfile after reboot: %v, want it gone (tmpfs)", err)
	}
}

// TestDirReuse: a state directory keeps the disk from one twin to the
// next, and holds one twin at a time.
func TestDirReuse(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "al2023-nftables")
	ctx := testContext(t)
	if err := tw.WriteFile("/root/kept", []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := tw.Baseline()
	if _, err := twin.New(ctx, twin.Options{Baseline: b, Dir: tw.Dir()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second twin on a used state dir: %v, want refused", err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	other, _ := twin.LookupBaseline("al2-iptables-legacy")
	if _, err := twin.New(ctx, twin.Options{Baseline: other, Dir: tw.Dir()}); err == nil {
		t.Error("twin of another baseline on the disk: no error")
	}
	again, err := twin.New(ctx, twin.Options{Baseline: b, Dir: tw.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got, err := again.ReadFile("/root/kept"); err != nil || string(got) != "kept" {
		t.Errorf("/root/kept on the reused disk: %q, %v", got, err)
	}
}

// TestRebootUnmodified: after a reboot of an unmodified baseline,
// ecs-init's rules are there exactly once, and the VPC reaches neither
// the credentials endpoint nor the introspection port.
func TestRebootUnmodified(t *testing.T) {
	for _, b := range twin.Baselines() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Daemon != "" {
				t.Skip("a firewall daemon's host: TestDaemonBaselines covers it")
			}
			t.Parallel()
			tw := twintest.New(t, b.Name)
			ctx := testContext(t)
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			r, err := tw.Ruleset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for name, n := range r.ECSInitRuleCounts() {
				if n != 1 {
					t.Errorf("ecs-init rule %s present %d times, want once", name, n)
				}
			}
			if err := tw.Connect(ctx, twin.VPC, twin.CredentialsAddr); !twin.IsBlocked(err) {
				t.Errorf("VPC -> %s: %v, want blocked", twin.CredentialsAddr, err)
			}
			if err := tw.Connect(ctx, twin.VPC, twin.HostAddr+":"+twin.IntrospectionPort); !twin.IsTimeout(err) {
				t.Errorf("VPC -> introspection: %v, want dropped by ecs-init", err)
			}
			for _, task := range twin.DNATTasks() {
				_, err := tw.Credentials(ctx, task)
				assertBlocked(t, b, string(task)+" credentials after reboot", err)
			}
		})
	}
}

// TestSavedRulesetDuplicatesECSInitRules: a host that saves its live
// ruleset (service iptables save, netfilter-persistent save) bakes
// ecs-init's rules in, and ecs-init adds them again at the next boot;
// dockerd checks before adding, so its rules stay single.
func TestSavedRulesetDuplicatesECSInitRules(t *testing.T) {
	for _, tt := range []struct{ name, file string }{
		{"al2-iptables-legacy", "/etc/sysconfig/iptables"},
		{"ubuntu2404-iptables-nft", "/etc/iptables/rules.v4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tw := twintest.New(t, tt.name)
			ctx := testContext(t)
			twintest.Exec(t, tw, "sh", "-c", "iptables-save > "+tt.file)
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			r, err := tw.Ruleset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, rule := range twin.ECSInitRules() {
				want := 2
				if rule.IPv6 {
					want = 1
				}
				if n := r.Count(rule); n != want {
					t.Errorf("ecs-init rule %s present %d times, want %d", rule.Name, n, want)
				}
			}
			save := r.IptablesLegacy + r.IptablesNFT
			for _, rule := range []string{"-A FORWARD -o docker0 -j DOCKER", "-A FORWARD -j DOCKER-USER", "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"} {
				if n := strings.Count(save, rule+"\n"); n != 1 {
					t.Errorf("docker rule %q present %d times, want once", rule, n)
				}
			}
		})
	}
}

// TestECSConfig: ecs-init honours ecs.config on the twin's disk.
func TestECSConfig(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "ubuntu2404-iptables-nft")
	ctx := testContext(t)
	cfg := "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER=true\nECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true\n"
	if err := tw.WriteFile("/etc/ecs/ecs.config", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := tw.Ruleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"credentials-dnat": 1, "credentials-redirect": 1, "localhost-filter": 0,
		"introspection-drop": 0, "introspection-drop-v6": 0, "introspection-docker0": 0, "introspection-docker0-v6": 0,
	}
	for name, n := range r.ECSInitRuleCounts() {
		if n != want[name] {
			t.Errorf("ecs-init rule %s present %d times, want %d", name, n, want[name])
		}
	}
}

// TestSysctl: the boot applies the CIS sysctls in the host namespace,
// Docker's ip_forward=1 is undone by the second systemd-sysctl run, and
// nothing the host does reaches the machine's sysctls.
func TestSysctl(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "ubuntu2204-nftables")
	realForward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	realASLR, _ := os.ReadFile("/proc/sys/kernel/randomize_va_space")
	got := twintest.Exec(t, tw, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet",
		"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter", "net.ipv4.conf.all.log_martians", "net.ipv4.conf.docker0.rp_filter")
	// docker0 existed when systemd-sysctl ran, so 50-default.conf's glob
	// net.ipv4.conf.*.rp_filter = 2 set it; all and default are explicit.
	if want := "0\n1\n1\n1\n1\n2\n"; got != want {
		t.Errorf("sysctls in the twin:\n%s\nwant\n%s", got, want)
	}
	twintest.Exec(t, tw, "sysctl", "--system")
	twintest.Exec(t, tw, "sysctl", "-w", "kernel.randomize_va_space=0", "net.ipv4.ip_forward=1")
	if got := twintest.Exec(t, tw, "sysctl", "-n", "kernel.randomize_va_space"); got != "0\n" {
		t.Errorf("kernel.randomize_va_space in the twin = %q after writing 0", got)
	}
	if after, _ := os.ReadFile("/proc/sys/kernel/randomize_va_space"); string(after) != string(realASLR) {
		t.Errorf("the machine's kernel.randomize_va_space changed: %q -> %q", realASLR, after)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(realForward) {
		t.Errorf("the machine's net.ipv4.ip_forward changed: %q -> %q", realForward, after)
	}
}

// TestDisk: the host sees the baseline's files over the machine's, hides
// the machine's own configuration, and writes stay on the twin's disk,
// symlinks included.
func TestDisk(t *testing.T) {
	t.Parallel()
	b, _ := twin.LookupBaseline("al2-iptables-legacy")
	tw := twintest.New(t, b.Name)
	osr, err := tw.ReadFile("/etc/os-release")
	if err != nil || !strings.Contains(string(osr), `ID="amzn"`) {
		t.Errorf("/etc/os-release: %v\n%s", err, osr)
	}
	for _, p := range []string{"/etc/nftables.conf", "/etc/debian_version", "/usr/sbin/nft"} {
		if _, err := tw.ReadFile(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want it hidden", p, err)
		}
	}
	if v := twintest.Exec(t, tw, "iptables", "-V"); !strings.Contains(v, "legacy") {
		t.Errorf("iptables -V in the twin: %q, want the legacy backend", v)
	}
	probe := "/etc/cisecs-twin-" + tw.Name()
	if err := tw.WriteFile(probe, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(probe); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s reached the machine: %v", probe, err)
	}
	if _, err := os.Stat(tw.Dir() + "/disk" + probe); err != nil {
		t.Errorf("%s is not on the twin's disk: %v", probe, err)
	}
	escape := "/tmp/cisecs-twin-escape-" + tw.Name()
	twintest.Exec(t, tw, "ln", "-s", escape, "/etc/escape")
	if err := tw.WriteFile("/etc/escape", []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(escape); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a write through an absolute symlink reached the machine's %s", escape)
		os.Remove(escape)
	}
	if got, err := tw.ReadFile(escape); err != nil || string(got) != "inside" {
		t.Errorf("twin's %s: %q, %v", escape, got, err)
	}
}

// TestExecError: a failing command comes back typed.
func TestExecError(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "al2023-nftables")
	_, err := tw.Exec(testContext(t), nil, "sh", "-c", "echo oops >&2; exit 3")
	var ee *twin.ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T), want *ExecError", err, err)
	}
	if ee.ExitCode != 3 || strings.TrimSpace(ee.Stderr) != "oops" || ee.Args[0] != "sh" {
		t.Errorf("ExecError %+v", ee)
	}
	out, err := tw.Exec(testContext(t), strings.NewReader("hello"), "cat")
	if err != nil || string(out) != "hello" {
		t.Errorf("cat with stdin: %q, %v", out, err)
	}
}

// TestExecGuard: Exec refuses to run once a namespace of the twin is
// gone, and Close still cleans everything up.
func TestExecGuard(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "ubuntu2204-nftables")
	ctx := testContext(t)
	host := tw.NetNS(twin.Host)
	if _, err := os.Stat(host); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "del", strings.TrimPrefix(host, "/run/netns/")).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	if _, err := tw.Exec(ctx, nil, "nft", "flush", "ruleset"); !errors.Is(err, twin.ErrNotRunning) {
		t.Errorf("Exec without its namespace: %v, want ErrNotRunning", err)
	}
	if err := tw.Connect(ctx, twin.Host, twin.AgentAddr); !errors.Is(err, twin.ErrNotRunning) {
		t.Errorf("Connect without the host namespace: %v, want ErrNotRunning", err)
	}
	if err := tw.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	assertGone(t, tw)
}

// TestCloseCleansUp: after Close, no namespace or process of the twin
// remains, and the twin refuses to run anything.
func TestCloseCleansUp(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "rhel9-iptables-reject")
	ctx := testContext(t)
	cmd, err := tw.Start(ctx, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	twintest.Exec(t, tw, "sh", "-c", "setsid sleep 600 >/dev/null 2>&1 < /dev/null &")
	holder := tw.HolderPID()
	if holder == 0 {
		t.Fatal("no holder")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("started process still running after Close")
	}
	assertGone(t, tw)
	if _, err := os.Stat("/proc/" + strconv.Itoa(holder) + "/ns/mnt"); err == nil {
		t.Errorf("holder %d still alive after Close", holder)
	}
	if _, err := tw.Exec(ctx, nil, "true"); !errors.Is(err, twin.ErrNotRunning) {
		t.Errorf("Exec after Close: %v, want ErrNotRunning", err)
	}
	if err := tw.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestStartKilledOnReboot: a process started in the host dies with it.
func TestStartKilledOnReboot(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "al2-iptables-legacy")
	ctx := testContext(t)
	cmd, err := tw.Start(ctx, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("started process still running after Reboot")
	}
}

// TestProbePredicates: a reset and a drop are told apart.
func TestProbePredicates(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "ubuntu2404-iptables-nft")
	ctx := testContext(t)
	if err := tw.Connect(ctx, twin.Host, "127.0.0.1:1"); !twin.IsRefused(err) || twin.IsTimeout(err) {
		t.Errorf("host -> 127.0.0.1:1: %v, want refused", err)
	}
	start := time.Now()
	err := tw.Connect(ctx, twin.VPC, twin.HostAddr+":"+twin.HostServicePort)
	if !twin.IsTimeout(err) || twin.IsRefused(err) {
		t.Errorf("VPC -> host service: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*twin.DefaultProbeTimeout {
		t.Errorf("a dropped probe took %s", d)
	}
	if err := tw.Connect(ctx, twin.Host, twin.AgentAddr); err != nil {
		t.Errorf("host -> agent: %v", err)
	}
	if err := tw.Connect(ctx, twin.Bridge, twin.Docker0Addr+":"+twin.IntrospectionPort); err != nil {
		t.Errorf("bridge task -> introspection (ecs-init accepts docker0): %v", err)
	}
}

// assertGone fails if a namespace of the twin remains.
func assertGone(t *testing.T, tw *twin.Twin) {
	t.Helper()
	for _, e := range []twin.Endpoint{twin.Host, twin.AWSVPC, twin.Bridge, twin.VPC} {
		if _, err := os.Lstat(tw.NetNS(e)); err == nil {
			t.Errorf("namespace %s remains", tw.NetNS(e))
		}
	}
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tw.Name()) {
			t.Errorf("namespace %s remains", e.Name())
		}
	}
}

// BenchmarkBoot measures a twin's first boot and its reboot, per baseline.
func BenchmarkBoot(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("host twin needs root")
	}
	for _, bl := range twin.Baselines() {
		b.Run(bl.Name+"/new", func(b *testing.B) {
			var boot time.Duration
			for b.Loop() {
				tw, err := twin.New(context.Background(), twin.Options{Baseline: bl})
				if err != nil {
					b.Fatal(err)
				}
				boot += tw.LastBoot()
				if err := tw.Close(); err != nil {
					b.Fatal(err)
				}
			}
			budget.Max(b, "boot "+bl.Name, float64(boot.Milliseconds())/float64(b.N), bootBudget(bl), "boot-ms/op")
		})
		b.Run(bl.Name+"/reboot", func(b *testing.B) {
			tw, err := twin.New(context.Background(), twin.Options{Baseline: bl})
			if err != nil {
				b.Fatal(err)
			}
			defer tw.Close()
			var boot time.Duration
			for b.Loop() {
				if err := tw.Reboot(context.Background()); err != nil {
					b.Fatal(err)
				}
				boot += tw.LastBoot()
			}
			budget.Max(b, "reboot "+bl.Name, float64(boot.Milliseconds())/float64(b.N), bootBudget(bl), "boot-ms/op")
		})
	}
}

// bootBudget is how long a boot of the baseline may take, in milliseconds:
// namespaces, the disk's mounts, the firewall (restore, or the daemon's
// start), sysctls, dockerd's and ecs-init's rules, the agent.
func bootBudget(bl twin.Baseline) float64 {
	switch bl.Daemon {
	case twin.DaemonFirewalld:
		return 6000
	case twin.DaemonUfw:
		return 2000
	}
	return 1000
}

// TestDaemonBaselines proves the twin's firewall daemons behave as the real
// hosts do, unprovisioned: firewalld 1.x lets DNAT'ed packets in but
// flushes ecs-init's DNAT on reload and restart (Docker puts its own
// rules back) and ecs-init's nat OUTPUT REDIRECT, which host-mode tasks
// take; pre-0.7 firewalld blocks awsvpc tasks outright while Docker's zone
// lets bridge tasks in; ufw blocks all three (host-mode ones in OUTPUT),
// and a reload keeps it so. ecs-init's rules are there once at boot everywhere.
func TestDaemonBaselines(t *testing.T) {
	type want struct{ boot, afterEvents map[twin.Endpoint]bool } // task -> reaches credentials
	open := func(a, b, h bool) map[twin.Endpoint]bool {
		return map[twin.Endpoint]bool{twin.AWSVPC: a, twin.Bridge: b, twin.HostMode: h}
	}
	// Host-mode tasks: firewalld accepts lo and all output, until its
	// reload flushes ecs-init's nat OUTPUT REDIRECT; ufw's deny-outgoing
	// policy drops the REDIRECT'ed request in filter OUTPUT, which still
	// sees eth0.
	tests := map[string]want{
		"al2023-firewalld": {boot: open(true, true, true), afterEvents: open(false, false, false)},
		"rhel9-firewalld":  {boot: open(true, true, true), afterEvents: open(false, false, false)},
		"al2-firewalld":    {boot: open(false, true, true), afterEvents: open(false, false, false)},
		"ubuntu2204-ufw":   {boot: open(false, false, false), afterEvents: open(false, false, false)},
		"ubuntu2404-ufw":   {boot: open(false, false, false), afterEvents: open(false, false, false)},
	}
	for _, b := range twin.Baselines() {
		if b.Daemon == "" {
			continue
		}
		w, ok := tests[b.Name]
		if !ok {
			t.Errorf("baseline %s runs %s but has no expectation here", b.Name, b.Daemon)
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			tw := twintest.New(t, b.Name)
			ctx := testContext(t)
			twintest.ECSInitRulesOnce(ctx, t, tw)
			check := func(when string, want map[twin.Endpoint]bool) {
				for _, task := range twin.Tasks() {
					_, err := tw.Credentials(ctx, task)
					if got := err == nil; got != want[task] {
						t.Errorf("%s: %s task reaches its credentials: %v (%v), want %v", when, task, got, err, want[task])
					} else if err != nil && !twin.IsBlocked(err) {
						t.Errorf("%s: %s task: %v, want blocked", when, task, err)
					}
				}
			}
			check("at boot", w.boot)
			for _, e := range b.Events() {
				if e == twin.EventSysctlSystem {
					continue
				}
				if err := tw.Do(ctx, e); err != nil {
					t.Fatal(err)
				}
				check("after "+string(e), w.afterEvents)
				if b.Daemon == twin.DaemonFirewalld {
					// Docker answered: its rules are back, ecs-init's are not.
					r, err := tw.Ruleset(ctx)
					if err != nil {
						t.Fatal(err)
					}
					save := r.IptablesNFT
					if b.Iptables == twin.IptablesLegacy {
						save = r.IptablesLegacy
					}
					if !strings.Contains(save, "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT") {
						t.Errorf("after %s: Docker's FORWARD rules are missing:\n%s", e, save)
					}
					if n := r.ECSInitRuleCounts()["credentials-dnat"]; n != 0 {
						t.Errorf("after %s: ecs-init's DNAT present %d times, want flushed", e, n)
					}
				}
			}
			if err := tw.Do(ctx, twin.EventSysctlSystem); err != nil {
				t.Fatal(err)
			}
			if err := tw.Connect(ctx, twin.Bridge, twin.VPCServiceAddr); !twin.IsBlocked(err) {
				t.Errorf("after sysctl --system: bridge -> VPC: %v, want blocked (CIS ip_forward=0)", err)
			}
			if err := tw.Do(ctx, twin.EventUfwReload); b.Daemon != twin.DaemonUfw && err == nil {
				t.Errorf("ufw reload on a %s host: no error", b.Daemon)
			}
		})
	}
}
