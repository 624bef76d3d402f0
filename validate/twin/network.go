package twin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// Addresses of the twin's network, as drawn in the package documentation.
const (
	// VPCAddr is the VPC namespace's address, the host's default gateway.
	VPCAddr = "192.0.2.1"
	// HostAddr is the host's eth0 address.
	HostAddr = "192.0.2.10"
	// AWSVPCENIAddr is the awsvpc task's address on its ENI (eth0 in the
	// task), in the VPC's subnet.
	AWSVPCENIAddr = "192.0.2.20"
	// ECSBridgeAddr is the host's address on ecs-bridge, the awsvpc
	// tasks' gateway to the agent.
	ECSBridgeAddr = "169.254.172.1"
	// AWSVPCTaskAddr is the awsvpc task's address on ecs-eth0.
	AWSVPCTaskAddr = "169.254.172.2"
	// Docker0Addr is the host's address on docker0, the bridge tasks'
	// gateway.
	Docker0Addr = "172.17.0.1"
	// BridgeTaskAddr is the bridge task's address on eth0.
	BridgeTaskAddr = "172.17.0.2"
	// CredentialsAddr is where tasks fetch credentials and metadata.
	CredentialsAddr = "169.254.170.2:80"
	// AgentAddr is where the agent serves credentials and metadata.
	AgentAddr = "127.0.0.1:51679"
	// IntrospectionPort is the agent's introspection API on every address.
	IntrospectionPort = "51678"
	// HostServicePort is another host service on every address, which no
	// task may reach.
	HostServicePort = "9100"
	// VPCServiceAddr is a service in the VPC, for egress checks.
	VPCServiceAddr = VPCAddr + ":8080"
	// IMDSAddr is the instance metadata service, in the VPC namespace.
	IMDSAddr = "169.254.169.254:80"
)

// Links of the twin besides eth0, lo and the bridges.
const (
	// bridgeVeth is the host end of the bridge task's veth.
	bridgeVeth = "veth-bridge"
	// subnetBridge, in the VPC namespace, joins the subnet's interfaces:
	// the host's eth0 and the awsvpc task's ENI.
	subnetBridge = "subnet"
	// subnetMAC is subnetBridge's fixed address: a bridge otherwise takes
	// its lowest port's, and a new port would change it under the ARP
	// caches of the hosts on it.
	subnetMAC = "02:00:c0:00:02:01"
)

// Interface indexes of the veths, each end its own. The kernel's link
// watch handles a veth's state change at once only when its index differs
// from its peer's (linkwatch_urgent_event); in two fresh namespaces both
// ends tend to get the same index, and then wait for the link watch's
// once-a-second run, up to a second per boot.
const (
	ifHostEth0 = 10 + iota
	ifVPCEth0
	ifBridgeVeth
	ifBridgeEth0
	ifENIPeer
	ifENI
	ifTaskVeth
	ifECSEth0
)

// nsEndpoints lists the namespaces of a twin in creation order.
func nsEndpoints() []Endpoint { return []Endpoint{Host, AWSVPC, Bridge, VPC} }

// nsSuffix names e's namespace after the twin's name.
func nsSuffix(e Endpoint) string {
	switch e {
	case Host, HostMode: // a host-mode task shares the host's namespace
		return "-h"
	case AWSVPC:
		return "-a"
	case Bridge:
		return "-b"
	case VPC:
		return "-v"
	}
	return "-" + string(e)
}

// nsName returns the name of e's namespace under /run/netns.
func (t *Twin) nsName(e Endpoint) string { return t.name + nsSuffix(e) }

// holderScript runs in the new mount namespace of the host: it mounts the
// disk over the real directories, hides the real /tmp, /run and /sys,
// makes /proc/sys a snapshot in which only the host's network settings
// are real, then holds the namespace. Arguments: disk, work, proc-sys
// mount point, tops... It says "snapshot" when the snapshot's tmpfs is
// mounted and waits for a line on stdin before it uses it.
const holderScript = `set -e
disk=$1 work=$2 procsys=$3
shift 3
# Copies of other network namespaces' mounts would keep them alive.
umount -l /run/netns 2>/dev/null || true
for d in "$@"; do
	mount -t overlay "twin-$d" -o "lowerdir=/$d,upperdir=$disk/$d,workdir=$work/$d" "/$d"
done
mount -t tmpfs -o mode=0755 twin-proc-sys "$procsys"
echo snapshot
read -r filled
mount --bind /proc/sys/net "$procsys/net"
mount --rbind "$procsys" /proc/sys
mount -t tmpfs -o mode=1777,nosuid,nodev twin-tmp /tmp
mount -t tmpfs -o mode=0755,nosuid,nodev twin-run /run
mount -t sysfs twin-sys /sys
echo ready
exec sleep infinity
`

// createNetwork creates the namespaces, links, addresses and routes, the
// host's mount namespace, and the VPC service, and waits for every link
// to be up.
func (t *Twin) createNetwork(ctx context.Context) error {
	h, a, b, v := t.nsName(Host), t.nsName(AWSVPC), t.nsName(Bridge), t.nsName(VPC)
	root := strings.Join([]string{
		"netns add " + h,
		"netns add " + a,
		"netns add " + b,
		"netns add " + v,
		fmt.Sprintf("link add name eth0 netns %s index %d type veth peer name eth0 netns %s index %d", h, ifHostEth0, v, ifVPCEth0),
		fmt.Sprintf("link add name %s netns %s index %d type veth peer name eth0 netns %s index %d", bridgeVeth, h, ifBridgeVeth, b, ifBridgeEth0),
	}, "\n")
	if err := t.ipBatch(ctx, "", root); err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	t.nets = make(map[Endpoint]nsID)
	for _, e := range nsEndpoints() {
		id, err := t.pinNS(t.NetNS(e))
		if err != nil {
			return fmt.Errorf("create namespaces: %w", err)
		}
		if id == t.rootNet {
			return fmt.Errorf("create namespaces: %q is the machine's own namespace", t.NetNS(e))
		}
		t.nets[e] = id
	}
	configs := map[string]string{
		h: strings.Join([]string{
			"link add docker0 type bridge",
			"addr add " + Docker0Addr + "/16 dev docker0",
			"addr add " + HostAddr + "/24 dev eth0",
			"link set " + bridgeVeth + " master docker0",
			"link set lo up",
			"link set eth0 up",
			"link set docker0 up",
			"link set " + bridgeVeth + " up",
			"route add default via " + VPCAddr + " dev eth0 onlink",
		}, "\n"),
		// The awsvpc task's links come when it starts (startAWSVPCTask).
		a: "link set lo up",
		b: strings.Join([]string{
			"link set lo up",
			"addr add " + BridgeTaskAddr + "/16 dev eth0",
			"link set eth0 up",
			"route add default via " + Docker0Addr + " dev eth0 onlink",
		}, "\n"),
		v: strings.Join([]string{
			"link set lo up",
			"link add " + subnetBridge + " address " + subnetMAC + " type bridge",
			"link set eth0 master " + subnetBridge,
			"addr add " + VPCAddr + "/24 dev " + subnetBridge,
			"addr add " + imdsIP + "/32 dev lo",
			"link set eth0 up",
			"link set " + subnetBridge + " up",
			"route add 169.254.170.2/32 via " + HostAddr + " dev " + subnetBridge + " onlink",
		}, "\n"),
	}
	var wg sync.WaitGroup
	errs := make([]error, len(configs)+1)
	i := 0
	for name, script := range configs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := t.ipBatch(ctx, name, script); err != nil {
				errs[i] = fmt.Errorf("configure %s: %w", name, err)
			}
		}(i)
		i++
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[len(configs)] = t.startHolder(ctx)
	}()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t.up = true
	if err := t.waitLinksUp(ctx, nsEndpoints()...); err != nil {
		return err
	}
	t.logf("network: namespaces %s-{h,a,b,v} up; host mount namespace held by pid %d", t.name, t.holder.Process.Pid)
	if err := t.serve(VPC, VPCServiceAddr, vpcService()); err != nil {
		return err
	}
	return t.startIMDS()
}

// ipBatch runs `ip [-n netns] -batch -` with script on stdin.
func (t *Twin) ipBatch(ctx context.Context, netns, script string) error {
	args := []string{"-batch", "-"}
	if netns != "" {
		args = append([]string{"-n", netns}, args...)
	}
	cmd := exec.CommandContext(ctx, t.tools.ip, args...)
	cmd.Stdin = strings.NewReader(script + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return newExecError(append([]string{"ip"}, args...), stderr.String(), err)
	}
	return nil
}

// startHolder starts the process that holds the host's mount namespace,
// in the host's network namespace, and waits until its mounts are done.
func (t *Twin) startHolder(ctx context.Context) error {
	if err := os.MkdirAll(t.procSysDir(), 0o755); err != nil {
		return fmt.Errorf("start holder: %w", err)
	}
	args := []string{"--net=" + t.NetNS(Host), "--",
		t.tools.unshare, "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", holderScript, "twin-holder", t.diskDir(), t.workDir(), t.procSysDir()}
	args = append(args, t.tops()...)
	cmd := exec.Command(t.tools.nsenter, args...)
	cmd.Env = hostEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start holder: %w", err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("start holder: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start holder: %w", err)
	}
	said := make(chan error, 2)
	go func() {
		r := bufio.NewReader(out)
		for _, want := range []string{"snapshot\n", "ready\n"} {
			line, err := r.ReadString('\n')
			if err == nil && line != want {
				err = fmt.Errorf("said %q, want %q", line, want)
			}
			said <- err
			if err != nil {
				return
			}
		}
	}()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	wait := func() error {
		select {
		case err := <-said:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return errors.New("not ready after 10s")
		}
	}
	err = wait()
	if err == nil {
		err = t.fillProcSys(cmd.Process.Pid)
	}
	if err == nil {
		_, err = io.WriteString(in, "filled\n")
	}
	if err == nil {
		err = wait()
	}
	in.Close()
	if err != nil {
		cmd.Process.Kill()
		werr := cmd.Wait()
		return fmt.Errorf("start holder: %w", errors.Join(err, newExecError([]string{"unshare", "--mount"}, stderr.String(), werr)))
	}
	held := make(chan struct{})
	go func() {
		cmd.Wait()
		close(held)
	}()
	t.holder, t.held = cmd, held
	id, err := t.pinNS(fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid))
	if err != nil {
		return fmt.Errorf("start holder: %w", err)
	}
	if id == t.rootMnt {
		return errors.New("start holder: holder is in the machine's own mount namespace")
	}
	t.holderID = id
	return nil
}

// waitLinksUp waits until every link but lo in the namespaces of es is
// up: a veth whose peer just came up, or a bridge whose port just did,
// drops packets until the kernel's link watch has run.
func (t *Twin) waitLinksUp(ctx context.Context, es ...Endpoint) error {
	deadline := time.Now().Add(5 * time.Second)
	for _, e := range es {
		for {
			down, err := downLinks(t.NetNS(e))
			if err != nil {
				return fmt.Errorf("links of %s: %w", t.nsName(e), err)
			}
			if len(down) == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("links of %s still down after 5s: %s", t.nsName(e), strings.Join(down, ", "))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

// downLinks lists the links of a namespace, lo aside, whose operational
// state is not up, asking the kernel over netlink from inside it.
func downLinks(nsPath string) ([]string, error) {
	var down []string
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rib)
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		for i := range msgs {
			if msgs[i].Header.Type != syscall.RTM_NEWLINK {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[i])
			if err != nil {
				return fmt.Errorf("netlink: %w", err)
			}
			var name string
			var oper byte
			for _, a := range attrs {
				switch a.Attr.Type {
				case syscall.IFLA_IFNAME:
					name = string(bytes.TrimRight(a.Value, "\x00"))
				case syscall.IFLA_OPERSTATE:
					if len(a.Value) > 0 {
						oper = a.Value[0]
					}
				}
			}
			const operUp = 6 // IF_OPER_UP
			if name != "lo" && oper != operUp {
				down = append(down, name)
			}
		}
		return nil
	})
	return down, err
}

// serve starts an HTTP server whose listening socket is created inside
// e's namespace.
func (t *Twin) serve(e Endpoint, addr string, h http.Handler) error {
	var ln net.Listener
	err := ns.WithNetNSPath(t.NetNS(e), func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("listen on %s in %s: %w", addr, t.nsName(e), err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	t.servers = append(t.servers, s)
	go s.Serve(ln)
	return nil
}

// vpcService answers every request from the VPC's service.
func vpcService() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "vpc service")
	})
}

// killInside kills every process living in one of the twin's namespaces
// (the holder, started processes and whatever they left behind) and
// waits for them to die. The namespaces are pinned (see pinNS), so no
// other namespace can take their identity meanwhile.
func (t *Twin) killInside() error {
	if t.holderID == (nsID{}) && len(t.nets) == 0 {
		return nil
	}
	mine := func(pid string) bool {
		if t.holderID != (nsID{}) {
			if id, err := statNS("/proc/" + pid + "/ns/mnt"); err == nil && id == t.holderID {
				return true
			}
		}
		id, err := statNS("/proc/" + pid + "/ns/net")
		if err != nil || id == t.rootNet {
			return false
		}
		for _, n := range t.nets {
			if id == n {
				return true
			}
		}
		return false
	}
	self := strconv.Itoa(os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return fmt.Errorf("list processes: %w", err)
		}
		var alive []string
		for _, e := range entries {
			pid := e.Name()
			if pid[0] < '0' || pid[0] > '9' || pid == self || !mine(pid) {
				continue
			}
			if n, err := strconv.Atoi(pid); err == nil {
				unix.Kill(n, unix.SIGKILL)
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %s still alive after SIGKILL", strings.Join(alive, ", "))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deleteNetwork deletes the twin's namespaces that exist; their links go
// with them.
func (t *Twin) deleteNetwork() error {
	var lines []string
	for _, e := range nsEndpoints() {
		if _, err := os.Lstat(t.NetNS(e)); err == nil {
			lines = append(lines, "netns del "+t.nsName(e))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	cmd := exec.Command(t.tools.ip, "-force", "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var left []string
	for _, e := range nsEndpoints() {
		if _, err := os.Lstat(t.NetNS(e)); err == nil {
			left = append(left, t.nsName(e))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("delete namespaces %s: %w", strings.Join(left, ", "),
			newExecError([]string{"ip", "-force", "-batch", "-"}, stderr.String(), runErr))
	}
	return nil
}
