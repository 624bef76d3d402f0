package validate_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cisecs/cisecs/validate"
)

// fakeBackend is a Backend whose methods are the func fields; a nil field
// succeeds (a probe then exits 0). It records every call.
type fakeBackend struct {
	LaunchFunc      func(ctx context.Context, probes []validate.Probe) error
	RunProbeFunc    func(ctx context.Context, p validate.Probe) (validate.Outcome, error)
	StartTaskFunc   func(ctx context.Context, p validate.Probe) (string, error)
	ForceStopFunc   func(ctx context.Context, taskID string) error
	RebootFunc      func(ctx context.Context) error
	DiagnosticsFunc func(ctx context.Context) (map[string]string, error)
	CleanupFunc     func(ctx context.Context) error

	mu       sync.Mutex
	calls    []string
	launched []validate.Probe // the probes Launch was given
	probes   []validate.Probe // the probes run or started, in order
	n        int
}

var _ validate.Backend = (*fakeBackend)(nil)

func (f *fakeBackend) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// Calls returns the calls so far, such as "launch", "probe awsvpc".
func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// count returns how many calls start with prefix.
func (f *fakeBackend) count(prefix string) int {
	n := 0
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeBackend) Name() string { return "fake" }

func (f *fakeBackend) Launch(ctx context.Context, probes []validate.Probe) error {
	f.record("launch")
	f.mu.Lock()
	f.launched = append([]validate.Probe(nil), probes...)
	f.mu.Unlock()
	if f.LaunchFunc != nil {
		return f.LaunchFunc(ctx, probes)
	}
	return nil
}

func (f *fakeBackend) RunProbe(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("task-%d", f.n)
	f.probes = append(f.probes, p)
	f.mu.Unlock()
	f.record("probe " + p.Mode)
	if f.RunProbeFunc != nil {
		return f.RunProbeFunc(ctx, p)
	}
	return validate.Outcome{TaskID: id, ExitCode: 0, Reason: "PASS"}, nil
}

func (f *fakeBackend) StartTask(ctx context.Context, p validate.Probe) (string, error) {
	f.mu.Lock()
	f.probes = append(f.probes, p)
	f.mu.Unlock()
	f.record("start " + p.Mode)
	if f.StartTaskFunc != nil {
		return f.StartTaskFunc(ctx, p)
	}
	return "held-1", nil
}

func (f *fakeBackend) ForceStop(ctx context.Context, taskID string) error {
	f.record("force-stop " + taskID)
	if f.ForceStopFunc != nil {
		return f.ForceStopFunc(ctx, taskID)
	}
	return nil
}

func (f *fakeBackend) Reboot(ctx context.Context) error {
	f.record("reboot")
	if f.RebootFunc != nil {
		return f.RebootFunc(ctx)
	}
	return nil
}

func (f *fakeBackend) Diagnostics(ctx context.Context) (map[string]string, error) {
	f.record("diagnostics")
	if f.DiagnosticsFunc != nil {
		return f.DiagnosticsFunc(ctx)
	}
	return map[string]string{"nft list ruleset": "table inet filter { }"}, nil
}

func (f *fakeBackend) Cleanup(ctx context.Context) error {
	f.record("cleanup")
	if f.CleanupFunc != nil {
		return f.CleanupFunc(ctx)
	}
	return nil
}

// fakePublisher is a Publisher whose Publish is PublishFunc; nil succeeds.
type fakePublisher struct {
	PublishFunc func(ctx context.Context, parameter, imageID string) error

	mu    sync.Mutex
	calls []string
}

var _ validate.Publisher = (*fakePublisher)(nil)

func (p *fakePublisher) Publish(ctx context.Context, parameter, imageID string) error {
	p.mu.Lock()
	p.calls = append(p.calls, parameter+"="+imageID)
	p.mu.Unlock()
	if p.PublishFunc != nil {
		return p.PublishFunc(ctx, parameter, imageID)
	}
	return nil
}

// fakeClock moves one second forward at every Now. After returns the
// channel AfterFunc gives for d, or one that never fires.
type fakeClock struct {
	AfterFunc func(d time.Duration) <-chan time.Time

	mu  sync.Mutex
	now time.Time
}

var _ validate.Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	if c.AfterFunc != nil {
		return c.AfterFunc(d)
	}
	return nil
}

// syncBuffer is a progress writer safe for the gate's heartbeats; lines
// that contain signal are also sent on seen.
type syncBuffer struct {
	mu     sync.Mutex
	b      strings.Builder
	signal string
	seen   chan string
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signal != "" && strings.Contains(string(p), s.signal) {
		select {
		case s.seen <- string(p):
		default:
		}
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
