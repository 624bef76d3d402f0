package twin

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// CurrentAgentVersion is the agent a twin runs unless Options.AgentVersion
// says otherwise: aws/amazon-ecs-agent 1.105.1, commit 8dfceca6.
const CurrentAgentVersion = "1.105.1"

// OffhostIntrospectionInterface, before agent 1.97.0, names the interface
// ecs-init closes the introspection port on, instead of the interface of
// the IPv4 default route.
const OffhostIntrospectionInterface = "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME"

// routeLocalnetDefault stands, in the command that restores
// net.ipv4.conf.all.route_localnet, for the value the command before it
// read from net.ipv4.conf.default.route_localnet.
const routeLocalnetDefault = "<default>"

// era is a span of agent versions whose ecs-init runs the same commands.
type era int

const (
	// eraIfaceDrop (1.61.2 to 1.96.x, source v1.96.0): the introspection
	// port is closed on the default route's interface, IPv4 only.
	eraIfaceDrop era = iota
	// eraLoopback (1.97.0): closed on every interface but lo, opened on
	// Docker's bridge, with ip6tables whenever it is installed; no Docker
	// default bridge makes ecs-init fail.
	eraLoopback
	// eraIPv6Check (1.97.1 to 1.99.x): ip6tables only when
	// /proc/sys/net/ipv6 exists.
	eraIPv6Check
	// eraCurrent (1.100.0 and later): no Docker default bridge skips the
	// docker0 rule instead of failing.
	eraCurrent
)

// eraOf returns the era of an agent version ("1.96.0"); empty means
// CurrentAgentVersion.
func eraOf(version string) (era, error) {
	if version == "" {
		version = CurrentAgentVersion
	}
	v, err := parseVersion(version)
	if err != nil {
		return 0, err
	}
	switch {
	case before(v, 1, 61, 2):
		return 0, fmt.Errorf("agent version %q: before 1.61.2 ecs-init is not modelled", version)
	case before(v, 1, 97, 0):
		return eraIfaceDrop, nil
	case before(v, 1, 97, 1):
		return eraLoopback, nil
	case before(v, 1, 100, 0):
		return eraIPv6Check, nil
	}
	return eraCurrent, nil
}

// parseVersion parses "MAJOR.MINOR.PATCH".
func parseVersion(s string) ([3]int, error) {
	var v [3]int
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("agent version %q: want MAJOR.MINOR.PATCH", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("agent version %q: want MAJOR.MINOR.PATCH", s)
		}
		v[i] = n
	}
	return v, nil
}

// partOfDocker says the version's ecs.service has PartOf=docker.service
// (1.86.1 and later, aws/amazon-ecs-agent#4277): restarting Docker
// restarts the agent's unit, post-stop and pre-start included.
func partOfDocker(version string) bool {
	if version == "" {
		return true
	}
	v, err := parseVersion(version)
	return err == nil && !before(v, 1, 86, 1)
}

// before says version v is older than major.minor.patch.
func before(v [3]int, major, minor, patch int) bool {
	return slices.Compare(v[:], []int{major, minor, patch}) < 0
}

// ECSInit is what decides the commands ecs-init runs: its version and
// what it finds on the host.
type ECSInit struct {
	// Version is the agent version ("1.96.0"); empty means
	// CurrentAgentVersion.
	Version string
	// Config is the environment ecs.service gives ecs-init, read from the
	// unit's EnvironmentFiles.
	Config map[string]string
	// IPv6 says /proc/sys/net/ipv6 exists: false on a kernel booted with
	// ipv6.disable=1.
	IPv6 bool
	// Bridge is the interface of Docker's default bridge network
	// ("docker0"), empty when Docker has none.
	Bridge string
	// DefaultRoute is the interface of the IPv4 default route, empty when
	// there is none.
	DefaultRoute string
}

// ErrECSInitFails is returned (wrapped) when ecs-init fails before it
// runs any command.
var ErrECSInitFails = errors.New("ecs-init fails")

// ECSInitCommand is one command ecs-init runs, as it execs it.
type ECSInitCommand struct {
	// Argv is the command line; routeLocalnetDefault in it stands for
	// the value the command before it printed.
	Argv []string
	// Rule names the ECSInitRule the command adds or deletes.
	Rule string
	// AfterOK says ecs-init runs the command only if the one before it
	// succeeded (an ip6tables copy, the route_localnet restore).
	AfterOK bool
	// Fatal says a failure ends the action: pre-start fails and so does
	// the unit's start. Other failures are logged.
	Fatal bool
}

// String returns the command line with its conditions, as the golden
// file lists it.
func (c ECSInitCommand) String() string {
	s := strings.Join(c.Argv, " ")
	var notes []string
	if c.AfterOK {
		notes = append(notes, "if the command before succeeded")
	}
	if !c.Fatal {
		notes = append(notes, "failure logged, ignored")
	}
	if len(notes) > 0 {
		s += "    [" + strings.Join(notes, "; ") + "]"
	}
	return s
}

// on says the ecs.config key is set to true, as ecs-init parses it.
func (c ECSInit) on(key string) bool {
	b, err := strconv.ParseBool(c.Config[key])
	return err == nil && b
}

// check fails as ecs-init does before it runs anything: from 1.97.0 to
// 1.99.x, a Docker without a default bridge network fails engine.New.
func (c ECSInit) check() (era, error) {
	e, err := eraOf(c.Version)
	if err != nil {
		return 0, err
	}
	if c.Bridge == "" && (e == eraLoopback || e == eraIPv6Check) {
		return 0, fmt.Errorf("%w: engine.New: unable to find any virtual docker bridge network interfaces on the host", ErrECSInitFails)
	}
	return e, nil
}

// introspectionInterface is the interface the pre-1.97.0 rule closes:
// ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME if valid, else the default
// route's interface, else eth0 (v1.96.0 iptables.go:85-91, 223-253).
func (c ECSInit) introspectionInterface() string {
	if name := c.Config[OffhostIntrospectionInterface]; validIfname(name) {
		return name
	}
	if c.DefaultRoute != "" {
		return c.DefaultRoute
	}
	return "eth0"
}

// validIfname is ecs-init's checkValidIfname, after the kernel's
// dev_valid_name.
func validIfname(name string) bool {
	if name == "" || len(name) >= 16 || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) })
}

// Rules returns the rules this ecs-init adds, in order, when ecs.config
// skips none: ECSInitRules for the current agent, fewer without IPv6 or
// a Docker bridge, the pre-1.97.0 introspection rule for older agents.
func (c ECSInit) Rules() ([]ECSInitRule, error) {
	e, err := c.check()
	if err != nil {
		return nil, err
	}
	var out []ECSInitRule
	for _, r := range ECSInitRules() {
		switch {
		case e == eraIfaceDrop && r.Name == "introspection-drop":
			iface := c.introspectionInterface()
			r.Args = []string{"-I", "INPUT", "-p", "tcp", "-i", iface, "--dport", IntrospectionPort, "-j", "DROP"}
			r.Saved = "-A INPUT -i " + iface + " -p tcp -m tcp --dport " + IntrospectionPort + " -j DROP"
		case e == eraIfaceDrop && (r.IPv6 || r.Name == "introspection-docker0"):
			continue
		case r.IPv6 && !c.IPv6:
			continue
		case r.Name == "introspection-docker0" || r.Name == "introspection-docker0-v6":
			if c.Bridge == "" {
				continue
			}
			r.Args = append(r.Args[:len(r.Args)-3:len(r.Args)-3], c.Bridge, "-j", "ACCEPT")
			r.Saved = "-A INPUT -i " + c.Bridge + " -p tcp -m tcp --dport " + IntrospectionPort + " -j ACCEPT"
		}
		out = append(out, r)
	}
	return out, nil
}

// Start returns the commands of `amazon-ecs-init pre-start` (ExecStartPre),
// in order: engine.PreStart (engine.go:137-171) with sysctl.go:71-88 and
// iptables.go Create. The 1.97.0 ip6tables copies run whenever ip6tables
// is installed, so without IPv6 they fail, and pre-start with them.
func (c ECSInit) Start() ([]ECSInitCommand, error) {
	e, rules, err := c.execRules()
	if err != nil {
		return nil, err
	}
	cmds := []ECSInitCommand{
		{Argv: []string{"sysctl", "-w", "net.ipv4.conf.all.route_localnet=1"}, Fatal: true},
		{Argv: []string{"sysctl", "-e", "-w", "net.ipv6.conf.docker0.accept_ra=0"}, Fatal: true},
	}
	for _, r := range rules {
		if r.SkipIf != "" && c.on(r.SkipIf) {
			continue
		}
		cmds = append(cmds, ECSInitCommand{
			Argv:    r.argv(r.Args[0]),
			Rule:    r.Name,
			AfterOK: r.IPv6,
			// Before 1.97.0 a failed introspection rule was only logged.
			Fatal: !(e == eraIfaceDrop && r.Name == "introspection-drop"),
		})
	}
	return cmds, nil
}

// Stop returns the commands of `amazon-ecs-init post-stop` (ExecStopPost),
// in order: engine.PostStop (engine.go:364-375), which restores
// route_localnet from its default and deletes the rules one by one with
// -D, whatever ecs.config says of the introspection rules, ignoring every
// failure (iptables.go Remove).
func (c ECSInit) Stop() ([]ECSInitCommand, error) {
	_, rules, err := c.execRules()
	if err != nil {
		return nil, err
	}
	cmds := []ECSInitCommand{
		{Argv: []string{"sysctl", "net.ipv4.conf.default.route_localnet"}},
		{Argv: []string{"sysctl", "-w", "net.ipv4.conf.all.route_localnet=" + routeLocalnetDefault}, AfterOK: true},
	}
	for _, r := range rules {
		if r.Name == "localhost-filter" && c.on(SkipLocalhostTrafficFilter) {
			continue
		}
		cmds = append(cmds, ECSInitCommand{Argv: r.argv("-D"), Rule: r.Name, AfterOK: r.IPv6})
	}
	return cmds, nil
}

// execRules returns the era and the rules ecs-init runs commands for:
// Rules, except that 1.97.0 runs the ip6tables copies without looking
// for /proc/sys/net/ipv6.
func (c ECSInit) execRules() (era, []ECSInitRule, error) {
	e, err := c.check()
	if err != nil {
		return 0, nil, err
	}
	if e == eraLoopback {
		c.IPv6 = true
	}
	rules, err := c.Rules()
	return e, rules, err
}

// argv returns the rule's command line with action in place of its own.
func (r ECSInitRule) argv(action string) []string {
	tool := "iptables"
	if r.IPv6 {
		tool = "ip6tables"
	}
	return append([]string{tool, "-t", r.Table, action}, r.Args[1:]...)
}
