package twin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

// Keys of /etc/ecs/ecs.config that change the rules ecs-init adds.
const (
	// SkipLocalhostTrafficFilter, when true, makes ecs-init skip its
	// localhost traffic filter.
	SkipLocalhostTrafficFilter = "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER"
	// AllowOffhostIntrospectionAccess, when true, makes ecs-init skip its
	// rules that close the introspection port to other hosts.
	AllowOffhostIntrospectionAccess = "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS"
)

// ecsConfigPath is the agent's environment file, read by ecs.service.
const ecsConfigPath = "/etc/ecs/ecs.config"

// ECSInitRule is one netfilter rule that ecs-init adds when ecs.service
// starts (aws/amazon-ecs-agent ecs-init/exec/iptables/iptables.go). It
// adds them with -A or -I without checking whether they are there.
type ECSInitRule struct {
	// Name identifies the rule ("credentials-dnat").
	Name string
	// IPv6 says the rule is added with ip6tables.
	IPv6 bool
	// Table is the netfilter table ("nat", "filter").
	Table string
	// Args are ecs-init's arguments after "-t Table", the action first.
	Args []string
	// Saved is the rule as iptables-save prints it.
	Saved string
	// SkipIf is the ecs.config key that, set to true, makes ecs-init
	// skip the rule; empty means the rule is always added.
	SkipIf string
}

// ECSInitRules returns ecs-init's rules in the order it adds them.
func ECSInitRules() []ECSInitRule {
	return []ECSInitRule{
		{
			Name:  "credentials-dnat",
			Table: "nat",
			Args:  []string{"-A", "PREROUTING", "-p", "tcp", "-d", "169.254.170.2", "--dport", "80", "-j", "DNAT", "--to-destination", "127.0.0.1:51679"},
			Saved: "-A PREROUTING -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:51679",
		},
		{
			Name:   "localhost-filter",
			Table:  "filter",
			Args:   []string{"-I", "INPUT", "--dst", "127.0.0.0/8", "!", "--src", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"},
			Saved:  "-A INPUT ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
			SkipIf: SkipLocalhostTrafficFilter,
		},
		{
			Name:   "introspection-drop",
			Table:  "filter",
			Args:   []string{"-I", "INPUT", "-p", "tcp", "--dport", "51678", "!", "-i", "lo", "-j", "DROP"},
			Saved:  "-A INPUT ! -i lo -p tcp -m tcp --dport 51678 -j DROP",
			SkipIf: AllowOffhostIntrospectionAccess,
		},
		{
			Name:   "introspection-drop-v6",
			IPv6:   true,
			Table:  "filter",
			Args:   []string{"-I", "INPUT", "-p", "tcp", "--dport", "51678", "!", "-i", "lo", "-j", "DROP"},
			Saved:  "-A INPUT ! -i lo -p tcp -m tcp --dport 51678 -j DROP",
			SkipIf: AllowOffhostIntrospectionAccess,
		},
		{
			Name:   "introspection-docker0",
			Table:  "filter",
			Args:   []string{"-I", "INPUT", "-p", "tcp", "--dport", "51678", "-i", "docker0", "-j", "ACCEPT"},
			Saved:  "-A INPUT -i docker0 -p tcp -m tcp --dport 51678 -j ACCEPT",
			SkipIf: AllowOffhostIntrospectionAccess,
		},
		{
			Name:   "introspection-docker0-v6",
			IPv6:   true,
			Table:  "filter",
			Args:   []string{"-I", "INPUT", "-p", "tcp", "--dport", "51678", "-i", "docker0", "-j", "ACCEPT"},
			Saved:  "-A INPUT -i docker0 -p tcp -m tcp --dport 51678 -j ACCEPT",
			SkipIf: AllowOffhostIntrospectionAccess,
		},
		{
			Name:  "credentials-redirect",
			Table: "nat",
			Args:  []string{"-A", "OUTPUT", "-p", "tcp", "-d", "169.254.170.2", "--dport", "80", "-j", "REDIRECT", "--to-ports", "51679"},
			Saved: "-A OUTPUT -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 51679",
		},
	}
}

// Ruleset is the live netfilter state of the twin's host namespace, as
// each tool prints it.
type Ruleset struct {
	// IptablesLegacy is iptables-legacy-save (x_tables, IPv4).
	IptablesLegacy string
	// IP6tablesLegacy is ip6tables-legacy-save.
	IP6tablesLegacy string
	// IptablesNFT is iptables-nft-save (the ip tables iptables-nft owns).
	IptablesNFT string
	// IP6tablesNFT is ip6tables-nft-save.
	IP6tablesNFT string
	// Nftables is nft list ruleset: every nf_tables table, including
	// those iptables-nft made.
	Nftables string
	// ecsInit are the rules the host's ecs-init adds (ECSInit.Rules).
	ecsInit []ECSInitRule
}

// Ruleset reads the host's live ruleset with the machine's own tools
// (the twin's baseline may not ship nft).
func (t *Twin) Ruleset(ctx context.Context) (Ruleset, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var r Ruleset
	cmds := []struct {
		argv []string
		into *string
	}{
		{[]string{"iptables-legacy-save"}, &r.IptablesLegacy},
		{[]string{"ip6tables-legacy-save"}, &r.IP6tablesLegacy},
		{[]string{"iptables-nft-save"}, &r.IptablesNFT},
		{[]string{"ip6tables-nft-save"}, &r.IP6tablesNFT},
		{[]string{"nft", "list", "ruleset"}, &r.Nftables},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cmds))
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := t.run(ctx, inHostNet, nil, c.argv)
			*c.into, errs[i] = string(out), err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Ruleset{}, fmt.Errorf("ruleset of twin %s: %w", t.name, err)
	}
	e, err := t.ecsInit()
	if err == nil {
		r.ecsInit, err = e.Rules()
	}
	if err != nil {
		return Ruleset{}, fmt.Errorf("ruleset of twin %s: %w", t.name, err)
	}
	return r, nil
}

// Count returns how many times rule appears in the host's live ruleset,
// both iptables backends together.
func (r Ruleset) Count(rule ECSInitRule) int {
	saves := []string{r.IptablesLegacy, r.IptablesNFT}
	if rule.IPv6 {
		saves = []string{r.IP6tablesLegacy, r.IP6tablesNFT}
	}
	n := 0
	for _, s := range saves {
		for _, line := range parseSave(s)[rule.Table].rules {
			if line == rule.Saved {
				n++
			}
		}
	}
	return n
}

// ECSInitRuleCounts returns Count, by name, for each rule the host's
// ecs-init adds when ecs.config skips none (ECSInit.Rules): its agent
// version's rules, without the ip6tables ones on a host without IPv6.
func (r Ruleset) ECSInitRuleCounts() map[string]int {
	rules := r.ecsInit
	if rules == nil {
		rules = ECSInitRules()
	}
	counts := make(map[string]int)
	for _, rule := range rules {
		counts[rule.Name] = r.Count(rule)
	}
	return counts
}

// savedTable is one table of an iptables-save text.
type savedTable struct {
	chains map[string]bool
	rules  []string
}

// parseSave splits an iptables-save text into tables.
func parseSave(text string) map[string]*savedTable {
	tables := make(map[string]*savedTable)
	cur := &savedTable{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "*"):
			name := line[1:]
			if tables[name] == nil {
				tables[name] = &savedTable{chains: make(map[string]bool)}
			}
			cur = tables[name]
		case strings.HasPrefix(line, ":") && cur.chains != nil:
			name, _, _ := strings.Cut(line[1:], " ")
			cur.chains[name] = true
		case strings.HasPrefix(line, "-A "):
			cur.rules = append(cur.rules, line)
		}
	}
	for _, name := range []string{"filter", "nat"} {
		if tables[name] == nil {
			tables[name] = &savedTable{chains: make(map[string]bool)}
		}
	}
	return tables
}

// iptablesCmd returns the baseline backend's command for tool
// ("iptables", "ip6tables-restore", ...).
func (t *Twin) iptablesCmd(tool string) string {
	base, suffix, _ := strings.Cut(tool, "-")
	name := base + "-" + string(t.baseline.Iptables)
	if suffix != "" {
		name += "-" + suffix
	}
	return name
}

// restoreFirewall runs the baseline's firewall units, as the OS does at
// boot. A unit whose file is missing loads nothing; a unit that fails
// fails the boot.
func (t *Twin) restoreFirewall(ctx context.Context) error {
	for _, u := range t.baseline.Firewall {
		name, err := hostName(u.File)
		if err != nil {
			return fmt.Errorf("%s: %w", u.Unit, err)
		}
		if _, err := fs.Stat(t.hostFS(), name); err != nil {
			t.logf("%s: %s: %v; nothing loaded", u.Unit, u.File, err)
			continue
		}
		var argv []string
		switch u.Tool {
		case ToolNft:
			argv = []string{"nft", "-f", u.File}
		case ToolIptablesRestore, ToolIP6tablesRestore:
			argv = []string{t.iptablesCmd(u.Tool), u.File}
		default:
			return fmt.Errorf("%s: unknown tool %q", u.Unit, u.Tool)
		}
		if _, err := t.run(ctx, inHost, nil, argv); err != nil {
			if t.ipv6Off && u.Tool == ToolIP6tablesRestore {
				// systemd marks the unit failed and boots on.
				t.logf("%s: failed (IPv6 disabled in the kernel): %v", u.Unit, err)
				continue
			}
			return fmt.Errorf("%s: %w", u.Unit, err)
		}
		t.logf("%s: %s", u.Unit, strings.Join(argv, " "))
	}
	return nil
}

// dockerChain is a chain dockerd owns. It flushes (or creates) them at
// start, except DOCKER-USER, which it creates only if missing so that the
// user's rules stay.
type dockerChain struct {
	table, chain string
	keep         bool
}

// dockerRule is a rule dockerd makes sure of at start, in iptables-save
// form. Unless first, it is appended when missing; a first rule is
// deleted and inserted at the top of its chain.
type dockerRule struct {
	table, rule string
	first       bool
}

// dockerChains returns the chains dockerd creates for the default bridge.
func dockerChains() []dockerChain {
	return []dockerChain{
		{table: "nat", chain: "DOCKER"},
		{table: "filter", chain: "DOCKER"},
		{table: "filter", chain: "DOCKER-ISOLATION-STAGE-1"},
		{table: "filter", chain: "DOCKER-ISOLATION-STAGE-2"},
		{table: "filter", chain: "DOCKER-USER", keep: true},
	}
}

// dockerRules returns the rules dockerd (20.10 to 27) adds for the default
// bridge docker0, 172.17.0.0/16, in the order it adds them.
func dockerRules() []dockerRule {
	return []dockerRule{
		{table: "nat", rule: "-A DOCKER -i docker0 -j RETURN"},
		{table: "nat", rule: "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"},
		{table: "nat", rule: "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"},
		{table: "nat", rule: "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"},
		{table: "filter", rule: "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2"},
		{table: "filter", rule: "-A DOCKER-ISOLATION-STAGE-1 -j RETURN"},
		{table: "filter", rule: "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP"},
		{table: "filter", rule: "-A DOCKER-ISOLATION-STAGE-2 -j RETURN"},
		{table: "filter", rule: "-A DOCKER-USER -j RETURN"},
		// dockerd inserts its FORWARD rules (libnetwork programChainRule and
		// ProgramChain use -I), so they land ahead of a host's own terminal
		// rules, such as RHEL's -A FORWARD -j REJECT. Listed in reverse of
		// their final order, each inserted at the top.
		{table: "filter", rule: "-A FORWARD -i docker0 -o docker0 -j ACCEPT", first: true},
		{table: "filter", rule: "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT", first: true},
		{table: "filter", rule: "-A FORWARD -o docker0 -j DOCKER", first: true},
		{table: "filter", rule: "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", first: true},
		{table: "filter", rule: "-A FORWARD -j DOCKER-ISOLATION-STAGE-1", first: true},
		{table: "filter", rule: "-A FORWARD -j DOCKER-USER", first: true},
	}
}

// dockerRestore returns the iptables-restore --noflush input that brings
// the saved ruleset to what dockerd leaves at start.
func dockerRestore(saved string) string {
	tables := parseSave(saved)
	var b strings.Builder
	for _, table := range []string{"nat", "filter"} {
		st := tables[table]
		present := make(map[string]int)
		for _, r := range st.rules {
			present[r]++
		}
		fmt.Fprintf(&b, "*%s\n", table)
		flushed := make(map[string]bool)
		for _, c := range dockerChains() {
			if c.table != table || (c.keep && st.chains[c.chain]) {
				continue
			}
			fmt.Fprintf(&b, ":%s - [0:0]\n", c.chain)
			flushed[c.chain] = true
		}
		for _, r := range dockerRules() {
			if r.table != table {
				continue
			}
			chain, spec, _ := strings.Cut(strings.TrimPrefix(r.rule, "-A "), " ")
			switch {
			case r.first:
				if present[r.rule] > 0 && !flushed[chain] {
					fmt.Fprintf(&b, "-D %s %s\n", chain, spec)
				}
				fmt.Fprintf(&b, "-I %s %s\n", chain, spec)
			case flushed[chain] || present[r.rule] == 0:
				fmt.Fprintln(&b, r.rule)
			}
		}
		fmt.Fprintln(&b, "COMMIT")
	}
	return b.String()
}

// dockerStarts does what dockerd does to the host at start: it turns on
// IPv4 forwarding and makes sure of its chains and rules with the
// baseline's backend.
func (t *Twin) dockerStarts(ctx context.Context) error {
	if err := t.writeSysctls([]sysctlSetting{{key: "net.ipv4.ip_forward", value: "1"}}); err != nil {
		return fmt.Errorf("docker.service: %w", err)
	}
	if err := t.dockerFirewalld(ctx); err != nil {
		return fmt.Errorf("docker.service: %w", err)
	}
	return t.applyDockerRules(ctx)
}

// applyDockerRules makes sure of dockerd's chains and rules, as it does at
// start and after a firewalld reload.
func (t *Twin) applyDockerRules(ctx context.Context) error {
	saved, err := t.run(ctx, inHost, nil, []string{t.iptablesCmd("iptables-save")})
	if err != nil {
		return fmt.Errorf("docker.service: %w", err)
	}
	input := dockerRestore(string(saved))
	restore := []string{t.iptablesCmd("iptables-restore"), "--noflush"}
	if _, err := t.run(ctx, inHost, strings.NewReader(input), restore); err != nil {
		return fmt.Errorf("docker.service: %w", err)
	}
	t.logf("docker.service: net.ipv4.ip_forward=1; docker0 chains and rules with %s", restore[0])
	return nil
}
