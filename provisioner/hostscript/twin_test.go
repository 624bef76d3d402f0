package hostscript_test

// These tests run the rendered host script, as root, inside the host twin:
// a CIS-hardened ECS host made of network namespaces and real netfilter,
// with every file write kept in its own mount namespace.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
)

// report is the script's report, with what the tests ask of it.
type report struct{ hostscript.Report }

func (r report) findingIDs() []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	return ids
}

func (r report) changed() []string {
	var out []string
	for _, s := range r.Steps {
		for _, c := range s.Changed {
			out = append(out, s.Name+": "+c)
		}
	}
	return out
}

func (r report) deviationIDs() []string {
	var ids []string
	for _, d := range r.Deviations {
		ids = append(ids, d.ID)
	}
	return ids
}

// wantFirewall is the firewall the script must find on each baseline.
var wantFirewall = map[string]string{
	"al2-firewalld":           "firewalld",
	"al2-iptables-legacy":     "iptables-legacy",
	"al2023-firewalld":        "firewalld",
	"al2023-nftables":         "nftables",
	"rhel9-firewalld":         "firewalld",
	"rhel9-iptables-reject":   "iptables-nft",
	"ubuntu2204-nftables":     "nftables",
	"ubuntu2204-ufw":          "ufw",
	"ubuntu2404-iptables-nft": "iptables-nft",
	"ubuntu2404-ufw":          "ufw",
}

// wantDeviations are the firewall deviations the fix must report on each
// baseline (the sysctl one comes with bridge mode everywhere). On firewalld
// 1.x the credentials path is open by firewalld's own DNAT accept: the fix
// keeps ecs-init's DNAT through reloads and opens nothing.
func wantDeviations(baseline string) []string {
	switch baseline {
	case "al2023-firewalld", "rhel9-firewalld":
		return []string{"cisecs-firewalld-direct-dnat"}
	case "al2-firewalld":
		return []string{"cisecs-firewalld-direct-dnat", "cisecs-input-credentials"}
	}
	if wantHostOutput[baseline] {
		return []string{"cisecs-input-credentials", "cisecs-output-host-credentials"}
	}
	return []string{"cisecs-input-credentials"}
}

// wantHostOutput are the baselines whose output chain drops by default, so
// that the fix accepts the host-mode request there (REDIRECT'ed only);
// on every other baseline it must not touch output.
var wantHostOutput = map[string]bool{
	"al2-iptables-legacy":     true, // OUTPUT policy DROP
	"ubuntu2404-iptables-nft": true,
	"al2023-nftables":         true, // output chain policy drop
	"ubuntu2204-nftables":     true,
	"ubuntu2204-ufw":          true, // deny outgoing
	"ubuntu2404-ufw":          true,
}

// hostModeBreaks says what breaks a host-mode task's credentials on the
// unprovisioned baseline: "" where nothing does (the CIS host accepts lo
// and new tcp out), "boot" where ufw's deny-outgoing policy drops the
// REDIRECT'ed request in filter OUTPUT, "reload" where firewalld 1.x (or
// 0.4) flushes ecs-init's nat OUTPUT REDIRECT on its reload.
func hostModeBreaks(b twin.Baseline) string {
	switch b.Daemon {
	case twin.DaemonUfw:
		return "boot"
	case twin.DaemonFirewalld:
		return "reload"
	}
	return ""
}

// hostModeControl checks, on the unprovisioned twin, the host-mode task
// breaks exactly as hostModeBreaks says: the twin must model both
// reported defects, and nothing else.
func hostModeControl(ctx context.Context, t *testing.T, tw *twin.Twin) {
	t.Helper()
	want := hostModeBreaks(tw.Baseline())
	_, err := tw.Credentials(ctx, twin.HostMode)
	if got := err != nil; got != (want == "boot") {
		t.Fatalf("control: unprovisioned host-mode task at boot: %v, want blocked %v", err, want == "boot")
	}
	if want != "reload" {
		t.Logf("control: unprovisioned host-mode task at boot: %v", err)
		return
	}
	if err := tw.Do(ctx, twin.EventFirewalldReload); err != nil {
		t.Fatal(err)
	}
	if _, err = tw.Credentials(ctx, twin.HostMode); !twin.IsBlocked(err) {
		t.Fatalf("control: unprovisioned host-mode task after firewall-cmd --reload: %v, want blocked (ecs-init's REDIRECT flushed)", err)
	}
	t.Logf("control: after firewall-cmd --reload, the unprovisioned host-mode task lost its credentials: %v", err)
}

// runScript renders the script for steps and runs it in the twin host, the
// way the provisioner does: uploaded to /tmp, run with bash as root.
func runScript(ctx context.Context, t *testing.T, tw *twin.Twin, opts hostscript.Options) (report, error) {
	t.Helper()
	script, err := hostscript.Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteFile("/tmp/cisecs.sh", script, 0o700); err != nil {
		t.Fatal(err)
	}
	out, runErr := tw.Exec(ctx, nil, "bash", "/tmp/cisecs.sh")
	t.Logf("script output:\n%s", out)
	var ee *twin.ExecError
	if errors.As(runErr, &ee) {
		t.Logf("script stderr:\n%s", ee.Stderr)
	}
	var rep report
	b, err := tw.ReadFile(hostscript.DefaultReportPath)
	if err == nil {
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, b)
		}
	}
	return rep, runErr
}

// persisted returns the files the script may write, as the host's disk
// holds them, comment lines removed (iptables-save dates its output).
func persisted(t *testing.T, tw *twin.Twin) map[string]string {
	t.Helper()
	files := []string{"/etc/sysctl.d/99-zz-cisecs-ecs.conf", "/etc/nftables/cisecs-ecs.nft", "/etc/ecs/ecs.config"}
	for _, u := range tw.Baseline().Firewall {
		files = append(files, u.File)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := tw.ReadFile(f)
		if err != nil {
			continue
		}
		var keep []string
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "#") {
				keep = append(keep, line)
			}
		}
		out[f] = strings.Join(keep, "\n")
	}
	return out
}

var counters = regexp.MustCompile(`counter packets \d+ bytes \d+|\[\d+:\d+\]|(?m)^# .*$`)

// liveRules returns the host's whole live ruleset with counters and dated
// comments removed.
func liveRules(ctx context.Context, t *testing.T, tw *twin.Twin) string {
	t.Helper()
	rs, err := tw.Ruleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join([]string{rs.IptablesLegacy, rs.IP6tablesLegacy, rs.IptablesNFT, rs.IP6tablesNFT, rs.Nftables}, "\n")
	return counters.ReplaceAllString(all, "")
}

func mustReachCredentials(ctx context.Context, t *testing.T, tw *twin.Twin, when string) {
	t.Helper()
	for _, task := range twin.Tasks() {
		creds, err := tw.Credentials(ctx, task)
		if err != nil {
			t.Errorf("%s: %s task: credentials: %v", when, task, err)
			continue
		}
		want, _ := tw.Task(task)
		if creds.RoleArn != want.RoleARN || !creds.Expiration.After(time.Now()) {
			t.Errorf("%s: %s task: credentials for %q expiring %v, want %q in the future", when, task, creds.RoleArn, creds.Expiration, want.RoleARN)
		}
		if _, err := tw.Metadata(ctx, task); err != nil {
			t.Errorf("%s: %s task: task metadata v4: %v", when, task, err)
		}
	}
}

// widerProbes are what the fix must not open: no task reaches another host
// port, and the VPC reaches neither the agent's ports nor the credentials
// path through ecs-init's DNAT.
var widerProbes = []struct {
	from twin.Endpoint
	addr string
}{
	{twin.AWSVPC, net.JoinHostPort(twin.ECSBridgeAddr, twin.HostServicePort)},
	{twin.AWSVPC, net.JoinHostPort(twin.ECSBridgeAddr, twin.IntrospectionPort)},
	{twin.Bridge, net.JoinHostPort(twin.Docker0Addr, twin.HostServicePort)},
	{twin.VPC, net.JoinHostPort(twin.HostAddr, "51679")},
	{twin.VPC, net.JoinHostPort(twin.HostAddr, twin.IntrospectionPort)},
	{twin.VPC, net.JoinHostPort(twin.HostAddr, twin.HostServicePort)},
	{twin.VPC, twin.CredentialsAddr},
	// The host-mode accept in OUTPUT must not open the host's egress.
	{twin.Host, twin.VPCServiceAddr},
}

// openWithoutUs returns the widerProbes that the host opens before the
// fix: on a firewalld host, Docker's zone lets bridge tasks reach every host
// port, and firewalld's DNAT accept lets the VPC reach 169.254.170.2:80
// through ecs-init's own rule. Those are not the fix's to close (the report
// names Docker's as a finding); everything else must stay blocked.
func openWithoutUs(ctx context.Context, tw *twin.Twin) map[string]bool {
	open := map[string]bool{}
	for _, p := range widerProbes {
		if err := tw.Connect(ctx, p.from, p.addr); !twin.IsBlocked(err) {
			open[string(p.from)+" -> "+p.addr] = true
		}
	}
	return open
}

// mustBeNoWider checks that the fix opened the credentials path and nothing
// else: every probe blocked before the fix is blocked after it.
func mustBeNoWider(ctx context.Context, t *testing.T, tw *twin.Twin, before map[string]bool, when string) {
	t.Helper()
	for _, b := range widerProbes {
		key := string(b.from) + " -> " + b.addr
		if before[key] {
			continue
		}
		err := tw.Connect(ctx, b.from, b.addr)
		if !twin.IsBlocked(err) {
			t.Errorf("%s: %s: got %v, want the firewall to block it (it did before the fix)", when, key, err)
		}
	}
}

// mustSurviveEvents makes each of the baseline's events happen (firewalld
// reload and restart, ufw reload, sysctl --system) and checks credentials
// and bridge egress after each.
func mustSurviveEvents(ctx context.Context, t *testing.T, tw *twin.Twin, when string) {
	t.Helper()
	for _, e := range tw.Baseline().Events() {
		if err := tw.Do(ctx, e); err != nil {
			t.Fatal(err)
		}
		mustReachCredentials(ctx, t, tw, when+", after "+string(e))
		if err := tw.Connect(ctx, twin.Bridge, twin.VPCServiceAddr); err != nil {
			t.Errorf("%s, after %s: bridge task cannot reach the VPC: %v", when, e, err)
		}
	}
}

// controlBreaks shows what breaks on the unprovisioned host: a task that
// cannot reach its credentials at all, or, where firewalld's own DNAT
// accept opens the path, credentials that die with the first event
// (firewalld flushing ecs-init's DNAT on reload). It fails the test when
// nothing breaks: the twin would not model the CIS host.
func controlBreaks(ctx context.Context, t *testing.T, tw *twin.Twin) {
	t.Helper()
	for _, task := range twin.Tasks() {
		if _, err := tw.Credentials(ctx, task); twin.IsBlocked(err) {
			t.Logf("control: unprovisioned %s task cannot reach its credentials: %v", task, err)
			return
		}
	}
	for _, e := range tw.Baseline().Events() {
		if err := tw.Do(ctx, e); err != nil {
			t.Fatal(err)
		}
		for _, task := range twin.Tasks() {
			if _, err := tw.Credentials(ctx, task); twin.IsBlocked(err) {
				t.Logf("control: after %s, the unprovisioned %s task lost its credentials: %v", e, task, err)
				return
			}
		}
	}
	t.Fatalf("negative control: unprovisioned tasks reach their credentials at boot and after %v: the twin does not model the CIS host", tw.Baseline().Events())
}

// TestFixOnEveryBaseline is the project's central claim, on each CIS
// baseline, for awsvpc, bridge and host-mode tasks: the seed's bug is there, the script
// fixes it, the fix survives a reboot without duplicating ecs-init's rules,
// opens nothing else, and a second run changes nothing.
func TestFixOnEveryBaseline(t *testing.T) {
	for _, b := range twin.Baselines() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, b.Name)

			// The seed's bug: tasks start, but cannot reach their
			// credentials, at once or after a firewall reload.
			before := openWithoutUs(ctx, tw)
			hostModeControl(ctx, t, tw)
			controlBreaks(ctx, t, tw)

			// The standalone fix on a host that already runs the agent.
			rep, err := runScript(ctx, t, tw, hostscript.Options{Steps: []string{"firewall", "persist"}})
			if err != nil {
				t.Fatalf("firewall,persist: %v", err)
			}
			if rep.Firewall.Kind != wantFirewall[b.Name] {
				t.Errorf("firewall found: %q, want %q", rep.Firewall.Kind, wantFirewall[b.Name])
			}
			for _, id := range wantDeviations(b.Name) {
				if !slices.Contains(rep.deviationIDs(), id) {
					t.Errorf("report deviations %v lack %s", rep.deviationIDs(), id)
				}
			}
			if !slices.Contains(wantDeviations(b.Name), "cisecs-input-credentials") && slices.Contains(rep.deviationIDs(), "cisecs-input-credentials") {
				t.Errorf("report deviations %v: the fix opened the credentials path where firewalld already accepts it", rep.deviationIDs())
			}
			if !wantHostOutput[b.Name] && slices.Contains(rep.deviationIDs(), "cisecs-output-host-credentials") {
				t.Errorf("report deviations %v: the fix changed output where it does not drop by default", rep.deviationIDs())
			}
			if wantDocker := b.Daemon == twin.DaemonFirewalld; slices.Contains(rep.findingIDs(), "docker-firewalld-zone") != wantDocker {
				t.Errorf("report findings %v: want docker-firewalld-zone %v", rep.findingIDs(), wantDocker)
			}
			mustReachCredentials(ctx, t, tw, "after firewall,persist")

			// Bridge tasks also need forwarding, which CIS turns off and
			// systemd-sysctl turned off again after dockerd started.
			if err := tw.Connect(ctx, twin.Bridge, twin.VPCServiceAddr); err == nil {
				t.Errorf("bridge task reached the VPC before the sysctl step: the twin lost moby#47966")
			}
			full := hostscript.Options{Steps: []string{"config", "firewall", "persist", "sysctl"}}
			rep, err = runScript(ctx, t, tw, full)
			if err != nil {
				t.Fatalf("config,firewall,persist,sysctl: %v", err)
			}
			for _, id := range append(wantDeviations(b.Name), "cisecs-sysctl-ip-forward") {
				if !slices.Contains(rep.deviationIDs(), id) {
					t.Errorf("report deviations %v lack %s", rep.deviationIDs(), id)
				}
			}
			mustReachCredentials(ctx, t, tw, "after config,firewall,persist,sysctl")
			if err := tw.Connect(ctx, twin.Bridge, twin.VPCServiceAddr); err != nil {
				t.Errorf("bridge task cannot reach the VPC: %v", err)
			}
			mustBeNoWider(ctx, t, tw, before, "after the fix")

			// Idempotent: the same run again changes nothing.
			files, rules := persisted(t, tw), liveRules(ctx, t, tw)
			rep, err = runScript(ctx, t, tw, full)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if c := rep.changed(); len(c) > 0 {
				t.Errorf("second run changed: %q", c)
			}
			if got := persisted(t, tw); !mapsEqual(got, files) {
				t.Errorf("second run changed persisted files:\nbefore %q\nafter  %q", files, got)
			}
			if got := liveRules(ctx, t, tw); got != rules {
				t.Errorf("second run changed the live ruleset:\nbefore\n%s\nafter\n%s", rules, got)
			}

			// A reboot restores what was persisted, and ecs-init adds its
			// rules once more: they must be there exactly once.
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			mustReachCredentials(ctx, t, tw, "after reboot")
			if err := tw.Connect(ctx, twin.Bridge, twin.VPCServiceAddr); err != nil {
				t.Errorf("after reboot: bridge task cannot reach the VPC: %v", err)
			}
			mustBeNoWider(ctx, t, tw, before, "after reboot")
			twintest.ECSInitRulesOnce(ctx, t, tw)

			// What happens to a running host: firewall reloads and
			// restarts, sysctl --system.
			mustSurviveEvents(ctx, t, tw, "after reboot")
			mustBeNoWider(ctx, t, tw, before, "after the events")
		})
	}
}

// TestPublishedFixIsNotEnough shows, on each baseline, what the fix
// published in aws/amazon-ecs-agent#2877 does: it appends to iptables INPUT,
// so it fails before a terminal REJECT, on nftables CIS hosts and on
// pre-0.7 firewalld; on firewalld 1.x and ufw hosts it lasts until the
// next firewalld reload or boot.
func TestPublishedFixIsNotEnough(t *testing.T) {
	for _, b := range twin.Baselines() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, b.Name)
			ipt := "iptables-nft"
			if b.Iptables == twin.IptablesLegacy {
				ipt = "iptables-legacy"
			}
			for _, iface := range []string{"ecs-bridge", "docker0"} {
				if _, err := tw.Exec(ctx, nil, ipt, "-A", "INPUT", "-i", iface, "-d", "127.0.0.0/8", "-p", "tcp", "-m", "tcp", "--dport", "51679", "-j", "ACCEPT"); err != nil {
					t.Fatal(err)
				}
			}
			_, err := tw.Credentials(ctx, twin.AWSVPC)
			works := err == nil
			// firewalld 1.x needs no fix until it reloads; ufw's INPUT
			// reaches an appended rule, until the next boot.
			wantWorks := b.Name == "al2-iptables-legacy" || b.Name == "ubuntu2404-iptables-nft" ||
				b.Name == "al2023-firewalld" || b.Name == "rhel9-firewalld" || b.Daemon == twin.DaemonUfw
			if works != wantWorks {
				t.Errorf("published fix works: %v (err %v), want %v", works, err, wantWorks)
			}
			if !works || b.Daemon == "" {
				return
			}
			// Where it seems to work, the running host undoes it: a
			// firewalld reload flushes iptables, ufw's boot loads only its
			// own files.
			what := "firewall-cmd --reload"
			if b.Daemon == twin.DaemonFirewalld {
				err = tw.Do(ctx, twin.EventFirewalldReload)
			} else {
				what, err = "a reboot", tw.Reboot(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Credentials(ctx, twin.AWSVPC); !twin.IsBlocked(err) {
				t.Errorf("published fix after %s: %v, want the credentials blocked", what, err)
			}
		})
	}
}

// TestRefusesBeforeChanging covers the two stops of detect: a firewall in
// two back ends, and an OS the script does not know. Nothing may change.
func TestRefusesBeforeChanging(t *testing.T) {
	tests := []struct {
		name     string
		baseline string
		setup    [][]string
		osRel    string
		wantErr  string
	}{
		{
			name:     "drop policies in iptables-legacy and nftables",
			baseline: "al2023-nftables",
			setup:    [][]string{{"iptables-legacy", "-P", "INPUT", "DROP"}},
			wantErr:  "ambiguous firewall: iptables-legacy INPUT drops by default",
		},
		{
			name:     "unsupported OS",
			baseline: "ubuntu2404-iptables-nft",
			osRel:    "ID=debian\nVERSION_ID=\"12\"\n",
			wantErr:  "unsupported OS ID=debian VERSION_ID=12",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, tc.baseline)
			for _, argv := range tc.setup {
				if _, err := tw.Exec(ctx, nil, argv...); err != nil {
					t.Fatal(err)
				}
			}
			if tc.osRel != "" {
				if err := tw.WriteFile("/etc/os-release", []byte(tc.osRel), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			files, rules := persisted(t, tw), liveRules(ctx, t, tw)
			_, err := runScript(ctx, t, tw, hostscript.Options{SkipSteps: []string{"agent", "services"}})
			var ee *twin.ExecError
			if !errors.As(err, &ee) || !strings.Contains(ee.Stderr, tc.wantErr) {
				t.Fatalf("got %v, want a failure saying %q", err, tc.wantErr)
			}
			if _, err := tw.ReadFile(hostscript.DefaultReportPath); err == nil {
				t.Errorf("a report was written: detect must stop before anything changes")
			}
			if got := persisted(t, tw); !mapsEqual(got, files) {
				t.Errorf("persisted files changed:\nbefore %q\nafter  %q", files, got)
			}
			if got := liveRules(ctx, t, tw); got != rules {
				t.Errorf("live ruleset changed")
			}
		})
	}
}

// TestPersistChecksTheBootConfig: a live nftables table that the config
// loaded at boot does not define must stop persist, with the files as they
// were. Checked against the live ruleset it would pass, and at boot the
// whole config would fail to load, leaving no firewall at all.
func TestPersistChecksTheBootConfig(t *testing.T) {
	ctx := t.Context()
	tw := twintest.New(t, "al2023-nftables")
	adhoc := "table inet adhoc {\n chain input {\n  type filter hook input priority 10; policy drop;\n  iif lo accept\n }\n}\n"
	if _, err := tw.Exec(ctx, strings.NewReader(adhoc), "nft", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	// A config that does not flush the whole ruleset: checked against the
	// live ruleset, the adhoc table would seem to be there.
	conf := tw.Baseline().Firewall[0].File
	if _, err := tw.Exec(ctx, nil, "sed", "-i", "/^flush ruleset/d", conf); err != nil {
		t.Fatal(err)
	}
	files := persisted(t, tw)
	_, err := runScript(ctx, t, tw, hostscript.Options{Steps: []string{"firewall", "persist"}})
	var ee *twin.ExecError
	if !errors.As(err, &ee) || !strings.Contains(ee.Stderr, "would not load at boot with the cisecs rules") {
		t.Fatalf("got %v, want persist to refuse a config that would not load at boot", err)
	}
	if got := persisted(t, tw); !mapsEqual(got, files) {
		t.Errorf("persisted files changed:\nbefore %q\nafter  %q", files, got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// phases is where a scenario's time goes.
type phases struct {
	boot, provision, reboot, probe, close time.Duration
}

func (p phases) total() time.Duration { return p.boot + p.provision + p.reboot + p.probe + p.close }

func (p *phases) add(q phases) {
	p.boot += q.boot
	p.provision += q.provision
	p.reboot += q.reboot
	p.probe += q.probe
	p.close += q.close
}

// scenario is one budgeted run: build the twin, provision it, reboot it,
// and probe both tasks' credentials. It says how long each phase took.
func scenario(ctx context.Context, b *testing.B, baseline string, script []byte) phases {
	var p phases
	lap := func(d *time.Duration) func() {
		start := time.Now()
		return func() { *d = time.Since(start) }
	}
	done := lap(&p.boot)
	tw := twintest.New(b, baseline)
	done()
	done = lap(&p.provision)
	if err := tw.WriteFile("/tmp/cisecs.sh", script, 0o700); err != nil {
		b.Fatal(err)
	}
	if _, err := tw.Exec(ctx, nil, "bash", "/tmp/cisecs.sh"); err != nil {
		b.Fatal(err)
	}
	done()
	done = lap(&p.reboot)
	if err := tw.Reboot(ctx); err != nil {
		b.Fatal(err)
	}
	done()
	done = lap(&p.probe)
	for _, task := range twin.Tasks() {
		if _, err := tw.Credentials(ctx, task); err != nil {
			b.Fatalf("%s task: %v", task, err)
		}
	}
	done()
	done = lap(&p.close)
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	done()
	return p
}

// scenarioBudget is how long one scenario may take on a baseline, by the
// firewall it runs: a daemon's own commands (firewall-cmd is a Python
// program talking D-Bus, ~0.5 s a call) cost far more than nft or
// iptables-restore.
func scenarioBudget(bl twin.Baseline) time.Duration {
	switch bl.Daemon {
	case twin.DaemonFirewalld:
		return 15 * time.Second
	case twin.DaemonUfw:
		return 5 * time.Second
	}
	return 3 * time.Second
}

// BenchmarkScenario measures one twin scenario per baseline, phase by
// phase (the reboot includes the baseline's firewall restore or daemon
// start), against the baseline's budget.
func BenchmarkScenario(b *testing.B) {
	script, err := hostscript.Render(hostscript.Options{Steps: []string{"config", "firewall", "persist", "sysctl"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bl := range twin.Baselines() {
		b.Run(bl.Name, func(b *testing.B) {
			var sum phases
			n := 0
			for b.Loop() {
				sum.add(scenario(b.Context(), b, bl.Name, script))
				n++
			}
			per := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(n) }
			for _, m := range []struct {
				unit string
				d    time.Duration
			}{
				{"boot-ms", sum.boot},
				{"provision-ms", sum.provision},
				{"reboot-ms", sum.reboot},
				{"probe-ms", sum.probe},
				{"close-ms", sum.close},
			} {
				b.ReportMetric(per(m.d), m.unit)
			}
			budget.Max(b, "scenario "+bl.Name, sum.total().Seconds()/float64(n), scenarioBudget(bl).Seconds(), "s/scenario")
		})
	}
}

// BenchmarkMatrix measures the whole scenario matrix, every baseline at
// once.
func BenchmarkMatrix(b *testing.B) {
	script, err := hostscript.Render(hostscript.Options{Steps: []string{"config", "firewall", "persist", "sysctl"}})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		var wg sync.WaitGroup
		for _, bl := range twin.Baselines() {
			wg.Go(func() { scenario(b.Context(), b, bl.Name, script) })
		}
		wg.Wait()
		n++
	}
	budget.Max(b, fmt.Sprintf("matrix of %d scenarios, side by side", len(twin.Baselines())), b.Elapsed().Seconds()/float64(n), 45, "s/matrix")
}

// TestFirewalldStoppedAtBake covers an image baked with firewalld enabled
// but stopped: the script writes firewalld's own configuration offline
// (direct.xml; firewall-offline-cmd reads the rest), and the instance that
// boots from it keeps its credentials through a reload and a restart.
func TestFirewalldStoppedAtBake(t *testing.T) {
	ctx := t.Context()
	tw := twintest.New(t, "al2023-firewalld")
	if err := tw.Do(ctx, twin.EventFirewalldStop); err != nil {
		t.Fatal(err)
	}
	opts := hostscript.Options{Steps: []string{"config", "firewall", "persist", "sysctl"}}
	rep, err := runScript(ctx, t, tw, opts)
	if err != nil {
		t.Fatalf("script with firewalld stopped: %v", err)
	}
	if rep.Firewall.Kind != "firewalld" || !slices.Contains(rep.deviationIDs(), "cisecs-firewalld-direct-dnat") {
		t.Errorf("firewall %q, deviations %v: want firewalld and the direct DNAT", rep.Firewall.Kind, rep.deviationIDs())
	}
	direct, err := tw.ReadFile("/etc/firewalld/direct.xml")
	if err != nil || !strings.Contains(string(direct), `chain="PREROUTING"`) {
		t.Fatalf("direct.xml: %v\n%s", err, direct)
	}
	rep, err = runScript(ctx, t, tw, opts)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if c := rep.changed(); len(c) > 0 {
		t.Errorf("second run changed: %q", c)
	}
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	mustReachCredentials(ctx, t, tw, "after reboot")
	twintest.ECSInitRulesOnce(ctx, t, tw)
	mustSurviveEvents(ctx, t, tw, "after reboot")
}

// TestDockerZoneNarrowing applies the narrowing the report's finding
// offers for Docker's ACCEPT zone and proves it: after the next boot,
// bridge tasks no longer reach other host ports, and still reach their
// credentials, through a firewalld reload.
func TestDockerZoneNarrowing(t *testing.T) {
	ctx := t.Context()
	tw := twintest.New(t, "al2023-firewalld")
	rep, err := runScript(ctx, t, tw, hostscript.Options{Steps: []string{"config", "firewall", "persist", "sysctl"}})
	if err != nil {
		t.Fatal(err)
	}
	hostPort := net.JoinHostPort(twin.Docker0Addr, twin.HostServicePort)
	if err := tw.Connect(ctx, twin.Bridge, hostPort); err != nil {
		t.Fatalf("control: bridge task -> %s: %v, want Docker's zone to let it through", hostPort, err)
	}
	var narrowing string
	for _, f := range rep.Findings {
		if f.ID == "docker-firewalld-zone" {
			narrowing = f.Narrowing
		}
	}
	cmds := regexp.MustCompile(`firewall-cmd [^,&]*?(?: --set-target REJECT|--add-egress-zone HOST|--add-ingress-zone docker|--new-policy docker-to-host)`).FindAllString(narrowing, -1)
	if len(cmds) != 4 {
		t.Fatalf("narrowing %q: found %d firewall-cmd commands, want 4", narrowing, len(cmds))
	}
	for _, c := range cmds {
		if _, err := tw.Exec(ctx, nil, strings.Fields(c)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tw.Connect(ctx, twin.Bridge, hostPort); !twin.IsBlocked(err) {
		t.Errorf("after the narrowing: bridge task -> %s: %v, want blocked", hostPort, err)
	}
	mustReachCredentials(ctx, t, tw, "after the narrowing")
	mustSurviveEvents(ctx, t, tw, "after the narrowing")
}

// TestUfwBridgeModeIsReversible: dropping bridge mode on a ufw host takes
// back what bridge mode needed: /etc/sysctl.conf (ufw's IPT_SYSCTL) is as
// the hardening left it, and before.rules no longer accepts docker0; the
// awsvpc task keeps its credentials through a reboot and a ufw reload.
func TestUfwBridgeModeIsReversible(t *testing.T) {
	ctx := t.Context()
	tw := twintest.New(t, "ubuntu2404-ufw")
	original, err := tw.ReadFile("/etc/sysctl.conf")
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{"config", "firewall", "persist", "sysctl"}
	if _, err := runScript(ctx, t, tw, hostscript.Options{Steps: steps}); err != nil {
		t.Fatal(err)
	}
	if got, _ := tw.ReadFile("/etc/sysctl.conf"); string(got) == string(original) {
		t.Fatalf("bridge mode left /etc/sysctl.conf as it was: ufw reload would turn forwarding off")
	}
	if _, err := runScript(ctx, t, tw, hostscript.Options{Steps: steps, NetworkModes: []string{"awsvpc"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := tw.ReadFile("/etc/sysctl.conf"); string(got) != string(original) {
		t.Errorf("awsvpc only: /etc/sysctl.conf is\n%s\nwant it as the hardening left it\n%s", got, original)
	}
	before, _ := tw.ReadFile("/etc/ufw/before.rules")
	if strings.Contains(string(before), "docker0") || !strings.Contains(string(before), "-i ecs-bridge") {
		t.Errorf("awsvpc only: before.rules has the docker0 rule or lacks ecs-bridge's:\n%s", before)
	}
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tw.Do(ctx, twin.EventUfwReload); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Credentials(ctx, twin.AWSVPC); err != nil {
		t.Errorf("awsvpc task after reboot and ufw reload: %v", err)
	}
	if _, err := tw.Credentials(ctx, twin.Bridge); !twin.IsBlocked(err) {
		t.Errorf("bridge task after dropping bridge mode: %v, want blocked", err)
	}
}

// TestHostModeSurvivesFirewalldReload is the first reported defect: on
// firewalld before 2.0, firewall-cmd --reload (and a restart) flushes
// ecs-init's nat OUTPUT REDIRECT, and host-mode tasks lose their
// credentials until the agent restarts. The fix keeps the REDIRECT as a
// firewalld direct rule: after the reload ecs-init's own copy is gone, and
// the host-mode task still gets its credentials, through firewalld's.
func TestHostModeSurvivesFirewalldReload(t *testing.T) {
	for _, name := range []string{"al2023-firewalld", "rhel9-firewalld", "al2-firewalld"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, name)
			redirect := twin.ECSInitRule{Name: "credentials-redirect", Table: "nat",
				Saved: "-A OUTPUT -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 51679"}
			rep, err := runScript(ctx, t, tw, hostscript.Options{Steps: []string{"config", "firewall", "persist", "sysctl"}})
			if err != nil {
				t.Fatal(err)
			}
			var change string
			for _, d := range rep.Deviations {
				if d.ID == "cisecs-firewalld-direct-dnat" {
					change = d.Change
				}
			}
			if !strings.Contains(change, "nat OUTPUT: the REDIRECT ecs-init adds") {
				t.Errorf("deviation cisecs-firewalld-direct-dnat says %q, want it to name the nat OUTPUT REDIRECT", change)
			}
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			for _, e := range []twin.Event{twin.EventFirewalldReload, twin.EventFirewalldRestart, twin.EventFirewalldReload} {
				if err := tw.Do(ctx, e); err != nil {
					t.Fatal(err)
				}
				rs, err := tw.Ruleset(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n := rs.Count(redirect); n != 0 {
					t.Fatalf("after %s: ecs-init's REDIRECT present %d times: the twin no longer flushes it, so this test proves nothing", e, n)
				}
				if _, err := tw.Credentials(ctx, twin.HostMode); err != nil {
					t.Errorf("after %s: host-mode task: %v", e, err)
				}
				if _, err := tw.Metadata(ctx, twin.HostMode); err != nil {
					t.Errorf("after %s: host-mode task metadata: %v", e, err)
				}
			}
		})
	}
}

// TestHostModeThroughUfwDenyOutgoing is the second reported defect: with
// the roles' deny-outgoing policy, ufw drops host-mode tasks' requests in
// filter OUTPUT (after ecs-init's REDIRECT it still sees eth0 and port
// 51679, so the -o lo accept does not match). The fix accepts in
// ufw-before-output only what that REDIRECT rewrote: the host's other
// egress stays denied, through a reboot and a ufw reload.
func TestHostModeThroughUfwDenyOutgoing(t *testing.T) {
	for _, name := range []string{"ubuntu2204-ufw", "ubuntu2404-ufw"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, name)
			if _, err := tw.Credentials(ctx, twin.HostMode); !twin.IsBlocked(err) {
				t.Fatalf("control: unprovisioned host-mode task: %v, want blocked by ufw's deny outgoing", err)
			}
			if err := tw.Connect(ctx, twin.Host, twin.VPCServiceAddr); !twin.IsBlocked(err) {
				t.Fatalf("control: host -> %s: %v, want blocked by ufw's deny outgoing", twin.VPCServiceAddr, err)
			}
			rep, err := runScript(ctx, t, tw, hostscript.Options{Steps: []string{"config", "firewall", "persist", "sysctl"}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(rep.deviationIDs(), "cisecs-output-host-credentials") {
				t.Errorf("report deviations %v lack cisecs-output-host-credentials", rep.deviationIDs())
			}
			rules, err := tw.ReadFile("/etc/ufw/before.rules")
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`(?m)^-A ufw-before-output .*--ctorigdst 169\.254\.170\.2/32 --ctorigdstport 80 .*-j ACCEPT$`).Match(rules) {
				t.Errorf("before.rules has no REDIRECT-only accept in ufw-before-output:\n%s", rules)
			}
			check := func(when string) {
				t.Helper()
				if _, err := tw.Credentials(ctx, twin.HostMode); err != nil {
					t.Errorf("%s: host-mode task: %v", when, err)
				}
				if err := tw.Connect(ctx, twin.Host, twin.VPCServiceAddr); !twin.IsBlocked(err) {
					t.Errorf("%s: host -> %s: %v, want ufw's deny outgoing kept", when, twin.VPCServiceAddr, err)
				}
			}
			check("after the fix")
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			check("after reboot")
			if err := tw.Do(ctx, twin.EventUfwReload); err != nil {
				t.Fatal(err)
			}
			check("after ufw reload")
		})
	}
}

// TestHostModeIsReversible: dropping host mode takes back what host mode
// needed, in each firewall manager: no cisecs host rule stays live or in
// the files the host loads at boot, ecs.config stops promising host-mode
// tasks their roles, and the other tasks keep their credentials through a
// reboot and the baseline's events.
func TestHostModeIsReversible(t *testing.T) {
	for _, name := range []string{"al2-iptables-legacy", "al2023-nftables", "ubuntu2404-ufw", "al2023-firewalld"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, name)
			steps := []string{"config", "firewall", "persist", "sysctl"}
			if _, err := runScript(ctx, t, tw, hostscript.Options{Steps: steps}); err != nil {
				t.Fatal(err)
			}
			hostRule := "ECS task credentials (host"
			if !strings.Contains(liveRules(ctx, t, tw)+strings.Join(slices.Collect(maps.Values(persisted(t, tw))), "\n")+daemonFiles(t, tw), hostRule) {
				t.Fatalf("control: no cisecs host-mode rule live or persisted after the fix")
			}
			rep, err := runScript(ctx, t, tw, hostscript.Options{Steps: steps, NetworkModes: []string{"awsvpc", "bridge"}})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(rep.deviationIDs(), "cisecs-output-host-credentials") {
				t.Errorf("without host mode, deviations %v still hold the host-mode output accept", rep.deviationIDs())
			}
			check := func(when string) {
				t.Helper()
				if live := liveRules(ctx, t, tw); strings.Contains(live, hostRule) {
					t.Errorf("%s: a cisecs host-mode rule is live:\n%s", when, live)
				}
				for f, content := range persisted(t, tw) {
					if strings.Contains(content, hostRule) {
						t.Errorf("%s: %s still holds a cisecs host-mode rule:\n%s", when, f, content)
					}
				}
				if d := daemonFiles(t, tw); strings.Contains(d, hostRule) {
					t.Errorf("%s: direct.xml or before.rules still holds a cisecs host-mode rule:\n%s", when, d)
				}
				if cfg, _ := tw.ReadFile("/etc/ecs/ecs.config"); !strings.Contains(string(cfg), "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false") {
					t.Errorf("%s: ecs.config %q still gives host-mode tasks their roles", when, cfg)
				}
				for _, task := range twin.DNATTasks() {
					if _, err := tw.Credentials(ctx, task); err != nil {
						t.Errorf("%s: %s task: %v", when, task, err)
					}
				}
			}
			check("after dropping host mode")
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			check("after reboot")
			for _, e := range tw.Baseline().Events() {
				if err := tw.Do(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			check("after " + fmt.Sprint(tw.Baseline().Events()))
		})
	}
}

// daemonFiles returns the files a firewall daemon loads the cisecs rules
// from (firewalld's direct.xml, ufw's before.rules) as the host's disk
// holds them, those there are.
func daemonFiles(t *testing.T, tw *twin.Twin) string {
	t.Helper()
	var out string
	for _, f := range []string{"/etc/firewalld/direct.xml", "/etc/ufw/before.rules"} {
		if b, err := tw.ReadFile(f); err == nil {
			out += string(b)
		}
	}
	return out
}
