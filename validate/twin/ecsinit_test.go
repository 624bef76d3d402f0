package twin

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/golden"
)

// ecsInitGoldenHeader names where the model in ecsinit.go comes from.
const ecsInitGoldenHeader = `# What ecs-init runs at start (ExecStartPre=amazon-ecs-init pre-start) and at
# stop (ExecStopPost=amazon-ecs-init post-stop), per agent-version era and
# host condition, as the twin models it (validate/twin/ecsinit.go). Generated:
# go test ./validate/twin -run TestECSInitGolden -update
#
# Origin: repository aws/amazon-ecs-agent.
#   1.100.0 and later: commit 8dfceca6 (1.105.1)
#     ecs-init/exec/iptables/iptables.go:97-221 (Create, Remove, modifyNetfilterEntry),
#       227-278 (rule arguments), 318-324 (/proc/sys/net/ipv6 check)
#     ecs-init/exec/sysctl/sysctl.go:70-109 (accept_ra, route_localnet)
#     ecs-init/engine/engine.go:98-116 (Docker's default bridge), 137-171 (PreStart),
#       364-375 (PostStop: route_localnet, then Remove, its errors ignored)
#     packaging/amazon-linux-ami-integrated/ecs.service:18-33,
#     packaging/generic-rpm-integrated/ecs.service:18-31,
#     packaging/generic-deb-integrated/debian/ecs.service:18-31
#       (Restart=on-failure, RestartSec=10s, PartOf=docker.service, EnvironmentFiles)
#   1.97.1 to 1.99.x: tag v1.97.1, iptables.go:98-165, 185-269, 309-315 (commit d97d513b: ip6tables
#     only when /proc/sys/net/ipv6 exists); engine.go New fails without a Docker bridge
#     until commit 2e3ae144 (1.100.0)
#   1.97.0: tag v1.97.0, iptables.go:97-164, 184-268 (commits 32407a59, 84739873,
#     9d770042: rules for IPv6, "! -i lo" and Docker's bridge)
#   1.61.2 to 1.96.x: tag v1.96.0, iptables.go:77-151, 171-217 (rules), 242-297
#     (ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME, else the IPv4 default route's
#     interface from /proc/net/route, else eth0; commit ed77a8bb, 1.61.2);
#     engine.go:123-159 (PreStart), 350-363 (PostStop)
# Lines marked [if the command before succeeded] run only then; [failure logged,
# ignored] do not stop ecs-init; any other failure fails pre-start, after which
# systemd runs post-stop and Restart=on-failure tries again 10 s later.
# <default> is the value "sysctl net.ipv4.conf.default.route_localnet" printed.
# From 1.86.1 (commit 1333a7d1) ecs.service is PartOf=docker.service: systemctl
# restart docker runs stop and start below around Docker's restart.
`

// ecsInitEras are the eras the golden file lists, by a version of each.
var ecsInitEras = []struct{ name, version string }{
	{"1.61.2 to 1.96.x", "1.96.0"},
	{"1.97.0", "1.97.0"},
	{"1.97.1 to 1.99.x", "1.97.1"},
	{"1.100.0 and later", CurrentAgentVersion},
}

// ecsInitConditions are the host conditions the golden file lists.
func ecsInitConditions() []struct {
	name string
	e    ECSInit
} {
	base := ECSInit{Config: map[string]string{}, IPv6: true, Bridge: "docker0", DefaultRoute: "eth0"}
	with := func(f func(*ECSInit)) ECSInit {
		e := base
		e.Config = map[string]string{}
		f(&e)
		return e
	}
	return []struct {
		name string
		e    ECSInit
	}{
		{"IPv6, Docker bridge docker0, IPv4 default route via eth0, empty ecs.config", base},
		{"kernel booted with ipv6.disable=1 (no /proc/sys/net/ipv6; ip6tables fails)", with(func(e *ECSInit) { e.IPv6 = false })},
		{"Docker without a default bridge network", with(func(e *ECSInit) { e.Bridge = "" })},
		{"no IPv4 default route (1.94.0 and later also add 169.254.170.2/32 dev lo by netlink, not listed)", with(func(e *ECSInit) { e.DefaultRoute = "" })},
		{SkipLocalhostTrafficFilter + "=true", with(func(e *ECSInit) { e.Config[SkipLocalhostTrafficFilter] = "true" })},
		{AllowOffhostIntrospectionAccess + "=true", with(func(e *ECSInit) { e.Config[AllowOffhostIntrospectionAccess] = "true" })},
		{OffhostIntrospectionInterface + "=ens5", with(func(e *ECSInit) { e.Config[OffhostIntrospectionInterface] = "ens5" })},
	}
}

// renderECSInitGolden lists the model's commands for every era and
// condition, and the agent unit's EnvironmentFiles per baseline.
func renderECSInitGolden() []byte {
	var b bytes.Buffer
	b.WriteString(ecsInitGoldenHeader)
	for _, era := range ecsInitEras {
		fmt.Fprintf(&b, "\n## agent %s (modelled as %s)\n", era.name, era.version)
		for _, c := range ecsInitConditions() {
			c.e.Version = era.version
			fmt.Fprintf(&b, "\n### %s\n", c.name)
			for _, part := range []struct {
				name string
				cmds func() ([]ECSInitCommand, error)
			}{{"start", c.e.Start}, {"stop", c.e.Stop}} {
				cmds, err := part.cmds()
				if err != nil {
					fmt.Fprintf(&b, "%s: %v\n", part.name, err)
					continue
				}
				fmt.Fprintf(&b, "%s:\n", part.name)
				for _, cmd := range cmds {
					fmt.Fprintf(&b, "  %s\n", cmd)
				}
			}
		}
	}
	b.WriteString("\n## EnvironmentFiles of ecs.service, per baseline (a later file wins)\n")
	for _, bl := range Baselines() {
		fmt.Fprintf(&b, "%s: %s\n", bl.Name, strings.Join(bl.ecsEnvironmentFiles(), " "))
	}
	return b.Bytes()
}

// TestECSInitGolden pins ecs-init's behaviour: a change to the model, or
// a future ecs-init modelled anew, is a diff of one file to review.
func TestECSInitGolden(t *testing.T) {
	golden.Check(t, filepath.Join("testdata", "ecs-init.golden"), func() ([]byte, error) { return renderECSInitGolden(), nil })
}

func TestECSInitEras(t *testing.T) {
	tests := []struct {
		name, version string
		introspection string // the Saved form of introspection-drop
		v6            bool
		wantErr       string
	}{
		{"current by default", "", "-A INPUT ! -i lo -p tcp -m tcp --dport 51678 -j DROP", true, ""},
		{"last pre-1.97", "1.96.0", "-A INPUT -i eth0 -p tcp -m tcp --dport 51678 -j DROP", false, ""},
		{"first with the default route", "1.61.2", "-A INPUT -i eth0 -p tcp -m tcp --dport 51678 -j DROP", false, ""},
		{"1.97.0", "1.97.0", "-A INPUT ! -i lo -p tcp -m tcp --dport 51678 -j DROP", true, ""},
		{"too old", "1.61.1", "", false, `agent version "1.61.1": before 1.61.2`},
		{"not a version", "1.96", "", false, `agent version "1.96": want MAJOR.MINOR.PATCH`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ECSInit{Version: tt.version, IPv6: true, Bridge: "docker0", DefaultRoute: "eth0"}
			rules, err := e.Rules()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(rules, func(r ECSInitRule) bool { return r.Name == "introspection-drop" })
			if i < 0 || rules[i].Saved != tt.introspection {
				t.Errorf("introspection rule %+v, want %q", rules, tt.introspection)
			}
			if got := slices.ContainsFunc(rules, func(r ECSInitRule) bool { return r.IPv6 }); got != tt.v6 {
				t.Errorf("ip6tables rules: %v, want %v", got, tt.v6)
			}
		})
	}
	if _, err := (ECSInit{Version: "1.99.1"}).Start(); !errors.Is(err, ErrECSInitFails) {
		t.Errorf("1.99.1 without a Docker bridge: %v, want ErrECSInitFails", err)
	}
}
