package awsgate_test

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cisecs/cisecs/iampolicy"
	"github.com/cisecs/cisecs/iampolicy/iameval"
	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/publish"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// gateProfileRole is the role of the gate's instance profile
// (e.options' InstanceProfile), which the front does not play.
const gateProfileRole = "arn:aws:iam::" + awssim.Account + ":role/cisecs-gate-instance"

// gateState is the front's state, plus the role of the gate's instance
// profile.
type gateState struct{ *awssim.Resources }

func (g gateState) ProfileRole(profile string) (string, bool) {
	if profile == "cisecs-gate-instance" {
		return gateProfileRole, true
	}
	return g.Resources.ProfileRole(profile)
}

var _ iameval.State = gateState{}

// recordedCheck is one check IAM makes for one recorded call.
type recordedCheck struct {
	call  string // "ec2:RunInstances #1 at 00:00:05"
	check iameval.Check
}

// checkRecorder expands each request the front answers, under the front's
// lock (the state as it stands then), into the checks IAM makes for it.
type checkRecorder struct {
	mu     sync.Mutex
	start  time.Time
	n      map[string]int
	checks []recordedCheck
	errs   []string
}

func (r *checkRecorder) authorize(a awssim.Authorization) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		r.start = a.Time
	}
	key := a.Service + ":" + a.Op
	r.n[key]++
	call := fmt.Sprintf("%s #%d at +%s", key, r.n[key], a.Time.Sub(r.start))
	req := iameval.Request{Service: a.Service, Operation: a.Op, Region: a.Region, Account: a.Account, Query: a.Form, JSON: a.JSON,
		Caller: map[string][]string{"aws:userid": {"AROAVALIDATOR:cisecs-validate"}}}
	cs, err := iameval.Expand(req, gateState{a.State})
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%s: %v", call, err))
		return
	}
	for _, c := range cs {
		r.checks = append(r.checks, recordedCheck{call: call, check: c})
	}
}

// denied are the recorded checks p denies, one line each: the call, the
// check (action, resource, condition values) and IAM's reason.
func denied(p iampolicy.Policy, checks []recordedCheck) []string {
	var out []string
	for _, rc := range checks {
		if d := iameval.Evaluate(p, rc.check); !d.Allowed {
			out = append(out, fmt.Sprintf("%s: %s: %s", rc.call, rc.check, d.Reason))
		}
	}
	return out
}

// TestValidatorPolicyCoversRecordedCalls runs what the validator role
// runs, on the front, the way that calls the most: the whole gate in
// both modes in an account that has never used ECS (so the gate creates
// the ECS service-linked role), publishing with every provenance tag,
// after a run killed under a running awsvpc task, then the janitor's
// sweep of both. Every request the front answered
// is expanded into the checks IAM makes for it (iameval.Expand), with the
// resources as they stood when it arrived, and each check must be one the
// validator policy allows. Then each statement of the policy is taken out
// in turn: some check must fail without it, or the statement is dead (or
// this test blind to what it allows).
func TestValidatorPolicyCoversRecordedCalls(t *testing.T) {
	rec := &checkRecorder{n: map[string]int{}}
	o := awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe, NoECSServiceLinkedRole: true,
		Images:    []awssim.Image{{ID: testAMI, Name: "cisecs-al2023-1", Tags: map[string]string{"cisecs:image": "al2023-cis-level1"}}},
		Authorize: rec.authorize}
	var ops map[string]int
	inBubble(t, o, func(t *testing.T, e *env) {
		// A run killed as its cleanup had just terminated its instance,
		// under a running awsvpc task: it leaves its cluster and an
		// available network interface for the janitor.
		ctx := t.Context()
		killed := e.backend(t, func(o *awsgate.Options) { o.Gate.RunID = runID(t) + "-killed"; o.TTL = time.Hour })
		if err := killed.Launch(ctx, probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		if _, err := killed.StartTask(ctx, validate.Probe{Mode: release.ModeAWSVPC, RoleARN: testRole, Hold: true}); err != nil {
			t.Fatalf("StartTask: %v", err)
		}
		if _, err := e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{killed.Instance()}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)

		pub, err := publish.New(t.Context(), publish.Options{SSM: e.ssm, EC2: e.ec2, RunID: runID(t),
			ProvisionReportSHA256: fmt.Sprintf("%x", sha256.Sum256([]byte("a provision report"))), ECSAgentVersion: "1.105.1"})
		if err != nil {
			t.Fatal(err)
		}
		r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
			ImageID: testAMI, RoleARN: testRole, RunID: runID(t), NetworkModes: []string{release.ModeAWSVPC, release.ModeBridge},
			Publish: "/cisecs/" + runID(t) + "/ami-id", Publisher: pub,
		})
		if !r.Passed() || !r.Published {
			t.Fatalf("the gate did not pass and publish (%s; %s): the calls would not be all of them", r.Summary(), r.PublishError)
		}
		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second, RunIDPrefix: runID(t)}
		swept, err := j.Sweep(ctx, time.Now().Add(2*time.Hour))
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if len(swept.NetworkInterfaces) == 0 || len(swept.Clusters) == 0 {
			t.Fatalf("the janitor swept %+v, want the killed run's cluster and network interface", swept)
		}
		ops = e.front.Ops()
	})
	for _, want := range []string{"RunInstances", "CreateServiceLinkedRole", "RunTask", "RebootInstances", "PutParameter", "CreateTags", "DescribeRouteTables", "DeleteCluster", "DescribeClusters", "DeleteNetworkInterface"} {
		if ops[want] == 0 {
			t.Errorf("the run never called %s: it is not the run that calls the most", want)
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, err := range rec.errs {
		t.Errorf("a call IAM would authorize in a way this test cannot tell: %s", err)
	}
	if len(rec.checks) == 0 {
		t.Fatal("no check recorded: the front's Authorize hook saw nothing")
	}
	policy := iampolicy.ValidatorPolicy()
	base := denied(policy, rec.checks)
	if len(base) > 0 {
		t.Errorf("the validator policy denies %d of the run's %d checks:\n%s", len(base), len(rec.checks), strings.Join(base, "\n"))
	}

	// Statements no emulated run needs, and why.
	unexercised := map[string]string{
		"EncryptedVolumesThroughEC2":   "the emulated AMI's volumes are not encrypted with a customer managed key, and EC2's calls to KMS are not the caller's",
		"EncryptedVolumesGrantsForEC2": "likewise",
	}
	for i, s := range policy.Statement {
		t.Run("without "+s.Sid, func(t *testing.T) {
			less := policy
			less.Statement = slices.Delete(slices.Clone(policy.Statement), i, i+1)
			// What only this statement allows.
			d := slices.DeleteFunc(denied(less, rec.checks), func(l string) bool { return slices.Contains(base, l) })
			if why, ok := unexercised[s.Sid]; ok {
				if len(d) > 0 {
					t.Errorf("%s is listed as unexercised (%s), but the run needs it:\n%s", s.Sid, why, strings.Join(d, "\n"))
				}
				return
			}
			if len(d) == 0 {
				t.Errorf("without %s the policy still allows every check of the run: the statement is dead, or the run does not exercise it", s.Sid)
			}
		})
	}
}
