package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/validate"
)

func TestValidateFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no backend", nil, "--backend is required"},
		{"unknown backend", []string{"--backend", "gcp"}, `--backend "gcp": want twin or aws`},
		{"aws flag with twin", []string{"--backend", "twin", "--ami", "ami-1"}, "--ami: only with --backend aws"},
		{"publish with twin", []string{"--backend", "twin", "--publish-parameter", "/x"}, "--publish-parameter: only with --backend aws"},
		{"twin flag with aws", []string{"--backend", "aws", "--twin-unprovisioned"}, "--twin-unprovisioned: only with --backend twin"},
		{"unknown baseline", []string{"--backend", "twin", "--twin-baseline", "centos6"}, `"centos6"`},
		{"bad mode", []string{"--backend", "twin", "--network-modes", "host"}, `"host"`},
		{"argument", []string{"--backend", "twin", "extra"}, `unexpected argument "extra"`},
		{"bad role", []string{"--backend", "twin", "--task-role-arn", "ecsTaskRole"}, `role arn "ecsTaskRole"`},
		{"aws without its settings", []string{"--backend", "aws", "--region", "us-east-1"}, "--backend aws needs --ami, --subnet, --security-group, --instance-profile, --task-role-arn"},
		{"aws bad modes", []string{"--backend", "aws", "--ami", "ami-0123456789abcdef0", "--subnet", "subnet-1", "--security-group", "sg-1",
			"--instance-profile", "p", "--task-role-arn", "arn:aws:iam::111122223333:role/r", "--network-modes", "bridge"}, "the gate needs awsvpc"},
		{"bad flag", []string{"--nope"}, "flag provided but not defined"},
		{"provision report with twin", []string{"--backend", "twin", "--provision-report", "r.json"}, "--provision-report: only with --backend aws"},
		{"provision report without publishing", append(awsSettings(), "--provision-report", "r.json"), "--provision-report: only with --publish-parameter"},
		{"provision report missing", append(awsSettings(), "--publish-parameter", "/cisecs/x/ami-id", "--provision-report", "no-such-report.json"),
			`--provision-report: provision report "no-such-report.json": open no-such-report.json: no such file or directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := append([]string{"validate", "--report", filepath.Join(dir, "r.json")}, tc.args...)
			if code := run(args, &stdout, &stderr); code != validate.ExitError {
				t.Errorf("exit %d, want %d", code, validate.ExitError)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "r.json")); err == nil {
				t.Errorf("a report was written although the gate did not run")
			}
		})
	}
}

// awsSettings are the flags --backend aws needs, all set.
func awsSettings() []string {
	return []string{"--backend", "aws", "--ami", "ami-0123456789abcdef0", "--subnet", "subnet-1", "--security-group", "sg-1",
		"--instance-profile", "p", "--task-role-arn", "arn:aws:iam::111122223333:role/r"}
}

// TestFileSHA256 checks the digest the publisher tags the AMI with is the
// SHA-256 of the report's bytes, and refuses an empty report.
func TestFileSHA256(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want, wantErr string
	}{
		{name: "report", content: "test", want: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		{name: "empty", content: "", wantErr: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := fileSHA256(p)
			if got != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("fileSHA256 = %q, %v; want %q, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestValidateTwin is the README's demo: the whole gate offline on the
// default baseline passes, and fails on an unprovisioned CIS host.
func TestValidateTwin(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("host twin needs root, and CI=true forbids skipping")
		}
		t.Skip("host twin needs root")
	}
	tests := []struct {
		name       string
		args       []string
		wantExit   int
		wantStatus []string
	}{
		{"provisioned", nil, validate.ExitPass, []string{"pass", "pass", "pass", "pass", "pass"}},
		{"unprovisioned", []string{"--twin-unprovisioned"}, validate.ExitFail, []string{"pass", "fail", "skipped", "skipped", "skipped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			report, junit := filepath.Join(dir, "gate.json"), filepath.Join(dir, "gate.xml")
			var stdout, stderr bytes.Buffer
			args := append([]string{"validate", "--backend", "twin", "--report", report, "--junit", junit}, tc.args...)
			code := run(args, &stdout, &stderr)
			t.Logf("stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			if code != tc.wantExit {
				t.Errorf("exit %d, want %d", code, tc.wantExit)
			}
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			var r validate.Report
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("report: %v", err)
			}
			var got []string
			for _, c := range r.Checks {
				got = append(got, string(c.Status))
			}
			if strings.Join(got, ",") != strings.Join(tc.wantStatus, ",") {
				t.Errorf("statuses %q, want %q", got, tc.wantStatus)
			}
			if r.ExitCode() != code || r.Backend != "twin" || r.Cleanup.Status != validate.CleanupDone {
				t.Errorf("report exit %d, backend %q, cleanup %+v", r.ExitCode(), r.Backend, r.Cleanup)
			}
			x, err := os.ReadFile(junit)
			if err != nil {
				t.Fatal(err)
			}
			if err := xml.Unmarshal(x, new(struct {
				XMLName xml.Name `xml:"testsuites"`
			})); err != nil {
				t.Errorf("junit: %v", err)
			}
			if !strings.Contains(stderr.String(), "] cleanup: done") || !strings.Contains(stdout.String(), r.Summary()) {
				t.Errorf("progress or summary missing")
			}
		})
	}
}
