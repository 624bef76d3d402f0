package twin

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSysctlFiles(t *testing.T) {
	root := fstest.MapFS{
		"usr/lib/sysctl.d/50-default.conf":  {Data: []byte("a = 1\n")},
		"usr/lib/sysctl.d/60-masked.conf":   {Data: []byte("b = 1\n")},
		"usr/lib/sysctl.d/README":           {Data: []byte("not a conf\n")},
		"run/sysctl.d/55-run.conf":          {Data: []byte("c = 1\n")},
		"etc/sysctl.d/60-masked.conf":       {Data: []byte("b = 2\n")},
		"etc/sysctl.d/10-first.conf":        {Data: []byte("d = 1\n")},
		"usr/local/lib/sysctl.d/70-x.conf":  {Data: []byte("e = 1\n")},
		"etc/sysctl.conf":                   {Data: []byte("a = 3\n")},
		"usr/lib/sysctl.d/dir.conf/x":       {Data: []byte("ignored\n")},
		"usr/lib/sysctl.d/55-run.conf":      {Data: []byte("c = 0\n")},
		"usr/local/lib/sysctl.d/50-default": {Data: []byte("no suffix\n")},
	}
	got, err := sysctlFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"etc/sysctl.d/10-first.conf",
		"usr/lib/sysctl.d/50-default.conf",
		"run/sysctl.d/55-run.conf",
		"etc/sysctl.d/60-masked.conf",
		"usr/local/lib/sysctl.d/70-x.conf",
		"etc/sysctl.conf",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReadSysctl(t *testing.T) {
	root := fstest.MapFS{
		"a.conf": {Data: []byte(`
# comment
; comment too
net.ipv4.ip_forward = 0
net.ipv4.conf.default.rp_filter = 2
net.ipv4.conf.*.rp_filter = 2
-net.ipv4.conf.all.rp_filter
-net.core.default_qdisc = fq_codel
not an assignment
kernel.randomize_va_space=2
`)},
		"b.conf": {Data: []byte("net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.ip_forward=0\nnet/ipv4/conf/eth0.100/rp_filter = 0\n")},
	}
	got, err := readSysctl(root, []string{"a.conf", "b.conf"})
	if err != nil {
		t.Fatal(err)
	}
	want := []sysctlSetting{
		{key: "net.ipv4.conf.default.rp_filter", value: "2"},
		{key: "net.ipv4.conf.*.rp_filter", value: "2"},
		{key: "net.core.default_qdisc", value: "fq_codel", ignoreFailure: true},
		{key: "kernel.randomize_va_space", value: "2"},
		{key: "net.ipv4.conf.all.rp_filter", value: "1"},
		{key: "net.ipv4.ip_forward", value: "0"},
		{key: "net/ipv4/conf/eth0.100/rp_filter", value: "0"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("settings\n%+v\nwant\n%+v", got, want)
	}
}

func TestSysctlSettingPath(t *testing.T) {
	tests := []struct {
		name, key, path string
		perNetns, glob  bool
	}{
		{"dotted", "net.ipv4.ip_forward", "net/ipv4/ip_forward", true, false},
		{"slash stands for dot", "net.ipv4.conf.eth0/100.rp_filter", "net/ipv4/conf/eth0.100/rp_filter", true, false},
		{"path form", "net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter", true, false},
		{"glob", "net.ipv4.conf.*.rp_filter", "net/ipv4/conf/*/rp_filter", true, true},
		{"ipv6", "net.ipv6.conf.all.disable_ipv6", "net/ipv6/conf/all/disable_ipv6", true, false},
		{"global net.core", "net.core.somaxconn", "net/core/somaxconn", false, false},
		{"kernel", "kernel.randomize_va_space", "kernel/randomize_va_space", false, false},
		{"prefix lookalike", "net.ipv4x.foo", "net/ipv4x/foo", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sysctlSetting{key: tt.key}
			if s.path() != tt.path || s.perNetns() != tt.perNetns || s.isGlob() != tt.glob {
				t.Errorf("path %q perNetns %v glob %v", s.path(), s.perNetns(), s.isGlob())
			}
		})
	}
}

func FuzzParseSysctl(f *testing.F) {
	f.Add([]byte("net.ipv4.ip_forward = 1\n-net.ipv4.conf.all.rp_filter\n# c\n"))
	f.Add([]byte("=\n-\n - = \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range parseSysctl(data) {
			if s.key == "" || strings.ContainsAny(s.key, "\n=") {
				t.Errorf("bad key %q", s.key)
			}
			if s.exclude && !s.ignoreFailure {
				t.Errorf("exclusion without '-': %+v", s)
			}
			_ = s.path()
		}
	})
}

func TestParseEnvFile(t *testing.T) {
	got := parseEnvFile([]byte(`# ecs.config
ECS_CLUSTER=prod
ECS_SKIP_LOCALHOST_TRAFFIC_FILTER="true"
export ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS='false'
NAME="Amazon Linux"
broken line
ECS_CLUSTER = later
`))
	want := map[string]string{
		"ECS_CLUSTER": "later", "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER": "true",
		"ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS": "false", "NAME": "Amazon Linux",
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestDockerRestore(t *testing.T) {
	tests := []struct {
		name, saved string
		want        []string
		notWant     []string
	}{
		{
			name:  "fresh",
			saved: "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n",
			want: []string{
				":DOCKER-USER - [0:0]", "-A DOCKER-USER -j RETURN", "-I FORWARD -j DOCKER-USER",
				"-I FORWARD -o docker0 -j DOCKER", "-I FORWARD -i docker0 ! -o docker0 -j ACCEPT",
				"-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
			},
			notWant: []string{"-D FORWARD"},
		},
		{
			name: "saved with docker's rules and a user rule",
			saved: "*nat\n:DOCKER - [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n" +
				"*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A FORWARD -o docker0 -j DOCKER\n" +
				"-A DOCKER-USER -i docker+ -d 169.254.169.254/32 -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n",
			want:    []string{"-D FORWARD -j DOCKER-USER", "-I FORWARD -j DOCKER-USER", ":DOCKER - [0:0]"},
			notWant: []string{":DOCKER-USER", "-A DOCKER-USER -j RETURN", "-A FORWARD -o docker0 -j DOCKER\n", "MASQUERADE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dockerRestore(tt.saved)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in\n%s", w, got)
				}
			}
		})
	}
}

func TestIptablesCmd(t *testing.T) {
	for _, tt := range []struct {
		backend   IptablesVariant
		tool, cmd string
	}{
		{IptablesLegacy, "iptables", "iptables-legacy"},
		{IptablesLegacy, "ip6tables-restore", "ip6tables-legacy-restore"},
		{IptablesNFT, "iptables-save", "iptables-nft-save"},
	} {
		tw := &Twin{baseline: Baseline{Iptables: tt.backend}}
		if got := tw.iptablesCmd(tt.tool); got != tt.cmd {
			t.Errorf("%s %s: %q, want %q", tt.backend, tt.tool, got, tt.cmd)
		}
	}
}
