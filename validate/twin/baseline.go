package twin

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// baselineFS holds one root tree per baseline under baselines/<name>/.
//
//go:embed all:baselines
var baselineFS embed.FS

// IptablesVariant names the iptables back end (its variant: iptables-legacy
// or iptables-nft) an OS's iptables, Docker and ecs-init use.
type IptablesVariant string

const (
	// IptablesLegacy is the x_tables backend (iptables-legacy).
	IptablesLegacy IptablesVariant = "legacy"
	// IptablesNFT is the nf_tables backend (iptables-nft).
	IptablesNFT IptablesVariant = "nft"
)

// Restore tools a FirewallUnit can run.
const (
	// ToolIptablesRestore is iptables-restore of the baseline's backend.
	ToolIptablesRestore = "iptables-restore"
	// ToolIP6tablesRestore is ip6tables-restore of the baseline's backend.
	ToolIP6tablesRestore = "ip6tables-restore"
	// ToolNft is nft -f.
	ToolNft = "nft"
)

// FirewallUnit is one boot-time service step that loads a saved firewall,
// the way iptables.service, netfilter-persistent or nftables.service do.
type FirewallUnit struct {
	// Unit names the service, for messages ("iptables.service").
	Unit string
	// Tool is ToolIptablesRestore, ToolIP6tablesRestore or ToolNft.
	Tool string
	// File is the absolute path, on the twin's disk, of the saved rules.
	// A missing file makes the unit load nothing, as the services do.
	File string
}

// Patch copies the machine's file Path (as its package installed it) onto
// the twin's disk at To (Path when empty), replacing Old with New when Old
// is set. Old must occur in the file: a patch that no longer applies fails
// the boot instead of modelling nothing.
type Patch struct {
	Path, To, Old, New string
	// Why says what the patch models, with its source.
	Why string
}

// OSRelease is what a baseline's /etc/os-release says.
type OSRelease struct {
	ID         string
	VersionID  string
	PrettyName string
}

// Baseline is a CIS-hardened OS image the twin can boot: its identity, its
// firewall and how the OS loads it at boot, and the files of its disk.
type Baseline struct {
	// Name identifies the baseline ("al2-iptables-legacy").
	Name string
	// Description says what the baseline models.
	Description string
	// OS is parsed from the baseline's etc/os-release.
	OS OSRelease
	// Iptables is the backend of the OS's iptables command, of
	// Docker and of ecs-init. The twin's /usr/sbin/iptables* point at it.
	Iptables IptablesVariant
	// Firewall lists the units that restore the saved firewall at boot,
	// in the order they run.
	Firewall []FirewallUnit
	// Rejects says the firewall answers a blocked packet with an ICMP
	// error (REJECT) instead of dropping it: a blocked probe is then
	// IsUnreachable, not IsTimeout.
	Rejects bool
	// Absent lists absolute paths of the machine's files that this OS
	// does not ship (commands, mostly); the twin hides them.
	Absent []string
	// Daemon is the firewall daemon the OS runs, DaemonFirewalld or
	// DaemonUfw, or empty. The twin runs the machine's own (real) daemon
	// and hides the commands of the others.
	Daemon string
	// Patches change copies of the machine's files on the twin's disk, to
	// model a version of a program other than the one installed.
	Patches []Patch
	// Files is the root tree copied onto the twin's disk before first
	// boot. Paths must lie under etc, var, root, home or usr.
	Files fs.FS
}

// BaselineNames are the names of Baselines, in their order.
func BaselineNames() []string {
	var names []string
	for _, b := range Baselines() {
		names = append(names, b.Name)
	}
	return names
}

// Baselines returns the baselines shipped with the package, sorted by name.
func Baselines() []Baseline {
	bs := []Baseline{
		{
			Name: "al2-iptables-legacy",
			Description: "Amazon Linux 2 hardened to the CIS benchmark with iptables-services: " +
				"/etc/sysconfig/iptables (and ip6tables) with DROP policies, restored at boot by " +
				"iptables.service with the legacy (x_tables) backend; IPv6 disabled by sysctl; no nft command.",
			Iptables: IptablesLegacy,
			Firewall: []FirewallUnit{
				{Unit: "iptables.service", Tool: ToolIptablesRestore, File: "/etc/sysconfig/iptables"},
				{Unit: "ip6tables.service", Tool: ToolIP6tablesRestore, File: "/etc/sysconfig/ip6tables"},
			},
			Absent: []string{"/usr/sbin/nft"},
		},
		{
			Name: "al2023-nftables",
			Description: "Amazon Linux 2023 hardened to the CIS benchmark with native nftables: " +
				"/etc/sysconfig/nftables.conf flushes the ruleset and includes /etc/nftables/cis.nft, " +
				"a `table inet filter` whose input, forward and output base chains have policy drop; " +
				"loaded by nftables.service. Docker and ecs-init use iptables-nft.",
			Iptables: IptablesNFT,
			Firewall: []FirewallUnit{
				{Unit: "nftables.service", Tool: ToolNft, File: "/etc/sysconfig/nftables.conf"},
			},
		},
		{
			Name: "rhel9-iptables-reject",
			Description: "RHEL 9.4 with iptables-services in the stock RHEL style plus the CIS loopback " +
				"rule: ACCEPT policies, INPUT and FORWARD ending in `-j REJECT --reject-with " +
				"icmp-host-prohibited`, so a rule appended with -A is never reached; iptables-nft backend.",
			Iptables: IptablesNFT,
			Firewall: []FirewallUnit{
				{Unit: "iptables.service", Tool: ToolIptablesRestore, File: "/etc/sysconfig/iptables"},
				{Unit: "ip6tables.service", Tool: ToolIP6tablesRestore, File: "/etc/sysconfig/ip6tables"},
			},
			Rejects: true,
		},
		{
			Name: "ubuntu2204-nftables",
			Description: "Ubuntu 22.04 hardened to the CIS benchmark with nftables: /etc/nftables.conf " +
				"(Debian path) flushes the ruleset and defines `table inet cis_firewall` with base chains " +
				"cis_in, cis_fwd and cis_out, policy drop; nothing may assume the usual names. " +
				"Docker and ecs-init use iptables-nft.",
			Iptables: IptablesNFT,
			Firewall: []FirewallUnit{
				{Unit: "nftables.service", Tool: ToolNft, File: "/etc/nftables.conf"},
			},
		},
		{
			Name: "ubuntu2404-iptables-nft",
			Description: "Ubuntu 24.04 hardened to the CIS benchmark with iptables-persistent: " +
				"/etc/iptables/rules.v4 and rules.v6 with DROP policies, restored at boot by " +
				"netfilter-persistent with the iptables-nft backend.",
			Iptables: IptablesNFT,
			Firewall: []FirewallUnit{
				{Unit: "netfilter-persistent.service", Tool: ToolIptablesRestore, File: "/etc/iptables/rules.v4"},
				{Unit: "netfilter-persistent.service", Tool: ToolIP6tablesRestore, File: "/etc/iptables/rules.v6"},
			},
		},
		{
			Name: "al2023-firewalld",
			Description: "Amazon Linux 2023 hardened to the CIS benchmark with firewalld, the default of " +
				"ansible-lockdown AMAZON2023-CIS and ComplianceAsCode's AL2023 CIS profile: firewalld 1.x, " +
				"nftables back end, default zone public with only ssh; the real firewalld (the machine's " +
				"package) on a private system D-Bus. It accepts DNAT'ed packets before its zones, but " +
				"flushes the iptables tables, ecs-init's DNAT among them, on every reload and restart. " +
				"Docker binds docker0 to its zone docker (target ACCEPT).",
			Iptables: IptablesNFT,
			Daemon:   DaemonFirewalld,
			Rejects:  true,
		},
		{
			Name: "rhel9-firewalld",
			Description: "RHEL 9 hardened to the CIS benchmark with firewalld, the default of ansible-lockdown " +
				"RHEL9-CIS: firewalld 1.x with the nftables back end and FlushAllOnReload=yes, default zone " +
				"public with only ssh; iptables-nft for Docker and ecs-init.",
			Iptables: IptablesNFT,
			Daemon:   DaemonFirewalld,
			Rejects:  true,
		},
		{
			Name: "al2-firewalld",
			Description: "Amazon Linux 2 hardened to the CIS benchmark with firewalld, the default of " +
				"ansible-lockdown AMAZON2-CIS: a firewalld before 0.7 (iptables back end, legacy x_tables), " +
				"whose INPUT accepts RELATED,ESTABLISHED but not DNAT'ed packets, so the credentials path " +
				"is closed outright; modelled by the machine's firewalld with that rule patched.",
			Iptables: IptablesLegacy,
			Daemon:   DaemonFirewalld,
			Rejects:  true,
			Absent:   []string{"/usr/sbin/nft"},
			Patches: []Patch{
				{
					Path: firewalldIPXtables,
					Old:  `"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT"`,
					New:  `"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"`,
					Why: "firewalld before 0.7.0 accepted only RELATED,ESTABLISHED in INPUT; 0.7.0 added DNAT " +
						"(firewalld/firewalld commit 7235f76a, src/firewall/core/ipXtables.py; v0.6.6 still lacks it)",
				},
				{
					Path: firewalldConfigPy,
					Old:  "VERSION = '1.3.3'",
					New:  "VERSION = '0.4.4.4'",
					Why:  "the version Amazon Linux 2 ships (firewalld-0.4.4.4-6.amzn2.0.1, amzn2-core), as firewall-cmd --version reports it",
				},
			},
		},
		{
			Name: "ubuntu2204-ufw",
			Description: "Ubuntu 22.04 hardened to the CIS benchmark with ufw, the default of ansible-lockdown " +
				"UBUNTU22-CIS: ufw enabled, default deny incoming, outgoing and routed, loopback rules, ssh " +
				"allowed; IPT_SYSCTL=/etc/sysctl.conf, which holds ip_forward=0. ufw-init loads it at boot " +
				"with iptables-nft; the package's before/after rules.",
			Iptables: IptablesNFT,
			Daemon:   DaemonUfw,
			Patches:  ufwPackageFiles(),
		},
		{
			Name: "ubuntu2404-ufw",
			Description: "Ubuntu 24.04 hardened to the CIS benchmark with ufw, the default of ansible-lockdown " +
				"UBUNTU24-CIS: as ubuntu2204-ufw, on 24.04.",
			Iptables: IptablesNFT,
			Daemon:   DaemonUfw,
			Patches:  ufwPackageFiles(),
		},
	}
	for i := range bs {
		files, err := fs.Sub(baselineFS, "baselines/"+bs[i].Name)
		if err != nil {
			panic(fmt.Sprintf("baseline %q: %v", bs[i].Name, err))
		}
		bs[i].Files = files
		osr, err := readOSRelease(files)
		if err != nil {
			panic(fmt.Sprintf("baseline %q: %v", bs[i].Name, err))
		}
		bs[i].OS = osr
	}
	slices.SortFunc(bs, func(a, b Baseline) int { return strings.Compare(a.Name, b.Name) })
	return bs
}

// firewalldIPXtables is firewalld's iptables back end, as Debian installs it.
const firewalldIPXtables = "/usr/lib/python3/dist-packages/firewall/core/ipXtables.py"

// firewalldConfigPy holds the version firewalld reports.
const firewalldConfigPy = "/usr/lib/python3/dist-packages/firewall/config/__init__.py"

// ufwPackageFiles are the files the ufw package installs into /etc/ufw,
// which the hardening does not change: copied from the package's
// templates (/usr/share/ufw/iptables) and its sysctl.conf.
func ufwPackageFiles() []Patch {
	var ps []Patch
	for _, f := range []string{"before.rules", "after.rules", "before6.rules", "after6.rules"} {
		ps = append(ps, Patch{Path: "/usr/share/ufw/iptables/" + f, To: "/etc/ufw/" + f, Why: "as the ufw package installs it"})
	}
	return append(ps, Patch{Path: "/etc/ufw/sysctl.conf", Why: "as the ufw package installs it"})
}

// LookupBaseline returns the shipped baseline called name.
func LookupBaseline(name string) (Baseline, error) {
	bs := Baselines()
	var names []string
	for _, b := range bs {
		if b.Name == name {
			return b, nil
		}
		names = append(names, b.Name)
	}
	return Baseline{}, fmt.Errorf("unknown baseline %q (baselines are %s)", name, strings.Join(names, ", "))
}

// readOSRelease parses etc/os-release of a root tree.
func readOSRelease(root fs.FS) (OSRelease, error) {
	data, err := fs.ReadFile(root, "etc/os-release")
	if err != nil {
		return OSRelease{}, fmt.Errorf("os-release: %w", err)
	}
	vars := parseEnvFile(data)
	osr := OSRelease{ID: vars["ID"], VersionID: vars["VERSION_ID"], PrettyName: vars["PRETTY_NAME"]}
	if osr.ID == "" || osr.VersionID == "" {
		return OSRelease{}, fmt.Errorf("os-release: no ID or VERSION_ID")
	}
	return osr, nil
}

// parseEnvFile reads KEY=VALUE lines as os-release(5) and systemd's
// EnvironmentFile= do: comments and blank lines are skipped, and a value
// may be single- or double-quoted. Later assignments win.
func parseEnvFile(data []byte) map[string]string {
	vars := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			if value[0] == '"' {
				if uq, err := strconv.Unquote(value); err == nil {
					value = uq
				} else {
					value = value[1 : len(value)-1]
				}
			} else {
				value = value[1 : len(value)-1]
			}
		}
		vars[key] = value
	}
	return vars
}
