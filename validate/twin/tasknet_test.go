package twin_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
)

// ipIn runs the machine's ip in the twin's namespace of e.
func ipIn(t *testing.T, tw *twin.Twin, e twin.Endpoint, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", strings.TrimPrefix(tw.NetNS(e), "/run/netns/")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// routes returns the main table's routes of e's namespace, one per line,
// sorted, IPv4 and IPv6 together.
func routes(t *testing.T, tw *twin.Twin, e twin.Endpoint) []string {
	t.Helper()
	var rs []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(ipIn(t, tw, e, fam, "route", "show"), "\n") {
			if l = strings.Join(strings.Fields(l), " "); l != "" {
				rs = append(rs, l)
			}
		}
	}
	slices.Sort(rs)
	return rs
}

// machineHasIPv6 says the machine's kernel has IPv6, as the twin's
// namespaces then do.
func machineHasIPv6() bool {
	_, err := os.Stat("/proc/net/if_inet6")
	return err == nil
}

// journalIndex returns the index of the first journal line with prefix,
// or -1.
func journalIndex(j []string, prefix string) int {
	return slices.IndexFunc(j, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// TestAWSVPCTaskNetwork: the awsvpc task is wired after boot as the ECS
// agent's CNI plugins wire it: a task ENI (eth0) with a default route via
// the VPC gateway, ecs-eth0 on ecs-bridge with only the two gateway routes
// and a MAC derived from its address, a veth<8 hex> host end; ecs-bridge
// appears after the firewall loaded; IMDS answers the task and the host
// until ecs.config sets ECS_AWSVPC_BLOCK_IMDS=true, which blackholes it in
// the task only.
func TestAWSVPCTaskNetwork(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "al2023-nftables")
	ctx := testContext(t)

	j := tw.Journal()
	fw, task := journalIndex(j, "nftables.service:"), journalIndex(j, "awsvpc task:")
	if fw < 0 || task < fw || task != len(j)-2 {
		t.Errorf("journal: firewall at %d, awsvpc task at %d of %d; want the task last, after the firewall:\n%s", fw, task, len(j), strings.Join(j, "\n"))
	}

	want := []string{
		"169.254.170.2 via 169.254.172.1 dev ecs-eth0",
		"169.254.172.1 via 169.254.172.1 dev ecs-eth0",
		"192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.20",
		"default via 192.0.2.1 dev eth0",
	}
	got := slices.DeleteFunc(routes(t, tw, twin.AWSVPC), func(r string) bool { return strings.HasPrefix(r, "fe80::/64 ") })
	if !slices.Equal(got, want) {
		t.Errorf("awsvpc task routes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if link := ipIn(t, tw, twin.AWSVPC, "link", "show", "ecs-eth0"); !strings.Contains(link, "link/ether 0a:58:a9:fe:ac:02 ") {
		t.Errorf("ecs-eth0 MAC not derived from %s:\n%s", twin.AWSVPCTaskAddr, link)
	}
	ports := strings.Split(strings.TrimSpace(ipIn(t, tw, twin.Host, "-o", "link", "show", "master", "ecs-bridge")), "\n")
	if len(ports) != 1 || !regexp.MustCompile(`^[0-9]+: veth[0-9a-f]{8}@`).MatchString(ports[0]) {
		t.Errorf("ecs-bridge ports:\n%s\nwant one veth<8 hex>", strings.Join(ports, "\n"))
	}

	for _, from := range []twin.Endpoint{twin.Host, twin.AWSVPC} {
		if err := tw.Connect(ctx, from, twin.IMDSAddr); err != nil {
			t.Errorf("%s -> IMDS: %v", from, err)
		}
	}
	if err := tw.Connect(ctx, twin.AWSVPC, twin.VPCServiceAddr); err != nil {
		t.Errorf("awsvpc task -> VPC service through its ENI: %v", err)
	}

	if err := tw.WriteFile("/etc/ecs/ecs.config", []byte("ECS_AWSVPC_BLOCK_IMDS=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, "blackhole 169.254.169.254")
	if machineHasIPv6() {
		want = append(want, "blackhole fd00:ec2::254 dev lo metric 1024 pref medium")
	}
	slices.Sort(want)
	got = slices.DeleteFunc(routes(t, tw, twin.AWSVPC), func(r string) bool { return strings.HasPrefix(r, "fe80::/64 ") })
	if !slices.Equal(got, want) {
		t.Errorf("awsvpc task routes with %s=true:\n%s\nwant\n%s", twin.AWSVPCBlockIMDS, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := tw.Connect(ctx, twin.AWSVPC, twin.IMDSAddr); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("awsvpc task -> IMDS with %s=true: %v, want the blackhole's EINVAL", twin.AWSVPCBlockIMDS, err)
	}
	if err := tw.Connect(ctx, twin.Host, twin.IMDSAddr); err != nil {
		t.Errorf("host -> IMDS with %s=true: %v", twin.AWSVPCBlockIMDS, err)
	}
	if err := tw.Connect(ctx, twin.AWSVPC, twin.VPCServiceAddr); err != nil {
		t.Errorf("awsvpc task -> VPC service with %s=true: %v", twin.AWSVPCBlockIMDS, err)
	}
}

// TestIMDSv2: the stand-in IMDS answers as EC2 does with HttpTokens
// required: a token from PUT /latest/api/token, 401 without it.
func TestIMDSv2(t *testing.T) {
	t.Parallel()
	tw := twintest.New(t, "ubuntu2404-iptables-nft")
	ctx := testContext(t)
	c := nsClient(tw.NetNS(twin.Host))
	base := "http://" + twin.IMDSAddr
	do := func(method, path string, header map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := do(http.MethodGet, "/latest/meta-data/placement/region", nil); code != http.StatusUnauthorized {
		t.Errorf("GET without a token: %d, want 401", code)
	}
	if code, _ := do(http.MethodPut, "/latest/api/token", nil); code != http.StatusBadRequest {
		t.Errorf("PUT without a TTL: %d, want 400", code)
	}
	code, token := do(http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
	if code != http.StatusOK || token == "" {
		t.Fatalf("PUT token: %d %q", code, token)
	}
	if code, _ := do(http.MethodGet, "/latest/meta-data/placement/region", map[string]string{"X-aws-ec2-metadata-token": "forged"}); code != http.StatusUnauthorized {
		t.Errorf("GET with a forged token: %d, want 401", code)
	}
	if code, region := do(http.MethodGet, "/latest/meta-data/placement/region", map[string]string{"X-aws-ec2-metadata-token": token}); code != http.StatusOK || region != "us-east-1" {
		t.Errorf("GET region with the token: %d %q", code, region)
	}
}

// nsClient is an HTTP client whose sockets are made in the namespace at
// path.
func nsClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := ns.WithNetNSPath(path, func(ns.NetNS) error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

// TestBridgeRuleLoadedBeforeBridge: a saved firewall naming ecs-bridge is
// loaded at boot, before the first awsvpc task creates the bridge, and
// its rules match once the bridge is there.
func TestBridgeRuleLoadedBeforeBridge(t *testing.T) {
	for _, tt := range []struct{ baseline, unit, save string }{
		{"al2-iptables-legacy", "iptables.service:", "iptables-save > /etc/sysconfig/iptables"},
		{"al2023-nftables", "nftables.service:", "nft list table inet filter > /etc/nftables/cis.nft"},
	} {
		t.Run(tt.baseline, func(t *testing.T) {
			t.Parallel()
			tw := twintest.New(t, tt.baseline)
			ctx := testContext(t)
			for _, argv := range narrowFix(t, tt.baseline) {
				twintest.Exec(t, tw, argv...)
			}
			twintest.Exec(t, tw, "sh", "-c", tt.save)
			if err := tw.Reboot(ctx); err != nil {
				t.Fatal(err)
			}
			j := tw.Journal()
			if fw, task := journalIndex(j, tt.unit), journalIndex(j, "awsvpc task:"); fw < 0 || task < fw {
				t.Errorf("journal: firewall at %d, ecs-bridge made at %d; want the bridge after the firewall:\n%s", fw, task, strings.Join(j, "\n"))
			}
			if _, err := tw.Credentials(ctx, twin.AWSVPC); err != nil {
				t.Errorf("first awsvpc task after boot: %v", err)
			}
		})
	}
}

// TestIMDSBlackholeWithoutIPv6: on a host booted with ipv6.disable=1 the
// awsvpc task gets the IPv4 blackhole alone.
func TestIMDSBlackholeWithoutIPv6(t *testing.T) {
	t.Parallel()
	tw := twintest.NewWith(t, "al2023-nftables", twin.Options{IPv6Disabled: true})
	ctx := testContext(t)
	if err := tw.WriteFile("/etc/ecs/ecs.config", []byte("ECS_AWSVPC_BLOCK_IMDS=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tw.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	rs := routes(t, tw, twin.AWSVPC)
	if !slices.Contains(rs, "blackhole 169.254.169.254") || slices.ContainsFunc(rs, func(r string) bool { return strings.Contains(r, "fd00:ec2::254") }) {
		t.Errorf("awsvpc task routes without IPv6:\n%s\nwant the IPv4 blackhole alone", strings.Join(rs, "\n"))
	}
}
