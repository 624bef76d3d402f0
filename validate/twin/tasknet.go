package twin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/containernetworking/plugins/pkg/ns"
)

// AWSVPCBlockIMDS is the ecs.config key that, set to true, makes the
// agent's vpc-eni plugin blackhole IMDS in awsvpc tasks' namespaces.
const AWSVPCBlockIMDS = "ECS_AWSVPC_BLOCK_IMDS"

// IMDS endpoints the vpc-eni plugin blackholes (aws/amazon-ecs-cni-plugins
// plugins/eni/engine/nsclosure.go, InstanceMetadataEndpoints).
const (
	imdsBlackholeV4 = "169.254.169.254/32"
	imdsBlackholeV6 = "fd00:ec2::254/128"
)

// Names and subnet of the awsvpc task's links.
const (
	// eniPeer is the VPC end of the task ENI's veth.
	eniPeer = "eni-awsvpc"
	// ecsSubnet is the agent's subnet for ecs-bridge (agent/ecscni).
	ecsSubnet = "169.254.172.0/22"
)

// startAWSVPCTask wires the awsvpc task's namespace as the ECS agent's
// CNI chain does when it starts the host's first awsvpc task, after boot:
//
//   - vpc-eni: the task's ENI becomes eth0 in the task, with its VPC
//     address and a default route via the VPC gateway; with
//     ECS_AWSVPC_BLOCK_IMDS=true in ecs.config, blackhole routes for
//     169.254.169.254/32 and, when the namespace has IPv6 (not with
//     Options.IPv6Disabled), fd00:ec2::254/128 come first.
//   - ecs-bridge: the bridge ecs-bridge (created by the first awsvpc task
//     and kept until reboot, with a random MAC), a veth whose host end is
//     veth<8 hex> on it and whose task end is ecs-eth0.
//   - ecs-ipam: the task gets 169.254.172.2/22, the routes
//     169.254.172.1/32 via 169.254.172.1 and 169.254.170.2/32 via
//     169.254.172.1; then ecs-bridge sets the task's MAC from its IP
//     (0a:58 and the four bytes), deletes the routes without a gateway
//     (the /22), and gives ecs-bridge 169.254.172.1/22.
func (t *Twin) startAWSVPCTask(ctx context.Context) error {
	cfg, err := t.ecsConfig()
	if err != nil {
		return fmt.Errorf("awsvpc task: %w", err)
	}
	block, _ := strconv.ParseBool(strings.TrimSpace(cfg[AWSVPCBlockIMDS]))
	// With ipv6.disable=1 (Options.IPv6Disabled) no namespace of the
	// host has IPv6; the twin's task namespace has the machine's.
	ipv6, err := hasIPv6(t.NetNS(AWSVPC))
	if err != nil {
		return fmt.Errorf("awsvpc task: %w", err)
	}
	ipv6 = ipv6 && !t.ipv6Off
	suffix, err := randomHex(4)
	if err != nil {
		return fmt.Errorf("awsvpc task: %w", err)
	}
	veth := "veth" + suffix
	bridgeMAC, err := randomMAC()
	if err != nil {
		return fmt.Errorf("awsvpc task: %w", err)
	}
	h, a, v := t.nsName(Host), t.nsName(AWSVPC), t.nsName(VPC)
	root := strings.Join([]string{
		fmt.Sprintf("link add name %s netns %s index %d type veth peer name eth0 netns %s index %d", eniPeer, v, ifENIPeer, a, ifENI),
		fmt.Sprintf("link add name %s netns %s index %d type veth peer name ecs-eth0 netns %s index %d", veth, h, ifTaskVeth, a, ifECSEth0),
	}, "\n")
	if err := t.ipBatch(ctx, "", root); err != nil {
		return fmt.Errorf("awsvpc task: %w", err)
	}
	var blackholes []string
	if block {
		blackholes = append(blackholes, "route add blackhole "+imdsBlackholeV4)
		if ipv6 {
			blackholes = append(blackholes, "route add blackhole "+imdsBlackholeV6)
		}
	}
	task := []string{
		// vpc-eni
		"addr add " + AWSVPCENIAddr + "/24 dev eth0",
		"link set eth0 up",
	}
	task = append(task, blackholes...)
	task = append(task,
		"route add default via "+VPCAddr+" dev eth0",
		// ecs-bridge and ecs-ipam
		"link set ecs-eth0 up",
		"addr add "+AWSVPCTaskAddr+"/22 dev ecs-eth0",
		"route add "+ECSBridgeAddr+"/32 via "+ECSBridgeAddr+" dev ecs-eth0",
		"route add 169.254.170.2/32 via "+ECSBridgeAddr+" dev ecs-eth0",
		"link set ecs-eth0 address "+taskMAC(AWSVPCTaskAddr),
		"route del "+ecsSubnet+" dev ecs-eth0",
	)
	configs := map[string]string{
		v: "link set " + eniPeer + " master " + subnetBridge + "\nlink set " + eniPeer + " up",
		a: strings.Join(task, "\n"),
		h: strings.Join([]string{
			"link add ecs-bridge address " + bridgeMAC + " type bridge",
			"link set ecs-bridge up",
			"link set " + veth + " up",
			"link set " + veth + " master ecs-bridge",
			"addr add " + ECSBridgeAddr + "/22 dev ecs-bridge",
		}, "\n"),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for name, script := range configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.ipBatch(ctx, name, script); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("configure %s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("awsvpc task: %w", err)
	}
	if err := t.waitLinksUp(ctx, Host, AWSVPC, VPC); err != nil {
		return fmt.Errorf("awsvpc task: %w", err)
	}
	imds := "IMDS reachable through the ENI"
	if block {
		imds = fmt.Sprintf("%s=%s: blackholed %s", AWSVPCBlockIMDS, cfg[AWSVPCBlockIMDS], strings.Join(blackholeDsts(ipv6), ", "))
	}
	t.logf("awsvpc task: ENI eth0 %s (default via %s); ecs-bridge created, %s -- ecs-eth0 %s; %s",
		AWSVPCENIAddr, VPCAddr, veth, AWSVPCTaskAddr, imds)
	return nil
}

// blackholeDsts returns the IMDS endpoints blackholed in a namespace
// with or without IPv6.
func blackholeDsts(ipv6 bool) []string {
	if ipv6 {
		return []string{imdsBlackholeV4, imdsBlackholeV6}
	}
	return []string{imdsBlackholeV4}
}

// taskMAC returns the MAC ecs-bridge gives a task's ecs-eth0: 0a:58 and
// the four bytes of its IPv4 address (containernetworking/cni
// pkg/utils/hwaddr GenerateHardwareAddr4).
func taskMAC(ip string) string {
	v4 := net.ParseIP(ip).To4()
	return net.HardwareAddr{0x0a, 0x58, v4[0], v4[1], v4[2], v4[3]}.String()
}

// randomMAC returns a random locally administered unicast MAC, as
// ecs-bridge gives its bridge.
func randomMAC() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[0] = (b[0] | 0x02) &^ 0x01
	return net.HardwareAddr(b).String(), nil
}

// hasIPv6 says the namespace at nsPath has IPv6: its /proc/net/if_inet6,
// read from inside it, exists.
func hasIPv6(nsPath string) (bool, error) {
	var has bool
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		_, err := os.Stat("/proc/thread-self/net/if_inet6")
		has = err == nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("namespace %q: %w", nsPath, err)
	}
	return has, nil
}
