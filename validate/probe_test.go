package validate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/testenv"
	"github.com/cisecs/cisecs/release"
)

const testRole = "arn:aws:iam::111122223333:role/cisecs-gate-probe"

// needTool skips a test when name is not installed, or fails it under
// CI=true, where a gate must never pass by skipping.
func needTool(t *testing.T, name string) {
	t.Helper()
	testenv.Tool(t, name, "./run test installs it")
}

func TestProbeScriptDeterministic(t *testing.T) {
	p := Probe{Mode: release.ModeAWSVPC, RoleARN: testRole, IMDSBlocked: true}
	a, err := ProbeScript(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ProbeScript(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two renders of the same probe differ")
	}
	for _, want := range []string{"readonly EXPECTED_ROLE='" + testRole + "'", "readonly IMDS_MUST_BE_BLOCKED=1", "readonly HOLD=0",
		"readonly CREDENTIALS_ENDPOINT='http://169.254.170.2'", "'http://169.254.169.254/latest/api/token'"} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("script lacks %q", want)
		}
	}
}

func TestProbeScriptRefusesBadRole(t *testing.T) {
	tests := []struct {
		name, role string
	}{
		{"empty", ""},
		{"user, not role", "arn:aws:iam::111122223333:user/alice"},
		{"quote", "arn:aws:iam::111122223333:role/x'; reboot; '"},
		{"short account", "arn:aws:iam::1111:role/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ProbeScript(Probe{Mode: release.ModeAWSVPC, RoleARN: tc.role})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.role)) {
				t.Errorf("got %v, want an error naming %q", err, tc.role)
			}
		})
	}
	for _, role := range []string{testRole, "arn:aws-us-gov:iam::111122223333:role/path/to/r+=,.@_-1", "arn:aws-cn:iam::111122223333:role/r"} {
		if _, err := ProbeScript(Probe{RoleARN: role}); err != nil {
			t.Errorf("role %q: %v", role, err)
		}
	}
}

func TestProbeShellcheck(t *testing.T) {
	needTool(t, "shellcheck")
	for _, p := range []Probe{{RoleARN: testRole}, {RoleARN: testRole, IMDSBlocked: true, Hold: true}} {
		b, err := ProbeScript(p)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("shellcheck", "--shell=sh", "--severity=style", "-")
		cmd.Stdin = bytes.NewReader(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck (%+v): %v\n%s", p, err, out)
		}
	}
}

// agent is a stand-in for the ECS agent's credentials and metadata
// endpoints (and, when imds is set, for IMDS), with answers a test sets.
type agent struct {
	credsStatus int
	creds       string
	metaStatus  int
	container   string
	task        string
}

const credsID = "/v2/credentials/0e5ac7e3-6f6a-4b3e-9a1c-3c1b2f0d9e77"

func (a agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+credsID, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(a.credsStatus)
		fmt.Fprint(w, a.creds)
	})
	mux.HandleFunc("GET /v4/abc", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(a.metaStatus)
		fmt.Fprint(w, a.container)
	})
	mux.HandleFunc("GET /v4/abc/task", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(a.metaStatus)
		fmt.Fprint(w, a.task)
	})
	return mux
}

func creds(role string, expires time.Time, format string) string {
	return fmt.Sprintf(`{"RoleArn":%q,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s","Token":"t","Expiration":%q}`,
		role, expires.UTC().Format(format))
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestProbeExitCodes runs the real probe script with sh and curl against a
// stand-in agent, for every exit code it documents.
func TestProbeExitCodes(t *testing.T) {
	needTool(t, "curl")
	future, past := time.Now().Add(6*time.Hour), time.Now().Add(-time.Minute)
	good := agent{
		credsStatus: 200, creds: creds(testRole, future, time.RFC3339),
		metaStatus: 200, container: `{"DockerId":"abc123","Name":"probe"}`,
		task: `{"Cluster":"c","TaskARN":"arn:aws:ecs:us-east-1:111122223333:task/c/abc"}`,
	}
	with := func(f func(*agent)) agent { a := good; f(&a); return a }
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden) // any answer means reachable
	}))
	t.Cleanup(imds.Close)
	tests := []struct {
		name        string
		agent       agent
		noAgent     bool
		imdsBlocked bool
		imdsURL     string
		env         []string // replaces the task's environment when set
		want        int
		wantMsg     string
	}{
		{name: "pass", agent: good, want: ProbeExitPass, wantMsg: "PASS: credentials for " + testRole},
		{name: "pass with fractional expiry", agent: with(func(a *agent) { a.creds = creds(testRole, future, "2006-01-02T15:04:05.000Z") }), want: ProbeExitPass},
		{name: "pass with IMDS blocked", agent: good, imdsBlocked: true, imdsURL: "http://" + closedAddr(t) + "/latest/api/token", want: ProbeExitPass, wantMsg: "IMDS blocked"},
		{name: "IMDS reachable but not required blocked", agent: good, imdsURL: imds.URL + "/latest/api/token", want: ProbeExitPass},
		{name: "no role environment", agent: good, env: []string{"ECS_CONTAINER_METADATA_URI_V4=x"}, want: ProbeExitEnvironment, wantMsg: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not set"},
		{name: "no metadata environment", agent: good, env: []string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" + credsID}, want: ProbeExitEnvironment, wantMsg: "ECS_CONTAINER_METADATA_URI_V4 is not set"},
		{name: "credentials unreachable", noAgent: true, want: ProbeExitCredentialsUnreachable, wantMsg: "no answer from"},
		{name: "wrong role", agent: with(func(a *agent) { a.creds = creds("arn:aws:iam::111122223333:role/other", future, time.RFC3339) }), want: ProbeExitWrongRole, wantMsg: "role/other, want " + testRole},
		{name: "expired", agent: with(func(a *agent) { a.creds = creds(testRole, past, time.RFC3339) }), want: ProbeExitCredentialsInvalid, wantMsg: "expired at"},
		{name: "expiry not UTC", agent: with(func(a *agent) {
			a.creds = `{"RoleArn":"` + testRole + `","AccessKeyId":"ASIAEXAMPLE","Expiration":"2099-01-01T00:00:00+02:00"}`
		}), want: ProbeExitCredentialsInvalid, wantMsg: "not an RFC 3339 UTC time"},
		{name: "expiry a number", agent: with(func(a *agent) {
			a.creds = `{"RoleArn":"` + testRole + `","AccessKeyId":"ASIAEXAMPLE","Expiration":4102444800}`
		}), want: ProbeExitCredentialsInvalid, wantMsg: "not an RFC 3339 UTC time"},
		{name: "no key", agent: with(func(a *agent) { a.creds = `{"RoleArn":"` + testRole + `"}` }), want: ProbeExitCredentialsInvalid, wantMsg: "no AccessKeyId"},
		{name: "no role", agent: with(func(a *agent) { a.creds = `{}` }), want: ProbeExitCredentialsInvalid, wantMsg: "no RoleArn"},
		{name: "credentials HTTP error", agent: with(func(a *agent) { a.credsStatus, a.creds = 400, `{"code":"InvalidIdInRequest"}` }), want: ProbeExitCredentialsInvalid, wantMsg: "HTTP 400"},
		{name: "metadata HTTP error", agent: with(func(a *agent) { a.metaStatus = 500 }), want: ProbeExitMetadataUnreachable, wantMsg: "HTTP 500"},
		{name: "metadata without container", agent: with(func(a *agent) { a.container = `{}` }), want: ProbeExitMetadataInvalid, wantMsg: "no DockerId"},
		{name: "task metadata without task", agent: with(func(a *agent) { a.task = `{"Cluster":"c"}` }), want: ProbeExitMetadataInvalid, wantMsg: "no TaskARN"},
		{name: "IMDS reachable", agent: good, imdsBlocked: true, imdsURL: imds.URL + "/latest/api/token", want: ProbeExitIMDSReachable, wantMsg: "answered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := "http://" + closedAddr(t)
			if !tc.noAgent {
				srv := httptest.NewServer(tc.agent.handler())
				defer srv.Close()
				base = srv.URL
			}
			v := testVars(base)
			v.IMDSBlocked = tc.imdsBlocked
			if tc.imdsURL != "" {
				v.IMDSTokenURL = tc.imdsURL
			}
			env := []string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" + credsID, "ECS_CONTAINER_METADATA_URI_V4=" + base + "/v4/abc"}
			if tc.env != nil {
				env = tc.env
			}
			code, stdout, stderr := runProbe(t, v, env)
			if code != tc.want {
				t.Fatalf("exit %d (%s), want %d (%s)\nstdout: %s\nstderr: %s", code, ProbeExitMeaning(code), tc.want, ProbeExitMeaning(tc.want), stdout, stderr)
			}
			msg := stderr
			if code == ProbeExitPass {
				msg = stdout
			}
			if lines := strings.Split(strings.TrimSpace(msg), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.wantMsg) {
				t.Errorf("message %q, want one line with %q", msg, tc.wantMsg)
			}
			if strings.Contains(stdout+stderr, "ASIAEXAMPLE") || strings.Contains(stdout+stderr, credsID) {
				t.Errorf("the probe printed the credentials or their URI")
			}
		})
	}
}

// TestProbeHolds checks that a held probe says so once it passed, and
// keeps running until it is killed.
func TestProbeHolds(t *testing.T) {
	needTool(t, "curl")
	a := agent{credsStatus: 200, creds: creds(testRole, time.Now().Add(time.Hour), time.RFC3339), metaStatus: 200,
		container: `{"DockerId":"abc"}`, task: `{"TaskARN":"arn:aws:ecs:us-east-1:111122223333:task/c/abc"}`}
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	v := testVars(srv.URL)
	v.Hold = true
	script, err := renderProbe(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", string(script))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" + credsID, "ECS_CONTAINER_METADATA_URI_V4=" + srv.URL + "/v4/abc"}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == ProbeHoldLine {
			break
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "PASS") || lines[1] != ProbeHoldLine {
		t.Fatalf("held probe said %q, want a pass line, then %q", lines, ProbeHoldLine)
	}
	time.Sleep(200 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatal("held probe exited")
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// testVars renders a probe that asks base for credentials, once, quickly.
func testVars(base string) probeVars {
	return probeVars{
		RoleARN:             testRole,
		CredentialsEndpoint: base,
		IMDSTokenURL:        "http://127.0.0.1:9/latest/api/token",
		ConnectTimeout:      1,
		MaxTime:             2,
		Attempts:            2,
	}
}

// runProbe runs the rendered probe with sh and env, and returns its exit
// code and output.
func runProbe(t *testing.T, v probeVars, env []string) (int, string, string) {
	t.Helper()
	script, err := renderProbe(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", string(script), "cisecs-probe")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("probe did not run: %v", err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}
