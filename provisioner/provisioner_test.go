package provisioner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/provisioner/hostscript"
)

// fakeComm is a packersdk.Communicator that counts its round trips and
// hands each to its func field, or to the embedded MockCommunicator when
// the field is nil.
type fakeComm struct {
	*packersdk.MockCommunicator

	StartFunc    func(ctx context.Context, rc *packersdk.RemoteCmd) error
	UploadFunc   func(path string, r io.Reader) error
	DownloadFunc func(path string, w io.Writer) error

	mu                         sync.Mutex
	uploads, starts, downloads int
}

var _ packersdk.Communicator = (*fakeComm)(nil)

func newFakeComm() *fakeComm {
	return &fakeComm{MockCommunicator: &packersdk.MockCommunicator{DownloadData: `{"ok":true}`}}
}

func (c *fakeComm) Start(ctx context.Context, rc *packersdk.RemoteCmd) error {
	c.count(&c.starts)
	if c.StartFunc != nil {
		return c.StartFunc(ctx, rc)
	}
	return c.MockCommunicator.Start(ctx, rc)
}

func (c *fakeComm) Upload(path string, r io.Reader, fi *os.FileInfo) error {
	c.count(&c.uploads)
	if c.UploadFunc != nil {
		return c.UploadFunc(path, r)
	}
	return c.MockCommunicator.Upload(path, r, fi)
}

func (c *fakeComm) Download(path string, w io.Writer) error {
	c.count(&c.downloads)
	if c.DownloadFunc != nil {
		return c.DownloadFunc(path, w)
	}
	return c.MockCommunicator.Download(path, w)
}

func (c *fakeComm) UploadDir(string, string, []string) error {
	return errors.New("fakeComm: UploadDir is not a round trip the provisioner makes")
}

func (c *fakeComm) DownloadDir(string, string, []string) error {
	return errors.New("fakeComm: DownloadDir is not a round trip the provisioner makes")
}

func (c *fakeComm) count(n *int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*n++
}

// roundTrips returns the uploads, starts and downloads made so far.
func (c *fakeComm) roundTrips() (uploads, starts, downloads int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uploads, c.starts, c.downloads
}

// failFirst returns a StartFunc that fails n times, then runs the mock.
func (c *fakeComm) failFirst(n int) func(context.Context, *packersdk.RemoteCmd) error {
	var failed int
	return func(ctx context.Context, rc *packersdk.RemoteCmd) error {
		if failed < n {
			failed++
			return fmt.Errorf("ssh: connection refused (attempt %d)", failed)
		}
		return c.MockCommunicator.Start(ctx, rc)
	}
}

// testUi is a packersdk.Ui whose output the test reads once Provision has
// returned.
type testUi struct {
	*packersdk.BasicUi
	out, errs *bytes.Buffer
}

func newTestUi() testUi {
	var out, errs bytes.Buffer
	return testUi{
		BasicUi: &packersdk.BasicUi{Reader: new(bytes.Buffer), Writer: &out, ErrorWriter: &errs, PB: &packersdk.NoopProgressTracker{}},
		out:     &out,
		errs:    &errs,
	}
}

// prepare returns a Provisioner prepared with raw, its report file in a
// fresh directory unless raw names one, and a short retry delay.
func prepare(t testing.TB, raw map[string]any) *Provisioner {
	t.Helper()
	if _, ok := raw["report_file"]; !ok {
		raw["report_file"] = filepath.Join(t.TempDir(), "report.json")
	}
	p := &Provisioner{retryDelay: time.Millisecond}
	if err := p.Prepare(raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

var uploadPathRE = regexp.MustCompile(`^(/.*)/cisecs-[a-z2-7]{16}\.sh$`)

func TestProvision(t *testing.T) {
	tests := []struct {
		name       string
		raw        map[string]any
		opts       hostscript.Options
		remoteDir  string
		wantPrefix string
		wantSteps  string
	}{
		{
			name:       "defaults",
			raw:        map[string]any{},
			remoteDir:  "/tmp",
			wantPrefix: "sudo -n bash ",
			wantSteps:  "detect, agent, config, layers, firewall, persist, sysctl, services, cleanup, report",
		},
		{
			name: "skip agent, no sudo",
			raw: map[string]any{
				"skip_steps": []string{"agent"},
				"use_sudo":   false,
				"remote_dir": "/var/tmp/cisecs",
			},
			opts:       hostscript.Options{Steps: []string{"detect", "config", "layers", "firewall", "persist", "sysctl", "services", "cleanup", "report"}},
			remoteDir:  "/var/tmp/cisecs",
			wantPrefix: "bash ",
			wantSteps:  "detect, config, layers, firewall, persist, sysctl, services, cleanup, report",
		},
		{
			name: "settings reach the script",
			raw: map[string]any{
				"steps":             []string{"firewall", "persist"},
				"network_modes":     []string{"bridge"},
				"agent_version":     "1.86.3",
				"region":            "eu-west-1",
				"awsvpc_block_imds": true,
				"ecs_config":        map[string]string{"ECS_LOGLEVEL": "debug"},
				"report_path":       "/root/r.json",
			},
			opts: hostscript.Options{
				Steps:           []string{"report", "persist", "firewall", "detect"},
				NetworkModes:    []string{"bridge"},
				AgentVersion:    "1.86.3",
				Region:          "eu-west-1",
				AWSVPCBlockIMDS: true,
				ECSConfig:       map[string]string{"ECS_LOGLEVEL": "debug"},
				ReportPath:      "/root/r.json",
			},
			remoteDir:  "/tmp",
			wantPrefix: "sudo -n bash ",
			wantSteps:  "detect, firewall, persist, report",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepare(t, tt.raw)
			comm := newFakeComm()
			ui := newTestUi()
			if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
				t.Fatalf("Provision: %v", err)
			}

			if u, s, d := comm.roundTrips(); u != 1 || s != 1 || d != 1 {
				t.Errorf("round trips: %d uploads, %d starts, %d downloads; want one of each", u, s, d)
			}
			want, err := hostscript.Render(tt.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if comm.UploadData != string(want) {
				t.Errorf("uploaded script differs from hostscript.Render(%+v)", tt.opts)
			}
			m := uploadPathRE.FindStringSubmatch(comm.UploadPath)
			if m == nil || m[1] != tt.remoteDir {
				t.Errorf("upload path = %q, want %s/cisecs-<random>.sh", comm.UploadPath, tt.remoteDir)
			}
			q := "'" + comm.UploadPath + "'"
			wantCmd := tt.wantPrefix + q + "; rc=$?; rm -f " + q + "; exit $rc"
			if comm.StartCmd.Command != wantCmd {
				t.Errorf("command = %q, want %q", comm.StartCmd.Command, wantCmd)
			}
			reportPath := tt.opts.ReportPath
			if reportPath == "" {
				reportPath = hostscript.DefaultReportPath
			}
			if comm.DownloadPath != reportPath {
				t.Errorf("downloaded %q, want %q", comm.DownloadPath, reportPath)
			}
			for _, w := range []string{
				"cisecs: running steps " + tt.wantSteps + " on the host",
				"cisecs: report saved to " + p.p.reportFile,
			} {
				if !strings.Contains(ui.out.String(), w) {
					t.Errorf("ui does not say %q:\n%s", w, ui.out)
				}
			}
		})
	}
}

func TestProvisionStreamsOutput(t *testing.T) {
	p := prepare(t, map[string]any{})
	comm := newFakeComm()
	comm.StartStdout = "firewall: opened 169.254.170.2:80 on ecs-bridge\n"
	comm.StartStderr = "warning: something\n"
	ui := newTestUi()
	if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if !strings.Contains(ui.out.String(), "firewall: opened 169.254.170.2:80 on ecs-bridge") {
		t.Errorf("stdout not streamed to the ui:\n%s", ui.out)
	}
	if !strings.Contains(ui.errs.String(), "warning: something") {
		t.Errorf("stderr not streamed to the ui:\n%s", ui.errs)
	}
}

func TestProvisionReportFile(t *testing.T) {
	tests := []struct {
		name string
		// file is the report_file setting, relative to a fresh directory
		// that is also the working directory; empty leaves the default.
		file string
		want string
	}{
		{name: "default", want: "cisecs-report-amazon-ebs.al2023.json"},
		{name: "relative", file: "report.json", want: "report.json"},
		{name: "missing directories", file: "out/reports/al2023.json", want: "out/reports/al2023.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			raw := map[string]any{"packer_build_name": "amazon-ebs.al2023"}
			if tt.file != "" {
				raw["report_file"] = tt.file
			}
			p := prepare(t, raw)
			if tt.file == "" {
				// prepare chose a temporary file; prepare again without it.
				p = &Provisioner{}
				if err := p.Prepare(map[string]any{"packer_build_name": "amazon-ebs.al2023"}); err != nil {
					t.Fatalf("Prepare: %v", err)
				}
			}
			comm := newFakeComm()
			if err := p.Provision(context.Background(), newTestUi(), comm, nil); err != nil {
				t.Fatalf("Provision: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(dir, tt.want))
			if err != nil {
				t.Fatalf("report: %v", err)
			}
			if string(got) != comm.DownloadData {
				t.Errorf("report = %q, want %q", got, comm.DownloadData)
			}
		})
	}
}

func TestProvisionScriptFails(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		downloadErr  error
		wantErr      []string
		disconnected bool
		wantReport   bool
	}{
		{
			name:       "non-zero exit",
			status:     3,
			wantErr:    []string{"exited with status 3: firewall: nft: command not found"},
			wantReport: true,
		},
		{
			name:        "non-zero exit, no report",
			status:      1,
			downloadErr: errors.New("scp: /var/lib/cisecs/report.json: No such file or directory"),
			wantErr:     []string{"exited with status 1", "download report", "No such file"},
		},
		{
			name:         "connection lost",
			status:       packersdk.CmdDisconnect,
			wantErr:      []string{"connection lost while host script"},
			disconnected: true,
			wantReport:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepare(t, map[string]any{})
			comm := newFakeComm()
			comm.StartExitStatus = tt.status
			comm.StartStderr = "firewall: nft: command not found\n"
			comm.DownloadData = `{"ok":false,"failed":"firewall"}`
			if tt.downloadErr != nil {
				comm.DownloadFunc = func(string, io.Writer) error { return tt.downloadErr }
			}
			ui := newTestUi()
			err := p.Provision(context.Background(), ui, comm, nil)
			if err == nil {
				t.Fatal("Provision succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			var exit *ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("error is not an *ExitError: %v", err)
			}
			if exit.ExitStatus != tt.status || exit.Disconnected() != tt.disconnected {
				t.Errorf("ExitError = %+v, Disconnected() = %v", exit, exit.Disconnected())
			}
			if u, s, d := comm.roundTrips(); u != 1 || s != 1 || d != 1 {
				t.Errorf("round trips: %d uploads, %d starts, %d downloads; want one of each (never re-run)", u, s, d)
			}
			if !strings.Contains(ui.errs.String(), "downloading the report") {
				t.Errorf("ui does not say the report is downloaded anyway:\n%s", ui.errs)
			}
			got, err := os.ReadFile(p.p.reportFile)
			switch {
			case tt.wantReport && err != nil:
				t.Errorf("report: %v", err)
			case tt.wantReport && string(got) != comm.DownloadData:
				t.Errorf("report = %q, want %q", got, comm.DownloadData)
			case !tt.wantReport && err == nil:
				t.Errorf("report file written though the download failed")
			}
		})
	}
}

func TestProvisionRetries(t *testing.T) {
	tests := []struct {
		name string
		// setup makes comm fail at first.
		setup       func(c *fakeComm)
		wantUploads int
		wantStarts  int
	}{
		{
			name:        "start fails twice",
			setup:       func(c *fakeComm) { c.StartFunc = c.failFirst(2) },
			wantUploads: 3,
			wantStarts:  3,
		},
		{
			name: "upload fails twice",
			setup: func(c *fakeComm) {
				var failed int
				c.UploadFunc = func(path string, r io.Reader) error {
					if failed < 2 {
						failed++
						return errors.New("ssh: handshake failed: EOF")
					}
					return c.MockCommunicator.Upload(path, r, nil)
				}
			},
			wantUploads: 3,
			wantStarts:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepare(t, map[string]any{})
			comm := newFakeComm()
			tt.setup(comm)
			ui := newTestUi()
			if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
				t.Fatalf("Provision: %v", err)
			}
			if u, s, d := comm.roundTrips(); u != tt.wantUploads || s != tt.wantStarts || d != 1 {
				t.Errorf("round trips: %d uploads, %d starts, %d downloads; want %d, %d, 1", u, s, d, tt.wantUploads, tt.wantStarts)
			}
			if !comm.StartCalled {
				t.Error("the script never ran")
			}
			if n := strings.Count(ui.out.String(), "host not ready"); n != 1 {
				t.Errorf("ui says %d times that the host is not ready, want once:\n%s", n, ui.out)
			}
		})
	}
}

func TestProvisionRetryTimeout(t *testing.T) {
	p := prepare(t, map[string]any{"start_retry_timeout": "50ms"})
	comm := newFakeComm()
	comm.StartFunc = func(context.Context, *packersdk.RemoteCmd) error {
		return errors.New("ssh: connection refused")
	}
	err := p.Provision(context.Background(), newTestUi(), comm, nil)
	if err == nil {
		t.Fatal("Provision succeeded, want an error")
	}
	for _, w := range []string{"retried for 50ms", "ssh: connection refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}
	if _, s, d := comm.roundTrips(); s < 2 || d != 0 {
		t.Errorf("%d starts, %d downloads; want retries and no download", s, d)
	}
}

func TestProvisionCancel(t *testing.T) {
	tests := []struct {
		name string
		// setup makes comm hang or fail until the context is cancelled.
		setup func(t *testing.T, c *fakeComm)
	}{
		{
			name: "while the script runs",
			setup: func(t *testing.T, c *fakeComm) {
				c.StartFunc = func(context.Context, *packersdk.RemoteCmd) error { return nil } // never exits
			},
		},
		{
			name: "while retrying",
			setup: func(t *testing.T, c *fakeComm) {
				c.StartFunc = func(context.Context, *packersdk.RemoteCmd) error { return errors.New("ssh: connection refused") }
			},
		},
		{
			name: "while uploading",
			setup: func(t *testing.T, c *fakeComm) {
				hung := make(chan struct{})
				t.Cleanup(func() { close(hung) })
				c.UploadFunc = func(string, io.Reader) error { <-hung; return errors.New("ssh: connection lost") }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepare(t, map[string]any{})
			p.retryDelay = time.Hour
			comm := newFakeComm()
			tt.setup(t, comm)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Provision(ctx, newTestUi(), comm, nil) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Provision did not return within 5s of the cancel")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error = %v, want the context's", err)
			}
			if _, _, d := comm.roundTrips(); d != 0 {
				t.Errorf("%d downloads after a cancel, want none", d)
			}
		})
	}
}

func TestProvisionBeforePrepare(t *testing.T) {
	var p Provisioner
	if err := p.Provision(context.Background(), newTestUi(), newFakeComm(), nil); err == nil {
		t.Error("Provision without Prepare succeeded")
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "short", writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "long write", writes: []string{"abcdefgh"}, want: "efgh"},
		{name: "many writes", writes: []string{"abc", "def", "g"}, want: "defg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &tailBuffer{max: 4}
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// BenchmarkProvision counts the round trips to the host per provision: an
// upload of the script, its run, the report's download.
func BenchmarkProvision(b *testing.B) {
	p := prepare(b, map[string]any{})
	var trips, n int
	for b.Loop() {
		n++
		ui := new(packersdk.MockUi) // quiet: BasicUi also logs every line
		comm := newFakeComm()
		if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
			b.Fatalf("Provision: %v", err)
		}
		u, s, d := comm.roundTrips()
		trips += u + s + d
	}
	budget.Max(b, "provisioner SSH round trips per build", float64(trips)/float64(n), 3, "roundtrips/op")
}
