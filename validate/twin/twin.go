package twin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultProbeTimeout bounds a probe when Options.ProbeTimeout is zero. The
// twin's agent answers in microseconds when the path is open, so a probe
// that takes longer met a dropped packet.
const DefaultProbeTimeout = 300 * time.Millisecond

// ErrNotRunning is returned (wrapped) by everything that needs the booted
// host when it is not there: the twin is closed, between boots, or one of
// its namespaces or its mount-namespace holder has gone.
var ErrNotRunning = errors.New("twin host is not running")

// ErrUnsupported is returned (wrapped) by New when this machine cannot run
// a twin: not root, or a required command is missing.
var ErrUnsupported = errors.New("twin unsupported on this machine")

// Options configure New.
type Options struct {
	// Baseline is the hardened OS to boot (see Baselines, LookupBaseline).
	Baseline Baseline
	// Dir is the twin's state directory; its disk lives there and
	// survives Reboot. Empty means a temporary directory removed by
	// Close. A Dir that already holds a disk of the same baseline is
	// booted as it is. Dir must not lie under /etc, /var, /root, /home
	// or /usr, the directories the disk overlays.
	Dir string
	// ProbeTimeout bounds each probe; zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// IMDSHopLimit is the instance's IMDS PUT response hop limit (1 to
	// 64); zero means DefaultIMDSHopLimit.
	IMDSHopLimit int
	// AgentVersion is the ECS agent (and ecs-init) version the host runs,
	// "1.96.0"; empty means CurrentAgentVersion. ecs-init's commands
	// depend on it (see ECSInit).
	AgentVersion string
	// IPv6Disabled boots the host as with ipv6.disable=1 on the kernel
	// command line: no /proc/sys/net/ipv6, and ip6tables fails.
	IPv6Disabled bool
}

// Twin is a booted CIS-hardened ECS host made of namespaces. Its methods
// are safe for concurrent use; Reboot and Close wait for running Exec
// calls and probes.
type Twin struct {
	baseline     Baseline
	dir          string
	ownDir       bool
	name         string
	probeTimeout time.Duration
	imdsHopLimit int
	agentVersion string
	ipv6Off      bool
	tools        tools
	tasks        map[Endpoint]Task
	rootNet      nsID
	rootMnt      nsID

	mu       sync.RWMutex
	closed   bool
	up       bool
	nets     map[Endpoint]nsID
	holder   *exec.Cmd
	holderID nsID
	pins     []*os.File
	lock     *os.File
	held     chan struct{}
	started  []*exec.Cmd
	// firewalld is the running firewalld of a DaemonFirewalld baseline.
	firewalld *daemon
	servers   []*http.Server
	procSys   []procSysEntry
	journal   []string
	lastBoot  time.Duration
	// ecsActive says ecs.service runs; agent are its servers.
	ecsActive bool
	agent     []*http.Server
}

// nsID identifies a namespace by the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

// tools are the absolute paths of the commands the twin runs.
type tools struct {
	ip, nsenter, unshare, legacyMulti, nftMulti string
}

// New prepares the twin's disk from opts.Baseline (unless opts.Dir already
// holds one) and boots it. The caller must Close the twin.
func New(ctx context.Context, opts Options) (*Twin, error) {
	if opts.Baseline.Name == "" || opts.Baseline.Files == nil {
		return nil, errors.New("new twin: no baseline")
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("new twin: %w: needs root", ErrUnsupported)
	}
	tl, err := lookTools()
	if err != nil {
		return nil, fmt.Errorf("new twin: %w", err)
	}
	if err := opts.Baseline.checkDaemon(); err != nil {
		return nil, fmt.Errorf("new twin: %w", err)
	}
	t := &Twin{
		baseline:     opts.Baseline,
		dir:          opts.Dir,
		probeTimeout: opts.ProbeTimeout,
		imdsHopLimit: opts.IMDSHopLimit,
		agentVersion: opts.AgentVersion,
		ipv6Off:      opts.IPv6Disabled,
		tools:        tl,
	}
	if _, err := eraOf(opts.AgentVersion); err != nil {
		return nil, fmt.Errorf("new twin: %w", err)
	}
	switch {
	case t.imdsHopLimit == 0:
		t.imdsHopLimit = DefaultIMDSHopLimit
	case t.imdsHopLimit < 1 || t.imdsHopLimit > 64:
		return nil, fmt.Errorf("new twin: IMDS hop limit %d: want 1 to 64", opts.IMDSHopLimit)
	}
	if t.probeTimeout <= 0 {
		t.probeTimeout = DefaultProbeTimeout
	}
	if t.rootNet, t.rootMnt, err = ownNamespaces(); err != nil {
		return nil, fmt.Errorf("new twin: %w", err)
	}
	if t.dir == "" {
		if t.dir, err = os.MkdirTemp("", "cisecs-twin-"); err != nil {
			return nil, fmt.Errorf("new twin: %w", err)
		}
		t.ownDir = true
	}
	dir, err := checkDir(t.dir)
	if err != nil {
		return nil, t.failNew(err)
	}
	t.dir = dir
	if t.lock, err = lockDir(t.dir); err != nil {
		return nil, t.failNew(err)
	}
	if t.name, err = freeName(); err != nil {
		return nil, t.failNew(err)
	}
	if t.tasks, err = newTasks(t.name); err != nil {
		return nil, t.failNew(err)
	}
	if err := t.prepareDisk(); err != nil {
		return nil, t.failNew(err)
	}
	if t.procSys, err = readProcSys(); err != nil {
		return nil, t.failNew(err)
	}
	t.mu.Lock()
	err = t.boot(ctx)
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("new twin %s (%s): %w", t.name, t.baseline.Name, errors.Join(err, t.Close()))
	}
	return t, nil
}

// failNew cleans up after New failed before the first boot.
func (t *Twin) failNew(err error) error {
	if t.lock != nil {
		t.lock.Close()
	}
	if t.ownDir {
		os.RemoveAll(t.dir)
	}
	return fmt.Errorf("new twin (%s): %w", t.baseline.Name, err)
}

// Name returns the twin's unique name, the prefix of its namespaces.
func (t *Twin) Name() string { return t.name }

// Baseline returns the baseline the twin was made from.
func (t *Twin) Baseline() Baseline { return t.baseline }

// Dir returns the twin's state directory; Dir()/disk holds its disk.
func (t *Twin) Dir() string { return t.dir }

// NetNS returns the path of the network namespace behind e
// (/run/netns/<name>-h for Host). It exists while the twin is booted.
func (t *Twin) NetNS(e Endpoint) string { return "/run/netns/" + t.nsName(e) }

// HolderPID returns the process that holds the host's mount namespace,
// or 0 when the host is down.
func (t *Twin) HolderPID() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.holder == nil {
		return 0
	}
	return t.holder.Process.Pid
}

// Journal returns what the last boot did, one line per step.
func (t *Twin) Journal() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]string(nil), t.journal...)
}

// LastBoot returns how long the last boot took, from the first namespace
// to the agent's first awsvpc task wired.
func (t *Twin) LastBoot() time.Duration {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.lastBoot
}

// Reboot stops everything running in the twin (started processes, the
// agent, the namespaces and every netfilter rule and sysctl in them) and
// boots again from the disk, which keeps every file written to it.
func (t *Twin) Reboot(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("reboot twin %s: %w", t.name, ErrNotRunning)
	}
	if err := t.teardown(); err != nil {
		return fmt.Errorf("reboot twin %s: %w", t.name, err)
	}
	if err := t.boot(ctx); err != nil {
		return fmt.Errorf("reboot twin %s: %w", t.name, err)
	}
	return nil
}

// Close stops the twin and removes its namespaces and processes, and its
// state directory if New made it. Close is idempotent.
func (t *Twin) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	err := t.teardown()
	t.lock.Close()
	if t.ownDir {
		if rerr := os.RemoveAll(t.dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("close twin %s: %w", t.name, err)
	}
	return nil
}

// boot brings the host up in the order a hardened ECS host boots. On
// failure it tears down what it built.
func (t *Twin) boot(ctx context.Context) (err error) {
	start := time.Now()
	t.journal = nil
	defer func() {
		if err != nil {
			err = errors.Join(err, t.teardown())
		}
	}()
	steps := []func() error{
		func() error { return t.createNetwork(ctx) },
		func() error { return t.kernelIPv6(ctx) },
		func() error { return t.restoreFirewall(ctx) },
		func() error { return t.startDaemon(ctx) },
		t.systemdSysctl,
		func() error { return t.dockerStarts(ctx) },
		t.systemdSysctl,
		func() error { return t.ecsInitStarts(ctx) },
		t.startAgent,
		func() error { return t.startAWSVPCTask(ctx) },
	}
	for _, step := range steps {
		begin, lines := time.Now(), len(t.journal)
		if err := step(); err != nil {
			return err
		}
		if len(t.journal) > lines {
			t.journal[len(t.journal)-1] += fmt.Sprintf(" (%s)", time.Since(begin).Round(100*time.Microsecond))
		}
	}
	t.lastBoot = time.Since(start)
	t.logf("boot: up in %s", t.lastBoot.Round(time.Millisecond))
	return nil
}

// teardown stops every server and process of the twin and deletes its
// namespaces. It keeps the disk.
func (t *Twin) teardown() error {
	t.up = false
	var errs []error
	for _, s := range t.servers {
		s.Close()
	}
	t.servers = nil
	for _, c := range t.started {
		if c.Process != nil {
			unix.Kill(-c.Process.Pid, unix.SIGKILL)
			c.Process.Kill()
		}
	}
	t.started, t.firewalld = nil, nil
	if err := t.killInside(); err != nil {
		errs = append(errs, err)
	}
	if t.holder != nil {
		t.holder.Process.Kill()
		select {
		case <-t.held:
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("holder %d did not exit", t.holder.Process.Pid))
		}
		t.holder = nil
	}
	if err := t.deleteNetwork(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range t.pins {
		f.Close()
	}
	t.pins, t.nets, t.holderID = nil, nil, nsID{}
	return errors.Join(errs...)
}

// logf adds a line to the boot journal.
func (t *Twin) logf(format string, a ...any) {
	t.journal = append(t.journal, fmt.Sprintf(format, a...))
}

// lookTools finds the commands the twin needs.
func lookTools() (tools, error) {
	var tl tools
	var missing []string
	find := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
				if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
					return filepath.Join(dir, name)
				}
			}
			missing = append(missing, name)
			return ""
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p
	}
	tl.ip = find("ip")
	tl.nsenter = find("nsenter")
	tl.unshare = find("unshare")
	find("nft")
	find("iptables-legacy-restore")
	find("iptables-nft-restore")
	if p := find("iptables-legacy"); p != "" {
		tl.legacyMulti, _ = filepath.EvalSymlinks(p)
	}
	if p := find("iptables-nft"); p != "" {
		tl.nftMulti, _ = filepath.EvalSymlinks(p)
	}
	if len(missing) > 0 {
		return tools{}, fmt.Errorf("%w: missing %s (install them with apt-get install iproute2 util-linux nftables iptables, or dnf install iproute util-linux nftables iptables-nft iptables-legacy; ./run validate does it for you)", ErrUnsupported, strings.Join(missing, ", "))
	}
	return tl, nil
}

// ownNamespaces identifies the machine's own network and mount namespaces,
// which the twin must never run a command in.
func ownNamespaces() (netID, mntID nsID, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if netID, err = statNS("/proc/thread-self/ns/net"); err != nil {
		return
	}
	mntID, err = statNS("/proc/thread-self/ns/mnt")
	return
}

// pinNS opens the namespace behind an nsfs path and keeps it open until
// teardown ends: a namespace the twin holds cannot be freed, so its inode
// cannot be reused by another namespace while the twin matches processes
// and paths against it.
func (t *Twin) pinNS(path string) (nsID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nsID{}, fmt.Errorf("namespace %q: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nsID{}, fmt.Errorf("namespace %q: %w", path, err)
	}
	t.pins = append(t.pins, f)
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// statNS identifies the namespace behind an nsfs path.
func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, fmt.Errorf("namespace %q: %w", path, err)
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// checkDir makes dir absolute and refuses one the disk would overlay.
func checkDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("state dir %q: %w", dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	for _, top := range diskTops() {
		if abs == "/"+top || strings.HasPrefix(abs, "/"+top+"/") {
			return "", fmt.Errorf("state dir %q: lies under /%s, which the twin's disk overlays", dir, top)
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("state dir %q: %w", dir, err)
	}
	return abs, nil
}

// lockDir takes the state directory for one twin at a time: two twins
// cannot mount the same disk.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state dir %q: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir %q is in use by another twin: %w", dir, err)
	}
	return f, nil
}

// freeName returns "cx" and six hex digits that no namespace uses yet.
func freeName() (string, error) {
	for range 32 {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		name := "cx" + hex.EncodeToString(b)
		taken := false
		for _, e := range nsEndpoints() {
			if _, err := os.Lstat("/run/netns/" + name + nsSuffix(e)); err == nil {
				taken = true
			}
		}
		if !taken {
			return name, nil
		}
	}
	return "", errors.New("no free namespace name")
}
