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
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

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
		held, err := expired.StartTask(ctx, validate.Probe{Mode: validate.ModeBridge, RoleARN: testRole, Hold: true})
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
