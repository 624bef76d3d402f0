package validate

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/cisecs/cisecs/templates"
)

// CheckHostHealth is the check that the host under test, once the probes
// and the forced stop ran (before the reboot, so that "since boot" covers
// them), shows no SELinux denial since boot, has room for images on
// Docker's filesystem and a clock in step with its time sources: what a
// CIS host's SELinux, small /var and replaced time servers break.
const CheckHostHealth = "host-health"

// The host-health check's bounds.
const (
	// DefaultMinDockerFreeBytes is the free space Docker's filesystem
	// must keep: a pull needs about twice the image's size while it runs.
	DefaultMinDockerFreeBytes = 2 << 30
	// DefaultMaxClockOffset is the largest clock offset chronyd may
	// report: with the Amazon Time Sync Service it stays within
	// milliseconds, and a second already means no usable source.
	DefaultMaxClockOffset = time.Second
)

// HostRunner is a Backend that can run a bash script as root on the host
// under test and return its standard output (on AWS through SSM Run
// Command, on the twin in its host). The gate runs the host-health check
// and collects a wedged host's signals only on a HostRunner.
type HostRunner interface {
	RunOnHost(ctx context.Context, script string) (string, error)
}

var hostHealthTemplate = template.Must(template.New("hosthealth.sh.tmpl").Option("missingkey=error").
	ParseFS(templates.FS, "hosthealth.sh.tmpl"))

// HostHealthScript returns the script the host-health check runs; with
// wedge, the one that also reads the signals of a wedged host (dmesg's
// unregister_netdevice and hung tasks, docker ps timing out, the agent's
// DockerTimeoutError, systemctl is-system-running), run on failure.
func HostHealthScript(wedge bool) string {
	var b bytes.Buffer
	if err := hostHealthTemplate.Execute(&b, struct{ Wedge bool }{wedge}); err != nil {
		panic(err) // the template is the package's own
	}
	return b.String()
}

// HostHealth is what the host-health script read.
type HostHealth struct {
	// AVCDenials is the number of AVC denials since boot; -1 when
	// ausearch could not tell.
	AVCDenials int
	// AVCSample holds the first denials.
	AVCSample []string
	// DockerFS is the mount point of the filesystem holding Docker's
	// data, and DockerFreeBytes its free space (-1: unknown).
	DockerFS        string
	DockerFreeBytes int64
	// ClockOffset is chronyd's offset (positive: fast); ClockKnown says
	// whether chronyc told it, and ClockLeap is its leap status.
	ClockOffset time.Duration
	ClockKnown  bool
	ClockLeap   string
	// Unknown lists the signals the host could not give, with why.
	Unknown []string
	// Signals are the script's other lines (a wedged host's signals).
	Signals []string
}

// ParseHostHealth reads the host-health script's output.
func ParseHostHealth(out string) (HostHealth, error) {
	h := HostHealth{AVCDenials: -1, DockerFreeBytes: -1}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		var err error
		switch {
		case strings.HasPrefix(v, "unknown"):
			h.Unknown = append(h.Unknown, k+": "+v)
		case k == "avc_denials":
			h.AVCDenials, err = strconv.Atoi(v)
		case k == "avc_sample":
			h.AVCSample = append(h.AVCSample, v)
		case k == "docker_fs":
			h.DockerFS = v
		case k == "docker_fs_avail_bytes":
			h.DockerFreeBytes, err = strconv.ParseInt(v, 10, 64)
		case k == "clock_offset_seconds":
			num, dir, _ := strings.Cut(v, " ")
			var s float64
			if s, err = strconv.ParseFloat(num, 64); err == nil {
				if dir == "slow" {
					s = -s
				}
				h.ClockOffset, h.ClockKnown = time.Duration(math.Round(s*float64(time.Second))), true
			}
		case k == "clock_leap_status":
			h.ClockLeap = v
		default:
			h.Signals = append(h.Signals, line)
		}
		if err != nil {
			return h, fmt.Errorf("host health: %q: %w", line, err)
		}
	}
	return h, nil
}

// Problems returns what fails the check, each with its numbers.
func (h HostHealth) Problems(minFree int64, maxOffset time.Duration) []string {
	var ps []string
	if h.AVCDenials > 0 {
		ps = append(ps, fmt.Sprintf("%d SELinux AVC denials since boot (ausearch -m avc), first: %s", h.AVCDenials, strings.Join(h.AVCSample, " | ")))
	}
	if h.DockerFreeBytes >= 0 && h.DockerFreeBytes < minFree {
		ps = append(ps, fmt.Sprintf("Docker's filesystem %s has %d MiB free, below %d MiB", h.DockerFS, h.DockerFreeBytes>>20, minFree>>20))
	}
	if h.ClockKnown && (h.ClockOffset > maxOffset || h.ClockOffset < -maxOffset) {
		ps = append(ps, fmt.Sprintf("the clock is %s off its time sources (chronyc tracking), beyond %s", h.ClockOffset, maxOffset))
	}
	if h.ClockLeap != "" && h.ClockLeap != "Normal" {
		ps = append(ps, "chronyd's leap status is "+h.ClockLeap+": the clock has no usable time source")
	}
	return ps
}

// String says what the check read.
func (h HostHealth) String() string {
	avc := "unknown"
	if h.AVCDenials >= 0 {
		avc = strconv.Itoa(h.AVCDenials)
	}
	free := "unknown"
	if h.DockerFreeBytes >= 0 {
		free = fmt.Sprintf("%d MiB free on %s", h.DockerFreeBytes>>20, h.DockerFS)
	}
	clock := "unknown"
	if h.ClockKnown {
		clock = h.ClockOffset.String() + " (" + h.ClockLeap + ")"
	}
	s := fmt.Sprintf("AVC denials since boot %s; Docker %s; clock offset %s", avc, free, clock)
	if len(h.Unknown) > 0 {
		s += "; not readable: " + strings.Join(h.Unknown, "; ")
	}
	return s
}

// hostHealth runs the host-health script and fails on any problem.
func (g *gate) hostHealth(ctx context.Context, c *Check) error {
	r := g.b.(HostRunner)
	var out string
	err := g.wait(ctx, c.Name, "the host-health script", func(ctx context.Context) error {
		var err error
		out, err = r.RunOnHost(ctx, HostHealthScript(false))
		return err
	})
	if err != nil {
		return fmt.Errorf("host health: %w", err)
	}
	h, err := ParseHostHealth(out)
	if err != nil {
		return err
	}
	if ps := h.Problems(DefaultMinDockerFreeBytes, DefaultMaxClockOffset); len(ps) > 0 {
		return failed("%s (%s)", strings.Join(ps, "; "), h)
	}
	c.Message = h.String()
	return nil
}

// hostSignals adds a wedged host's signals to the diagnostics d, when the
// backend can run them.
func (g *gate) hostSignals(ctx context.Context, d map[string]string) map[string]string {
	r, ok := g.b.(HostRunner)
	if !ok {
		return d
	}
	out, err := r.RunOnHost(ctx, HostHealthScript(true))
	if d == nil {
		d = map[string]string{}
	}
	if err != nil {
		out += "\nerror: " + err.Error()
	}
	d["host signals"] = strings.TrimSpace(out)
	return d
}
