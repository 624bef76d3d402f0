package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/internal/testenv"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// TestValidateFlags: bad flags exit 2 with every problem, each naming its
// flag, and nothing is done: no report, no AWS call.
func TestValidateFlags(t *testing.T) {
	awssim.IsolateEnv(t)
	front := awssim.ServeTCP(t, awssim.Options{})
	t.Setenv("AWS_ACCESS_KEY_ID", awssim.TestKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awssim.TestSecret)
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
		{"bad mode", []string{"--backend", "twin", "--network-modes", "nat"}, `"nat"`},
		{"argument", []string{"--backend", "twin", "extra"}, `unexpected argument "extra"`},
		{"bad role", []string{"--backend", "twin", "--task-role-arn", "ecsTaskRole"}, `--task-role-arn "ecsTaskRole": not an IAM role ARN; want one like arn:aws:iam::`},
		{"aws flags with twin", []string{"--backend", "twin", "--ami", "ami-1", "--region", "eu-west-1"}, "2 problem(s) in the command line; nothing was done:\n  --ami: only with --backend aws\n  --region: only with --backend aws\n"},
		{"aws without its settings", []string{"--backend", "aws", "--region", "us-east-1"}, "5 problem(s) in the command line; nothing was done:\n" +
			"  --ami: required; want ami- and 8 or 17 hex digits, like ami-0123456789abcdef0\n" +
			"  --subnet: required; want subnet- and 8 or 17 hex digits, like subnet-0123456789abcdef0\n" +
			"  --security-group: required; want sg- and 8 or 17 hex digits, like sg-0123456789abcdef0\n" +
			"  --instance-profile: required; want a name like cisecs-gate-instance, or an ARN like arn:aws:iam::123456789012:instance-profile/cisecs-gate-instance\n" +
			"  --task-role-arn: required; want one like arn:aws:iam::123456789012:role/cisecs-probe\n"},
		{"aws bad modes", append(awsSettings(), "--network-modes", "bridge"), `--network-modes "bridge": the gate needs awsvpc`},
		{"aws and twin flags", append(awsSettings(), "--twin-unprovisioned", "--ami", "ami-..."), "2 problem(s) in the command line; nothing was done:\n" +
			"  --twin-unprovisioned: only with --backend twin\n" +
			`  --ami "ami-...": not an AMI id; want ami- and 8 or 17 hex digits, like ami-0123456789abcdef0` + "\n"},
		{"aws all at once", append(awsSettings(), "--region", "EU_WEST_1", "--ami", "ami-...", "--subnet", "subnet-1", "--security-group", "default",
			"--instance-profile", "arn:aws:iam::111122223333:role/r", "--task-role-arn", "ecsTaskRole", "--execution-role-arn", "ecsTaskExecutionRole",
			"--instance-type", "small", "--network-modes", "nat", "--run-id", "a b", "--timeout", "-1s", "--probe-image", "x y",
			"--publish-parameter", "cisecs/ami", "--provision-report", "no-such-report.json"),
			"15 problem(s) in the command line; nothing was done:\n" +
				`  --ami "ami-...": not an AMI id; want ami- and 8 or 17 hex digits, like ami-0123456789abcdef0` + "\n" +
				`  --region "EU_WEST_1": not a region name; want one like eu-west-1` + "\n" +
				`  --subnet "subnet-1": not a subnet id; want subnet- and 8 or 17 hex digits, like subnet-0123456789abcdef0` + "\n" +
				`  --security-group "default": not a security group id; want sg- and 8 or 17 hex digits, like sg-0123456789abcdef0` + "\n" +
				`  --instance-profile "arn:aws:iam::111122223333:role/r": not an instance profile name or ARN; want a name like cisecs-gate-instance, or an ARN like arn:aws:iam::123456789012:instance-profile/cisecs-gate-instance` + "\n" +
				`  --instance-type "small": not an instance type; want one like t3.small` + "\n" +
				`  --task-role-arn "ecsTaskRole": not an IAM role ARN; want one like arn:aws:iam::123456789012:role/cisecs-probe` + "\n" +
				`  --execution-role-arn "ecsTaskExecutionRole": not an IAM role ARN; want one like arn:aws:iam::123456789012:role/cisecs-probe` + "\n" +
				`  --publish-parameter "cisecs/ami": not an SSM parameter name; want letters, digits, '.', '-', '_' in a path that starts with '/' and not with /aws or /ssm, like /cisecs/al2023-cis-level1/ami-id` + "\n" +
				`  --network-modes: unknown mode "nat" (modes are awsvpc, bridge, host)` + "\n" +
				`  --network-modes "nat": the gate needs awsvpc (the forced-stop and reboot checks use it); want awsvpc or a list with it, such as awsvpc,bridge,host` + "\n" +
				`  --probe-image "x y": not an image reference; want one like public.ecr.aws/amazonlinux/amazonlinux:2023` + "\n" +
				`  --timeout -1s: negative; want a duration like 45m0s` + "\n" +
				`  --run-id "a b": want 1 to 64 letters, digits and hyphens` + "\n" +
				`  --provision-report "no-such-report.json": open no-such-report.json: no such file or directory` + "\n"},
		{"bad flag", []string{"--nope"}, "flag provided but not defined"},
		{"provision report with twin", []string{"--backend", "twin", "--provision-report", "r.json"}, "--provision-report: only with --backend aws"},
		{"provision report without publishing", append(awsSettings(), "--provision-report", "r.json"), "--provision-report: only with --publish-parameter"},
		{"copies without publishing", append(awsSettings(), "--publish-copies", "us-west-2=ami-0123456789abcdef1"), "--publish-copies: only with --publish-parameter"},
		{"bad copies", append(awsSettings(), "--publish-parameter", "/cisecs/x/ami-id", "--publish-copies", "us-west-2,EU=ami-1,eu-west-1=ami-0123456789abcdef1,us-east-2=ami-0123456789abcdef1,us-east-2=ami-0123456789abcdef2"),
			"4 problem(s) in the command line; nothing was done:\n" +
				`  --publish-copies: "us-west-2" is not REGION=AMI; want one like eu-west-1=ami-0123456789abcdef0` + "\n" +
				`  --publish-copies: "EU" is not a region name; want one like eu-west-1` + "\n" +
				`  --publish-copies: eu-west-1 is the gate's own region: its AMI is the one under test` + "\n" +
				`  --publish-copies: region us-east-2 is listed twice` + "\n"},
		{"provision report missing", append(awsSettings(), "--publish-parameter", "/cisecs/x/ami-id", "--provision-report", "no-such-report.json"),
			`--provision-report "no-such-report.json": open no-such-report.json: no such file or directory`},
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
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
	if ops := front.Ops(); len(ops) > 0 {
		t.Errorf("bad flags called AWS: %v", ops)
	}
}

// awsSettings are the flags --backend aws needs, all set.
func awsSettings() []string {
	return []string{"--backend", "aws", "--region", "eu-west-1", "--ami", "ami-0123456789abcdef0", "--subnet", "subnet-0123456789abcdef0",
		"--security-group", "sg-0123456789abcdef0", "--instance-profile", "cisecs-gate-instance", "--task-role-arn", "arn:aws:iam::111122223333:role/r"}
}

// TestValidateTwin is the README's demo: the whole gate offline on the
// default baseline passes, and fails on an unprovisioned CIS host.
func TestValidateTwin(t *testing.T) {
	testenv.Root(t, "host twin")
	tests := []struct {
		name       string
		args       []string
		wantExit   int
		wantStatus []string
	}{
		{"provisioned", nil, validate.ExitPass, []string{"pass", "pass", "pass", "pass", "pass", "pass", "pass"}},
		{"unprovisioned", []string{"--twin-unprovisioned"}, validate.ExitFail, []string{"pass", "fail", "skipped", "skipped", "skipped", "skipped", "skipped"}},
		// The host script leaves bridge tasks IMDS (hop limit 2, no
		// DOCKER-USER drop): asked to, the gate says so.
		{"bridge IMDS required blocked", []string{"--bridge-imds-blocked"}, validate.ExitFail, []string{"pass", "pass", "fail", "skipped", "skipped", "skipped", "skipped"}},
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
			if slices.Contains(tc.args, "--bridge-imds-blocked") {
				if !r.BridgeIMDSBlocked || r.Checks[2].ProbeExitCode == nil || *r.Checks[2].ProbeExitCode != validate.ProbeExitIMDSReachable {
					t.Errorf("report: bridge_imds_blocked %v, bridge check %+v; want true, failed on IMDS", r.BridgeIMDSBlocked, r.Checks[2])
				}
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

// TestReportDefault: without --report and --junit, validate writes no file
// (the results are on stdout); with them, it writes each and says where.
func TestReportDefault(t *testing.T) {
	_, help, _ := runCmd(t, "validate", "-h")
	if i := strings.Index(help, "  -report string\n"); i < 0 || !strings.Contains(help[i:], "(default none: the results are printed on stdout)") {
		t.Errorf("validate -h does not say --report writes nothing by default:\n%s", help)
	}
	r := validate.Report{RunID: "r", Backend: "aws", Cleanup: validate.Cleanup{Status: validate.CleanupDone}}

	t.Run("default", func(t *testing.T) {
		t.Chdir(t.TempDir())
		var stdout bytes.Buffer
		if err := writeReports(r, "", "", &stdout); err != nil {
			t.Fatal(err)
		}
		if files, _ := os.ReadDir("."); len(files) > 0 || stdout.Len() > 0 {
			t.Errorf("wrote %v, printed %q; want nothing", files, stdout.String())
		}
	})
	t.Run("asked for", func(t *testing.T) {
		dir := t.TempDir()
		report, junit := filepath.Join(dir, "out", "gate.json"), filepath.Join(dir, "gate.xml")
		var stdout bytes.Buffer
		if err := writeReports(r, report, junit, &stdout); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(report)
		var got validate.Report
		if err != nil || json.Unmarshal(b, &got) != nil || got.RunID != "r" {
			t.Errorf("report %s: %v, %q", report, err, b)
		}
		if _, err := os.Stat(junit); err != nil {
			t.Errorf("junit: %v", err)
		}
		if stdout.String() != "report: "+report+"\njunit: "+junit+"\n" {
			t.Errorf("stdout %q, want where each went", stdout.String())
		}
	})
}

// TestGateInstanceTypeDefaults: the gate's default instance type for an
// architecture (release's, which a definition's gate_instance_type and a
// gate run by hand both take) launches an AMI of that architecture on the
// emulated EC2.
func TestGateInstanceTypeDefaults(t *testing.T) {
	for _, arch := range images.Architectures() {
		def := release.GateInstanceType(arch)
		if got, ok := awssim.InstanceTypeArchitecture(def); !ok || got != arch {
			t.Errorf("%s: %s is %q (known %t) to the emulated EC2", arch, def, got, ok)
		}
	}
}
