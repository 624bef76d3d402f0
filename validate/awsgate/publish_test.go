package awsgate_test

import (
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release/publish"
	"github.com/cisecs/cisecs/validate"
)

// TestGatePublishRefused runs the whole gate on the front, passing, and
// has SSM's check never store the AMI id: the gate must report that it
// did not publish, not that it did.
func TestGatePublishRefused(t *testing.T) {
	lat := briefLatencies()
	lat.ImageParameter = awssim.Never
	o := awssim.Options{Latencies: lat, Probe: holdingProbe,
		Images: []awssim.Image{{ID: testAMI, Name: "cisecs-al2023-1", Tags: map[string]string{"cisecs:image": "al2023-cis-level1"}}}}
	inBubble(t, o, func(t *testing.T, e *env) {
		pub, err := publish.New(t.Context(), publish.Options{SSM: e.ssm, EC2: e.ec2, RunID: runID(t)})
		if err != nil {
			t.Fatal(err)
		}
		param := "/cisecs/" + runID(t) + "/ami-id"
		var progress strings.Builder
		r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
			ImageID: testAMI, RoleARN: testRole, RunID: runID(t), Progress: &progress,
			Publish: param, Publisher: pub,
		})
		t.Logf("progress:\n%s", progress.String())
		if !r.Passed() {
			t.Fatalf("the gate failed (%s), want every check passed", r.Summary())
		}
		if r.Published || !strings.Contains(r.PublishError, "has not stored it") {
			t.Errorf("report: published %t, publish error %q; want not published, SSM's check named", r.Published, r.PublishError)
		}
		if r.ExitCode() == validate.ExitPass {
			t.Errorf("exit code %d, want a failure when the AMI id was not published", r.ExitCode())
		}
		e.assertClean(t, runID(t))
	})
}
