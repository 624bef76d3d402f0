package awsgate_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestJanitorAgentGone: a killed run whose agent died leaves a task ECS
// never stops by itself; the janitor deregisters its container instance
// by force instead of waiting for the task, and leaves nothing.
func TestJanitorAgentGone(t *testing.T) {
	lat := briefLatencies()
	lat.DisconnectSeen = 30 * time.Second
	inBubble(t, awssim.Options{Latencies: lat, Probe: holdingProbe}, func(t *testing.T, e *env) {
		b := e.backend(t, func(o *awsgate.Options) { o.TTL = time.Hour })
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		if _, err := b.StartTask(t.Context(), validate.Probe{Mode: release.ModeBridge, RoleARN: testRole, Hold: true}); err != nil {
			t.Fatalf("StartTask: %v", err)
		}
		e.front.KillAgent(b.Instance())
		// The run was killed: nobody calls its Cleanup.
		time.Sleep(time.Minute)

		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second, Timeout: 20 * time.Minute}
		start := time.Now()
		swept, err := j.Sweep(t.Context(), time.Now().Add(2*time.Hour))
		if err != nil {
			t.Errorf("Sweep: %v", err)
		}
		if took := time.Since(start); took > 2*time.Minute {
			t.Errorf("Sweep took %s, want about the 30s the instance takes to terminate", took)
		}
		if len(swept.Clusters) != 1 {
			t.Errorf("swept clusters %q, want the run's", swept.Clusters)
		}
		e.assertClean(t, runID(t))
	})
}

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
		hold := validate.Probe{Mode: release.ModeAWSVPC, RoleARN: testRole, Hold: true}
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

// TestJanitorRunIDPrefix is a cancelled CI run: two of its gate legs were
// killed before their cleanup, hours before their expiry, beside another
// run's leg that is still going. A sweep with the cancelled run's prefix
// removes both legs' resources at once and leaves the other run's alone;
// without the prefix, the sweep removes nothing.
func TestJanitorRunIDPrefix(t *testing.T) {
	inBubble(t, awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe}, func(t *testing.T, e *env) {
		ctx := t.Context()
		base := runID(t)
		cancelled := base + "-1-"
		var legs []*awsgate.Backend
		for _, id := range []string{cancelled + "0", cancelled + "1", base + "-2-0"} {
			b := e.backend(t, func(o *awsgate.Options) { o.Gate.RunID = id; o.TTL = 10 * time.Hour })
			if err := b.Launch(ctx, probes); err != nil {
				t.Fatalf("Launch %s: %v", id, err)
			}
			if _, err := b.StartTask(ctx, validate.Probe{Mode: release.ModeBridge, RoleARN: testRole, Hold: true}); err != nil {
				t.Fatalf("StartTask %s: %v", id, err)
			}
			legs = append(legs, b)
		}

		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second}
		none, err := j.Sweep(ctx, time.Now())
		if err != nil || len(none.Instances)+len(none.Clusters)+len(none.Tasks)+len(none.TaskDefinitions) > 0 {
			t.Fatalf("sweep without a prefix: %+v, %v; want nothing (no run has expired)", none, err)
		}

		j.RunIDPrefix = cancelled
		swept, err := j.Sweep(ctx, time.Now())
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		t.Logf("swept %+v", swept)
		want := []string{legs[0].Instance(), legs[1].Instance()}
		slices.Sort(want)
		got := slices.Sorted(slices.Values(swept.Instances))
		if !slices.Equal(got, want) {
			t.Errorf("swept instances %q, want the cancelled run's %q", got, want)
		}
		if len(swept.Clusters) != 2 || len(swept.Tasks) != 2 || len(swept.TaskDefinitions) != 8 {
			t.Errorf("swept %d clusters, %d tasks, %d task definitions; want the cancelled run's 2, 2 and 8",
				len(swept.Clusters), len(swept.Tasks), len(swept.TaskDefinitions))
		}
		e.assertClean(t, cancelled+"0")
		e.assertClean(t, cancelled+"1")
		left, err := e.front.Leftovers(ctx, base+"-2-0")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) < 5 {
			t.Errorf("the other run has %q, want all of its resources", left)
		}
		if err := legs[2].Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		e.assertClean(t, base+"-2-0")
	})
}

// TestJanitor leaves behind an expired run (instance, cluster, a held
// task, task definitions), a run that has not expired, and resources with
// the gate's names but not its tags; a sweep removes only the expired run,
// and a second sweep finds nothing more.
func TestJanitor(t *testing.T) {
	inBubble(t, awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe}, func(t *testing.T, e *env) {
		ctx := t.Context()
		base := runID(t)
		expired := e.backend(t, func(o *awsgate.Options) { o.Gate.RunID = base + "-expired"; o.TTL = time.Hour })
		live := e.backend(t, func(o *awsgate.Options) { o.Gate.RunID = base + "-live"; o.TTL = 10 * time.Hour })
		for _, b := range []*awsgate.Backend{expired, live} {
			if err := b.Launch(ctx, probes); err != nil {
				t.Fatalf("Launch: %v", err)
			}
		}
		held, err := expired.StartTask(ctx, validate.Probe{Mode: release.ModeBridge, RoleARN: testRole, Hold: true})
		if err != nil {
			t.Fatalf("StartTask: %v", err)
		}
		// The expired run was killed: nobody calls its Cleanup.

		foreign := "cisecs-gate-" + base + "-foreign"
		if _, err := e.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(foreign)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family:               aws.String(foreign),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("busybox")}},
		}); err != nil {
			t.Fatal(err)
		}
		untagged, err := e.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(testAMI), InstanceType: "t3.small", MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}

		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second}
		now := time.Now().Add(2 * time.Hour)
		swept, err := j.Sweep(ctx, now)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		t.Logf("swept %+v", swept)
		if !slices.Equal(swept.Instances, []string{expired.Instance()}) {
			t.Errorf("swept instances %q, want only %s", swept.Instances, expired.Instance())
		}
		if len(swept.Clusters) != 1 || !strings.HasSuffix(swept.Clusters[0], "/"+expired.Cluster()) {
			t.Errorf("swept clusters %q, want only %s", swept.Clusters, expired.Cluster())
		}
		if !slices.Equal(swept.Tasks, []string{held}) {
			t.Errorf("swept tasks %q, want the held task %s", swept.Tasks, held)
		}
		if len(swept.TaskDefinitions) != 4 { // awsvpc, bridge, host, bridge holding
			t.Errorf("swept task definitions %q, want the expired run's 4", swept.TaskDefinitions)
		}
		for _, td := range swept.TaskDefinitions {
			if !strings.Contains(td, "/"+expired.Family("")) {
				t.Errorf("swept task definition %s is not the expired run's", td)
			}
		}
		e.assertClean(t, base+"-expired")

		left, err := e.front.Leftovers(ctx, base+"-live")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 6 { // instance, container instance, cluster, 3 task definitions
			t.Errorf("the live run has %q, want all 6 of its resources", left)
		}
		for _, td := range e.front.TaskDefinitions() {
			if td.Family == foreign && td.Status != "ACTIVE" {
				t.Errorf("the untagged task definition %s was deregistered", td.ARN)
			}
		}
		if out, err := e.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{foreign}}); err != nil || len(out.Clusters) != 1 {
			t.Errorf("the untagged cluster %s is gone (%v)", foreign, err)
		}
		id := aws.ToString(untagged.Instances[0].InstanceId)
		if out, err := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); err != nil || out.Reservations[0].Instances[0].State.Name == "shutting-down" {
			t.Errorf("the untagged instance %s is shutting down (%v)", id, err)
		}

		again, err := j.Sweep(ctx, now)
		if err != nil || len(again.Instances)+len(again.Clusters)+len(again.Tasks)+len(again.TaskDefinitions) > 0 {
			t.Errorf("second sweep: %+v, %v; want nothing", again, err)
		}

		// Tidy up for the tests that share kumo.
		if err := live.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		e.assertClean(t, base+"-live")
		if _, err := e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Error(err)
		}
		if _, err := e.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(foreign)}); err != nil {
			t.Error(err)
		}
	})
}
