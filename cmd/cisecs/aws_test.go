package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// awsAccess are the ways the gate's AWS access can be wrong, each with
// what the commands must say about it.
var awsAccess = []struct {
	name     string
	front    awssim.Options
	env      map[string]string // after IsolateEnv; AWS_ENDPOINT_URL "closed": a closed port
	region   string
	want     []string
	stsCalls int // GetCallerIdentity calls the front must see
}{{
	name:   "no credentials",
	region: "eu-west-1",
	want:   []string{"AWS credentials: none found", "set AWS_PROFILE", `run "aws configure"`, "nothing was done"},
}, {
	name:     "credentials refused",
	front:    awssim.Options{InvalidCredentials: true},
	env:      map[string]string{"AWS_ACCESS_KEY_ID": "AKIDDELETED", "AWS_SECRET_ACCESS_KEY": "x"},
	region:   "eu-west-1",
	want:     []string{`AWS credentials: refused in region "eu-west-1"`, "InvalidClientTokenId", "set AWS_PROFILE", `run "aws configure"`},
	stsCalls: 1,
}, {
	name: "no region",
	env:  map[string]string{"AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
	want: []string{"--region: none given, and none configured (AWS_REGION, or the profile's region); want one like eu-west-1"},
}, {
	name: "malformed region in the environment",
	env:  map[string]string{"AWS_REGION": "EU_WEST_1", "AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
	want: []string{`region "EU_WEST_1" (from AWS_REGION or the profile): not a region name; want one like eu-west-1; or give --region`},
}, {
	name:   "region out of reach",
	env:    map[string]string{"AWS_ENDPOINT_URL": "closed", "AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
	region: "xx-nowhere-1",
	want:   []string{`--region "xx-nowhere-1": cannot reach AWS STS there`, "connection refused", "like eu-west-1"},
}}

// setAWSAccess isolates the default chain, serves a front on it, and
// sets env; it returns the front.
func setAWSAccess(t *testing.T, front awssim.Options, env map[string]string) *awssim.Server {
	t.Helper()
	awssim.IsolateEnv(t)
	s := awssim.ServeTCP(t, front)
	for k, v := range env {
		if k == "AWS_ENDPOINT_URL" && v == "closed" {
			v = awssim.ClosedURL(t)
		}
		t.Setenv(k, v)
	}
	return s
}

// TestValidateAWSAccess: well-formed flags, but AWS access that does not
// work: validate exits 2 before it creates anything, says what is wrong
// and what to do, writes no report, and claims no leftovers.
func TestValidateAWSAccess(t *testing.T) {
	for _, tc := range awsAccess {
		t.Run(tc.name, func(t *testing.T) {
			front := setAWSAccess(t, tc.front, tc.env)
			report := filepath.Join(t.TempDir(), "gate.json")
			args := []string{"validate", "--backend", "aws", "--report", report, "--ami", "ami-0123456789abcdef0", "--subnet", "subnet-0123456789abcdef0",
				"--security-group", "sg-0123456789abcdef0", "--instance-profile", "cisecs-gate-instance", "--task-role-arn", "arn:aws:iam::111122223333:role/r",
				"--publish-parameter", "/cisecs/test/ami-id"}
			if tc.region != "" {
				args = append(args, "--region", tc.region)
			}
			code, stdout, stderr := runCmd(t, args...)
			t.Logf("stderr:\n%s", stderr)
			if code != 2 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
			}
			if !strings.HasPrefix(stderr, "cisecs validate: ") {
				t.Errorf("stderr does not start with the command's name")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if strings.Contains(stderr, "left behind") || strings.Contains(stderr, "cleanup") {
				t.Errorf("stderr speaks of cleanup or leftovers, though nothing was created")
			}
			if ops := front.Ops(); ops["GetCallerIdentity"] != tc.stsCalls || len(ops) > 1 {
				t.Errorf("AWS saw %v, want %d GetCallerIdentity and nothing else", ops, tc.stsCalls)
			}
			if _, err := os.Stat(report); !os.IsNotExist(err) {
				t.Errorf("report written: %v", err)
			}
		})
	}
}

// TestJanitorAWSAccess: with AWS access that does not work, janitor exits
// 2, says what is wrong and what to do, and prints no counts: it has not
// looked. With access that works, it sweeps and prints them.
func TestJanitorAWSAccess(t *testing.T) {
	for _, tc := range awsAccess {
		t.Run(tc.name, func(t *testing.T) {
			front := setAWSAccess(t, tc.front, tc.env)
			args := []string{"janitor"}
			if tc.region != "" {
				args = append(args, "--region", tc.region)
			}
			code, stdout, stderr := runCmd(t, args...)
			t.Logf("stderr:\n%s", stderr)
			if code != 2 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and no counts", code, stdout)
			}
			for _, w := range append([]string{"cisecs janitor: "}, tc.want...) {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if ops := front.Ops(); ops["GetCallerIdentity"] != tc.stsCalls || len(ops) > 1 {
				t.Errorf("AWS saw %v, want %d GetCallerIdentity and nothing else", ops, tc.stsCalls)
			}
		})
	}
	t.Run("access works", func(t *testing.T) {
		front := setAWSAccess(t, awssim.Options{}, map[string]string{
			"AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret,
		})
		code, stdout, stderr := runCmd(t, "janitor", "--region", "eu-west-1")
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "aws: account 000000000000, as arn:aws:iam::000000000000:root, in region eu-west-1") {
			t.Errorf("stderr does not say who the janitor runs as:\n%s", stderr)
		}
		if strings.Count(stdout, "janitor: ") != 5 || !strings.Contains(stdout, "janitor: terminated instances: 0") || !strings.Contains(stdout, "janitor: deleted network interfaces: 0") {
			t.Errorf("stdout %q, want the five counts", stdout)
		}
		if front.Ops()["DescribeInstances"] == 0 {
			t.Errorf("the janitor did not look for instances: %v", front.Ops())
		}
	})
}

// TestValidateAWSEmulated is the release step as the nightly job runs it,
// on the emulated AWS: the flags reach the gate and the backend as one
// set of options (one run id: the cluster is named and the AMI tagged
// with it), every check passes, and the AMI is published with the gate's
// provenance and the provision report's.
func TestValidateAWSEmulated(t *testing.T) {
	const (
		ami   = "ami-0123456789abcdef0"
		run   = "gh-1-1-0"
		param = "/cisecs/test-validate-aws/ami-id"
	)
	front := setAWSAccess(t, awssim.Options{
		Images:   []awssim.Image{{ID: ami, Name: "cisecs-al2023-cis-level1-1", Architecture: "x86_64"}},
		Networks: []awssim.Network{awssim.PublicNetwork("subnet-0123456789abcdef0")},
		// An instance takes a moment to boot, as on AWS: its agent finds
		// the cluster the gate created meanwhile (at once, its agent
		// would find none, and give up as a real one does).
		Latencies: awssim.Latencies{InstanceBoot: 100 * time.Millisecond},
		// The probe passes, and the one that holds holds until stopped.
		Probe: func(td awssim.TaskDefinition) awssim.Run {
			return awssim.Run{ExitCode: awssim.Exit(0), Hold: strings.Contains(strings.Join(td.Command, " "), "readonly HOLD=1")}
		},
	}, map[string]string{"AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret})
	dir := t.TempDir()
	provision := filepath.Join(dir, "cisecs-report-al2023-cis-level1.json")
	content := []byte(`{"schema": "cisecs.report/v1", "result": "ok", "ecs_agent": {"version": "1.101.2-1"}}`)
	if err := os.WriteFile(provision, content, 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "gate.json")
	code, stdout, stderr := runCmd(t, "validate", "--backend", "aws", "--region", "us-east-1", "--ami", ami,
		"--subnet", "subnet-0123456789abcdef0", "--security-group", "sg-0123456789abcdef0", "--instance-profile", "cisecs-gate-instance",
		"--task-role-arn", "arn:aws:iam::000000000000:role/cisecs-probe", "--run-id", run,
		"--publish-parameter", param, "--provision-report", provision, "--report", report)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	if code != validate.ExitPass {
		t.Fatalf("exit %d, want %d", code, validate.ExitPass)
	}
	b, err := os.ReadFile(report)
	var r validate.Report
	if err != nil || json.Unmarshal(b, &r) != nil {
		t.Fatalf("report %s: %v", b, err)
	}
	if r.RunID != run || r.Image != ami || !r.Published || r.PublishParameter != param || r.Backend != "aws" {
		t.Errorf("report: run %q, image %q, published %t to %q, backend %q", r.RunID, r.Image, r.Published, r.PublishParameter, r.Backend)
	}
	if cc := front.Requests("CreateCluster"); len(cc) != 1 || cc[0].JSON["clusterName"] != "cisecs-gate-"+run {
		t.Errorf("CreateCluster %v, want one named for the run id given", cc)
	}
	ec2c, _, ssmc := front.Clients()
	img, err := ec2c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(img.Images) != 1 {
		t.Fatalf("DescribeImages: %v", err)
	}
	tags := map[string]string{}
	for _, tag := range img.Images[0].Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	sum := sha256.Sum256(content)
	if tags[release.TagGateRunID] != run || tags[release.TagProvisionReportSHA256] != hex.EncodeToString(sum[:]) || tags[release.TagECSAgentInstalled] != "1.101.2" {
		t.Errorf("the AMI's tags %v, want the run id, the report's SHA-256 and the agent", tags)
	}
	p, err := ssmc.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(param)})
	if err != nil || aws.ToString(p.Parameter.Value) != ami {
		t.Errorf("parameter %s: %v, %v; want %s", param, p, err, ami)
	}
}
