package awsgate_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// briefLatencies are the latencies of a realistic launch: the instance
// takes 40 s to run, its agent 20 s more to register, a probe 10 s to run
// and stop, a cluster 2 s to create.
func briefLatencies() awssim.Latencies {
	return awssim.Latencies{
		API: map[string]time.Duration{
			"CreateCluster":          2 * time.Second,
			"RegisterTaskDefinition": 1 * time.Second,
			"RunInstances":           1 * time.Second,
			"RunTask":                500 * time.Millisecond,
		},
		InstanceBoot:  40 * time.Second,
		AgentRegister: 20 * time.Second,
		TaskStart:     3 * time.Second,
		TaskRun:       10 * time.Second,
		TaskStop:      10 * time.Second,
		RebootDown:    5 * time.Second,
		Reboot:        60 * time.Second,
		Terminate:     30 * time.Second,
		Command:       4 * time.Second,
	}
}

// env is one test's emulated AWS: kumo behind the front, inside a synctest
// bubble, and clients that reach it.
type env struct {
	front *awssim.Server
	ec2   *ec2.Client
	ecs   *ecs.Client
	ssm   *ssm.Client
	iam   *iam.Client
}

// inBubble runs f in a synctest bubble with a front on a new kumo
// (awssim.Bubble): time there is fake. The
// front's catalogue holds testAMI (x86_64) unless o.Images gives it, and
// testSubnet is a public subnet unless o.Networks gives it.
func inBubble(t *testing.T, o awssim.Options, f func(t *testing.T, e *env)) {
	t.Helper()
	if !slices.ContainsFunc(o.Images, func(img awssim.Image) bool { return img.ID == testAMI }) {
		o.Images = append(slices.Clone(o.Images), awssim.Image{ID: testAMI, Name: "cisecs-test", Architecture: "x86_64"})
	}
	if !slices.ContainsFunc(o.Networks, func(n awssim.Network) bool { return n.Subnet == testSubnet }) {
		o.Networks = append(slices.Clone(o.Networks), awssim.PublicNetwork(testSubnet))
	}
	awssim.Bubble(t, o, func(t *testing.T, front *awssim.Server) {
		e := &env{front: front}
		e.ec2, e.ecs, e.ssm = front.Clients()
		e.iam = front.IAM()
		f(t, e)
	})
}

// runID is the test's own run id (awssim.RunID).
func runID(t *testing.T) string { return awssim.RunID(t) }

const (
	testAMI      = "ami-0123456789abcdef0"
	testSubnet   = "subnet-0123456789abcdef0"
	testSG       = "sg-0123456789abcdef0"
	testRole     = "arn:aws:iam::000000000000:role/cisecs-probe"
	testProbeImg = "public.ecr.aws/docker/library/alpine:3.20"
)

// probes are the gate's probes: one per mode, and the one that holds.
var probes = []validate.Probe{
	{Mode: release.ModeAWSVPC, RoleARN: testRole, IMDSBlocked: true},
	{Mode: release.ModeBridge, RoleARN: testRole},
	{Mode: release.ModeHost, RoleARN: testRole},
}

// holds says whether a task definition's probe script holds (the rendered
// templates/probe.sh.tmpl with Hold).
func holds(td awssim.TaskDefinition) bool {
	return strings.Contains(strings.Join(td.Command, " "), "readonly HOLD=1")
}

// holdingProbe is the emulated behaviour of a probe that passes: exit 0,
// or hold.
func holdingProbe(td awssim.TaskDefinition) awssim.Run {
	return awssim.Run{ExitCode: awssim.Exit(0), Hold: holds(td)}
}

func (e *env) options(t *testing.T) awsgate.Options {
	t.Helper()
	return awsgate.Options{
		Gate: validate.Options{
			ImageID:    testAMI,
			RoleARN:    testRole,
			ProbeImage: testProbeImg,
			RunID:      runID(t),
		},
		Region:          "us-east-1",
		Subnet:          testSubnet,
		SecurityGroup:   testSG,
		InstanceProfile: "cisecs-gate-instance",
		TTL:             2 * time.Hour,
		PollInterval:    5 * time.Second,
		EC2:             e.ec2,
		ECS:             e.ecs,
		Tasks:           e.ecs,
		SSM:             e.ssm,
		IAM:             e.iam,
	}
}

func (e *env) backend(t *testing.T, edit func(*awsgate.Options)) *awsgate.Backend {
	t.Helper()
	o := e.options(t)
	if edit != nil {
		edit(&o)
	}
	b, err := awsgate.New(t.Context(), o)
	if err != nil {
		t.Fatalf("awsgate.New: %v", err)
	}
	return b
}

// assertClean fails t unless the emulator holds nothing of run.
func (e *env) assertClean(t *testing.T, run string) {
	t.Helper()
	left, err := e.front.Leftovers(context.Background(), run)
	if err != nil {
		t.Fatalf("leftovers: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("run %q left behind:\n  %s", run, strings.Join(left, "\n  "))
	}
}

func hasTags(j map[string]any, run, expires string) bool {
	tags := map[string]string{}
	l, _ := j["tags"].([]any)
	for _, t := range l {
		m := t.(map[string]any)
		tags[m["key"].(string)] = m["value"].(string)
	}
	return tags[release.TagRunID] == run && tags[release.TagExpiresAt] == expires
}

// failOnce makes the first call of op answer code.
func failOnce(op, code string) func(string, int) *awssim.APIError {
	return func(o string, n int) *awssim.APIError {
		if o == op && n == 1 {
			return &awssim.APIError{Code: code, Message: "scripted failure of " + op}
		}
		return nil
	}
}
