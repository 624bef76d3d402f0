package awsgate_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestJanitorENIs: ECS tags an awsvpc task's network interface with
// nothing and leaves it "available" when the instance terminates under the
// running task. The gate tags
// the interface with the run as soon as ECS names it, and the janitor
// deletes the expired run's available interfaces, counting them. The
// interface of a run that has not expired stays, available or not.
func TestJanitorENIs(t *testing.T) {
	inBubble(t, awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe}, func(t *testing.T, e *env) {
		ctx := t.Context()
		base := runID(t)
		expired := e.backend(t, func(o *awsgate.Options) { o.Gate.RunID = base + "-expired"; o.TTL = time.Hour })
		live := e.backend(t, func(o *awsgate.Options) { o.Gate.RunID = base + "-live"; o.TTL = 10 * time.Hour })
		hold := validate.Probe{Mode: validate.ModeAWSVPC, RoleARN: testRole, Hold: true}
		for _, b := range []*awsgate.Backend{expired, live} {
			if err := b.Launch(ctx, probes); err != nil {
				t.Fatalf("Launch: %v", err)
			}
			if _, err := b.StartTask(ctx, hold); err != nil {
				t.Fatalf("StartTask: %v", err)
			}
		}
		// Both runs were killed as their cleanup had just terminated
		// their instances, under the running tasks: both interfaces are
		// left available, but only one run has expired.
		if _, err := e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{expired.Instance(), live.Instance()}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		liveENIs := e.front.ENIs(base + "-live")
		if len(liveENIs) != 1 || !strings.HasSuffix(liveENIs[0], " available") {
			t.Fatalf("the live run's interfaces: %q, want one available", liveENIs)
		}
		expiredENIs := e.front.ENIs(base + "-expired")
		if len(expiredENIs) != 1 || !strings.HasSuffix(expiredENIs[0], " available") {
			t.Fatalf("the expired run's interfaces: %q, want one available", expiredENIs)
		}

		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second}
		swept, err := j.Sweep(ctx, time.Now().Add(2*time.Hour))
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		eni, _, _ := strings.Cut(expiredENIs[0], " ")
		if !slices.Equal(swept.NetworkInterfaces, []string{eni}) {
			t.Errorf("swept network interfaces %q, want the expired run's %s", swept.NetworkInterfaces, eni)
		}
		e.assertClean(t, base+"-expired")
		if got := e.front.ENIs(base + "-live"); !slices.Equal(got, liveENIs) {
			t.Errorf("the live run's interfaces after the sweep: %q, want %q", got, liveENIs)
		}

		if err := live.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		e.assertClean(t, base+"-live")
	})
}
