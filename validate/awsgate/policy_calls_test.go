package awsgate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/iampolicy"
	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestValidatorPolicyCoversRecordedCalls runs what the validator role
// runs, on the front, the way that calls the most: the whole gate in
// both modes in an account that has never used ECS (so the gate creates
// the ECS service-linked role), publishing with every provenance tag,
// then the janitor's sweep of the run. Every call the front recorded must
// be an action the validator policy allows (STS GetCallerIdentity needs
// none).
func TestValidatorPolicyCoversRecordedCalls(t *testing.T) {
	o := awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe, NoECSServiceLinkedRole: true,
		Images: []awssim.Image{{ID: testAMI, Name: "cisecs-al2023-1", Tags: map[string]string{"cisecs:image": "al2023-cis-level1"}}}}
	inBubble(t, o, func(t *testing.T, e *env) {
		pub, err := awsgate.NewPublisher(t.Context(), awsgate.PublisherOptions{SSM: e.ssm, EC2: e.ec2, RunID: runID(t),
			ProvisionReportSHA256: testReportSHA256, ECSAgentVersion: "1.105.1"})
		if err != nil {
			t.Fatal(err)
		}
		r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
			ImageID: testAMI, RoleARN: testRole, RunID: runID(t), NetworkModes: []string{validate.ModeAWSVPC, validate.ModeBridge},
			Publish: "/cisecs/" + runID(t) + "/ami-id", Publisher: pub,
		})
		if !r.Passed() || !r.Published {
			t.Fatalf("the gate did not pass and publish (%s; %s): the calls would not be all of them", r.Summary(), r.PublishError)
		}
		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second, RunIDPrefix: runID(t)}
		if _, err := j.Sweep(t.Context(), time.Now()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}

		allowed := map[string]bool{}
		for _, s := range iampolicy.ValidatorPolicy().Statement {
			for _, a := range s.Action {
				allowed[a] = true
			}
		}
		ops := e.front.Ops()
		for _, want := range []string{"RunInstances", "CreateServiceLinkedRole", "RunTask", "RebootInstances", "PutParameter", "CreateTags", "DescribeRouteTables"} {
			if ops[want] == 0 {
				t.Errorf("the run never called %s: it is not the run that calls the most", want)
			}
		}
		var denied []string
		for op := range ops {
			if op == "GetCallerIdentity" {
				continue
			}
			if !slices.ContainsFunc([]string{"ec2", "ecs", "ssm", "iam"}, func(svc string) bool { return allowed[svc+":"+op] }) {
				denied = append(denied, op)
			}
		}
		slices.Sort(denied)
		if len(denied) > 0 {
			t.Errorf("the gate called %s, which the validator policy does not allow (calls: %v)", strings.Join(denied, ", "), ops)
		}
	})
}
