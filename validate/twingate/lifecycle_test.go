package twingate_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
	"github.com/cisecs/cisecs/validate/twingate"
)

// logWriter sends the gate's and the host script's lines to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// provision bakes tw as the gate does (twingate's Launch): the host script,
// then a boot from the baked disk.
func provision(ctx context.Context, t *testing.T, tw *twin.Twin) {
	t.Helper()
	b, err := twingate.New(twingate.Options{Twin: tw, Log: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Launch(ctx, validate.Options{}.Probes()); err != nil {
		t.Fatal(err)
	}
}

// gatePasses runs the whole release gate on tw (it provisions tw again,
// which changes nothing, and closes it at the end).
func gatePasses(ctx context.Context, t *testing.T, tw *twin.Twin) {
	t.Helper()
	b, err := twingate.New(twingate.Options{Twin: tw, Log: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	r := validate.Run(ctx, b, validate.Options{ImageID: b.ImageID(), Progress: logWriter{t}, Timeout: 2 * time.Minute})
	if r.ExitCode() != validate.ExitPass {
		t.Errorf("gate: exit %d: %s", r.ExitCode(), r.Summary())
		for _, c := range r.Checks {
			t.Logf("%s %s: %s", c.Name, c.Status, c.Message)
		}
	}
}

// reachesCredentials fails unless every task gets credentials and metadata.
func reachesCredentials(ctx context.Context, t *testing.T, tw *twin.Twin, when string) {
	t.Helper()
	for _, task := range twin.Tasks() {
		if _, err := tw.Credentials(ctx, task); err != nil {
			t.Errorf("%s: %s task: credentials: %v", when, task, err)
		}
		if _, err := tw.Metadata(ctx, task); err != nil {
			t.Errorf("%s: %s task: metadata: %v", when, task, err)
		}
	}
}

// sysctlValue reads a sysctl as the host sees it.
func sysctlValue(t *testing.T, tw *twin.Twin, key string) string {
	t.Helper()
	return strings.TrimSpace(twintest.Exec(t, tw, "sysctl", "-n", key))
}

// chains returns table -> chain -> rules of an iptables-save text.
func chains(save string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	table := ""
	for _, line := range strings.Split(save, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			out[table] = map[string][]string{}
		case strings.HasPrefix(line, "-A "):
			chain, _, _ := strings.Cut(line[3:], " ")
			out[table][chain] = append(out[table][chain], line)
		}
	}
	return out
}

// backendChains returns the chains of the baseline's iptables backend.
func backendChains(ctx context.Context, t *testing.T, tw *twin.Twin) map[string]map[string][]string {
	t.Helper()
	rs, err := tw.Ruleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tw.Baseline().Iptables == twin.IptablesLegacy {
		return chains(rs.IptablesLegacy)
	}
	return chains(rs.IptablesNFT)
}

// marker is a rule without a target, put first in INPUT and last in the
// nat chains before each event: after a start, ecs-init's -I rules must
// be above it, its -A rules below it.
var marker = []string{"-m", "comment", "--comment", "twin-marker"}

// assertECSInitPlaced fails unless ecs-init's rules are where a fresh
// start puts them: its filter rules, last inserted first, at the top of
// INPUT; its nat rules last in PREROUTING and OUTPUT.
func assertECSInitPlaced(ctx context.Context, t *testing.T, tw *twin.Twin, e twin.ECSInit, when string) {
	t.Helper()
	rules, err := e.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	last := map[string]string{}
	for _, r := range rules {
		switch {
		case r.IPv6:
		case r.Table == "filter":
			top = append([]string{r.Saved}, top...)
		default:
			chain, _, _ := strings.Cut(strings.TrimPrefix(r.Saved, "-A "), " ")
			last[chain] = r.Saved
		}
	}
	c := backendChains(ctx, t, tw)
	if input := c["filter"]["INPUT"]; len(input) < len(top) || !slices.Equal(input[:len(top)], top) {
		t.Errorf("%s: INPUT starts\n%s\nwant ecs-init's rules first\n%s", when, strings.Join(input, "\n"), strings.Join(top, "\n"))
	}
	for chain, rule := range last {
		if got := c["nat"][chain]; len(got) == 0 || got[len(got)-1] != rule {
			t.Errorf("%s: nat %s is\n%s\nwant it to end with %s", when, chain, strings.Join(got, "\n"), rule)
		}
	}
}

// lifecycle makes each of twin.AgentEvents happen on a provisioned twin,
// with ecs-init modelled by e, and checks the host after each: stopped,
// no rule of ecs-init and route_localnet at its default; started again,
// credentials, metadata and bridge egress back, every rule once and in
// the place a fresh start gives it.
func lifecycle(ctx context.Context, t *testing.T, tw *twin.Twin, e twin.ECSInit) {
	t.Helper()
	for _, ev := range twin.AgentEvents() {
		placeMarkers(ctx, t, tw)
		if err := tw.Do(ctx, ev); err != nil {
			t.Fatal(err)
		}
		when := "after " + string(ev)
		if ev == twin.EventAgentStop {
			if tw.AgentRunning() {
				t.Errorf("%s: the agent runs", when)
			}
			for _, task := range twin.Tasks() {
				if _, err := tw.Credentials(ctx, task); err == nil {
					t.Errorf("%s: %s task got credentials from a stopped agent", when, task)
				}
			}
			rs, err := tw.Ruleset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for name, n := range rs.ECSInitRuleCounts() {
				if n != 0 {
					t.Errorf("%s: ecs-init rule %s present %d times, want deleted by post-stop", when, name, n)
				}
			}
			if got, def := sysctlValue(t, tw, "net.ipv4.conf.all.route_localnet"), sysctlValue(t, tw, "net.ipv4.conf.default.route_localnet"); got != def {
				t.Errorf("%s: all.route_localnet = %s, want the default %s", when, got, def)
			}
			continue
		}
		if !tw.AgentRunning() {
			t.Errorf("%s: the agent does not run; journal:\n%s", when, strings.Join(tw.Journal(), "\n"))
		}
		reachesCredentials(ctx, t, tw, when)
		if err := tw.Connect(ctx, twin.Bridge, twin.VPCServiceAddr); err != nil {
			t.Errorf("%s: bridge task cannot reach the VPC: %v", when, err)
		}
		twintest.ECSInitRulesOnce(ctx, t, tw)
		assertECSInitPlaced(ctx, t, tw, e, when)
		if got := sysctlValue(t, tw, "net.ipv4.conf.all.route_localnet"); got != "1" {
			t.Errorf("%s: all.route_localnet = %s, want 1", when, got)
		}
	}
	// Then what else the running host meets, with ecs-init's rules moved.
	for _, ev := range tw.Baseline().Events() {
		if err := tw.Do(ctx, ev); err != nil {
			t.Fatal(err)
		}
		reachesCredentials(ctx, t, tw, "after the agent's events and "+string(ev))
	}
}

// placeMarkers puts the marker first in INPUT and last in nat PREROUTING
// and OUTPUT, where it was or not.
func placeMarkers(ctx context.Context, t *testing.T, tw *twin.Twin) {
	t.Helper()
	for _, place := range [][]string{{"filter", "INPUT", "1"}, {"nat", "PREROUTING"}, {"nat", "OUTPUT"}} {
		del := append([]string{"iptables", "-t", place[0], "-D", place[1]}, marker...)
		tw.Exec(ctx, nil, del...) //nolint:errcheck // absent the first time
		add := append([]string{"iptables", "-t", place[0], "-A"}, append(place[1:], marker...)...)
		if place[0] == "filter" {
			add[3] = "-I"
		}
		twintest.Exec(t, tw, add...)
	}
	c := backendChains(ctx, t, tw)
	if input := c["filter"]["INPUT"]; len(input) == 0 || !strings.Contains(input[0], "twin-marker") {
		t.Fatalf("control: the marker is not first in INPUT:\n%s", strings.Join(input, "\n"))
	}
}

// hostECSInit is ecs-init on a twin booted with opts and an empty
// ecs.config: Docker's bridge docker0, the default route via eth0.
func hostECSInit(opts twin.Options) twin.ECSInit {
	return twin.ECSInit{Version: opts.AgentVersion, IPv6: !opts.IPv6Disabled, Bridge: "docker0", DefaultRoute: "eth0"}
}

// TestAgentLifecycle: on every baseline, after the real host script, the
// credentials path survives systemctl stop and start of ecs, its restart,
// a crash restarted by systemd and systemctl restart docker, with
// ecs-init's rules once each and moved where a fresh start puts them.
func TestAgentLifecycle(t *testing.T) {
	for _, b := range twin.Baselines() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.NewWith(t, b.Name, twin.Options{})
			provision(ctx, t, tw)
			reachesCredentials(ctx, t, tw, "after the host script and a reboot")
			lifecycle(ctx, t, tw, hostECSInit(twin.Options{}))
		})
	}
}

// TestOldAgent: an image pinned to an agent before 1.97.0, whose ecs-init
// closes the introspection port on the default route's interface, IPv4
// only: the host script keeps that rule out of what it saves, so a reboot
// does not double it; the lifecycle and the gate pass, for each firewall
// manager.
func TestOldAgent(t *testing.T) {
	opts := twin.Options{AgentVersion: "1.96.0"}
	old := twin.ECSInitRule{Name: "introspection-drop", Table: "filter", Saved: "-A INPUT -i eth0 -p tcp -m tcp --dport 51678 -j DROP"}
	current := twin.ECSInitRule{Name: "introspection-drop", Table: "filter", Saved: "-A INPUT ! -i lo -p tcp -m tcp --dport 51678 -j DROP"}
	for _, name := range []string{"al2-iptables-legacy", "ubuntu2404-iptables-nft", "al2023-nftables", "al2023-firewalld", "ubuntu2404-ufw"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.NewWith(t, name, opts)
			provision(ctx, t, tw)
			rs, err := tw.Ruleset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rs.Count(old) != 1 || rs.Count(current) != 0 || strings.Contains(rs.IP6tablesLegacy+rs.IP6tablesNFT, "51678") {
				t.Errorf("introspection rules: %q %d times, %q %d times, ip6tables:\n%s%s; want only the old one, once",
					old.Saved, rs.Count(old), current.Saved, rs.Count(current), rs.IP6tablesLegacy, rs.IP6tablesNFT)
			}
			twintest.ECSInitRulesOnce(ctx, t, tw)
			lifecycle(ctx, t, tw, hostECSInit(opts))
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			twintest.ECSInitRulesOnce(ctx, t, tw)
			gatePasses(ctx, t, tw)
		})
	}
}

// TestIPv6Disabled: on a host booted with ipv6.disable=1 there is no
// /proc/sys/net/ipv6 and ip6tables fails; ecs-init adds no ip6tables
// rule, and the host script and the gate pass.
func TestIPv6Disabled(t *testing.T) {
	opts := twin.Options{IPv6Disabled: true}
	for _, name := range []string{"al2-iptables-legacy", "ubuntu2404-iptables-nft", "al2023-nftables"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.NewWith(t, name, opts)
			if _, err := tw.Exec(ctx, nil, "test", "-e", "/proc/sys/net/ipv6"); err == nil {
				t.Error("/proc/sys/net/ipv6 exists in the host")
			}
			if _, err := tw.Exec(ctx, nil, "test", "-d", "/proc/sys/net/ipv4/conf/docker0"); err != nil {
				t.Errorf("/proc/sys/net/ipv4 lost with ipv6: %v", err)
			}
			var ee *twin.ExecError
			if _, err := tw.Exec(ctx, nil, "ip6tables", "-S"); !errors.As(err, &ee) || !strings.Contains(ee.Stderr, "Address family not supported") {
				t.Errorf("ip6tables -S: %v, want it to fail as without IPv6", err)
			}
			provision(ctx, t, tw)
			rs, err := tw.Ruleset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(rs.IP6tablesLegacy+rs.IP6tablesNFT, "51678") {
				t.Errorf("ip6tables rules on a host without IPv6:\n%s%s", rs.IP6tablesLegacy, rs.IP6tablesNFT)
			}
			twintest.ECSInitRulesOnce(ctx, t, tw)
			reachesCredentials(ctx, t, tw, "after the host script and a reboot")
			gatePasses(ctx, t, tw)
		})
	}
}

// TestAgent1970WithoutIPv6 is the bug 1.97.1 fixed: 1.97.0 runs ip6tables
// even without IPv6, so pre-start fails, post-stop removes what it added
// and the agent never runs; 1.97.1 looks for /proc/sys/net/ipv6 first.
func TestAgent1970WithoutIPv6(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tw := twintest.NewWith(t, "al2023-nftables", twin.Options{AgentVersion: "1.97.0", IPv6Disabled: true})
	if tw.AgentRunning() {
		t.Errorf("agent 1.97.0 runs without IPv6; journal:\n%s", strings.Join(tw.Journal(), "\n"))
	}
	rs, err := tw.Ruleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range rs.ECSInitRuleCounts() {
		if n != 0 {
			t.Errorf("ecs-init rule %s present %d times after the failed pre-start, want removed by post-stop", name, n)
		}
	}
	if err := tw.Do(ctx, twin.EventAgentStart); err == nil {
		t.Error("systemctl start ecs with agent 1.97.0 and no IPv6: no error")
	}
	fixed := twintest.NewWith(t, "al2023-nftables", twin.Options{AgentVersion: "1.97.1", IPv6Disabled: true})
	if !fixed.AgentRunning() {
		t.Errorf("agent 1.97.1 does not run without IPv6; journal:\n%s", strings.Join(fixed.Journal(), "\n"))
	}
	twintest.ECSInitRulesOnce(ctx, t, fixed)
}

// TestECSConfigOfTheUnit: ecs-init reads what its unit reads. The generic
// units (RHEL, Ubuntu) read /var/lib/ecs/ecs.config before
// /etc/ecs/ecs.config; Amazon Linux's reads only the latter.
func TestECSConfigOfTheUnit(t *testing.T) {
	for _, tt := range []struct {
		baseline string
		honoured bool
	}{
		{"ubuntu2404-iptables-nft", true},
		{"al2023-nftables", false},
	} {
		t.Run(tt.baseline, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, tt.baseline)
			twintest.Exec(t, tw, "mkdir", "-p", "/var/lib/ecs")
			if err := tw.WriteFile("/var/lib/ecs/ecs.config", []byte(twin.SkipLocalhostTrafficFilter+"=true\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			rs, err := tw.Ruleset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if tt.honoured {
				want = 0
			}
			if n := rs.ECSInitRuleCounts()["localhost-filter"]; n != want {
				t.Errorf("localhost filter present %d times with %s=true in /var/lib/ecs/ecs.config, want %d", n, twin.SkipLocalhostTrafficFilter, want)
			}
		})
	}
}
