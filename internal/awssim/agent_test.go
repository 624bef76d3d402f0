package awssim_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestAgentGoneAndTaskENI: as ECS does, the front creates an awsvpc task's
// network interface (untagged, in use while the task runs); once the
// instance's agent is dead, a StopTask leaves the task RUNNING (desired
// STOPPED), the instance's termination neither stops it nor deregisters
// the container instance, and only DeregisterContainerInstance with force
// stops it, leaving its interface available until it is deleted.
func TestAgentGoneAndTaskENI(t *testing.T) {
	const subnet = "subnet-0a000000000000001"
	o := awssim.Options{
		Images:   []awssim.Image{{ID: "ami-0b00000000000a001", Architecture: "x86_64"}},
		Networks: []awssim.Network{awssim.PublicNetwork(subnet)},
		Latencies: awssim.Latencies{
			InstanceBoot: 40 * time.Second, AgentRegister: 20 * time.Second, TaskStart: 3 * time.Second,
			TaskStop: 10 * time.Second, Terminate: 30 * time.Second, DisconnectSeen: 30 * time.Second,
		},
		Probe: func(awssim.TaskDefinition) awssim.Run { return awssim.Run{Hold: true} },
	}
	bubble(t, o, func(t *testing.T, s *awssim.Server) {
		ctx := t.Context()
		e, c, _ := s.Clients()
		cluster := "agent-gone-" + t.Name()
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
			t.Fatal(err)
		}
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId: aws.String("ami-0b00000000000a001"), InstanceType: "t3.small", SubnetId: aws.String(subnet),
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			UserData: aws.String(base64.StdEncoding.EncodeToString([]byte("ECS_CLUSTER=" + cluster + "\n"))),
		})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(run.Instances[0].InstanceId)
		time.Sleep(61 * time.Second)
		td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(cluster), NetworkMode: ecstypes.NetworkModeAwsvpc,
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("public.ecr.aws/docker/library/alpine:3.20")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		rt, err := c.RunTask(ctx, &ecs.RunTaskInput{
			Cluster: aws.String(cluster), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{subnet}, SecurityGroups: []string{"sg-0a"}}},
		})
		if err != nil || len(rt.Tasks) != 1 {
			t.Fatalf("RunTask: %v, %+v", err, rt)
		}
		arn := aws.ToString(rt.Tasks[0].TaskArn)
		describe := func() ecstypes.Task {
			t.Helper()
			out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{arn}})
			if err != nil || len(out.Tasks) != 1 {
				t.Fatalf("DescribeTasks: %v", err)
			}
			return out.Tasks[0]
		}
		time.Sleep(5 * time.Second)
		eni := ""
		for _, a := range describe().Attachments {
			for _, d := range a.Details {
				if aws.ToString(d.Name) == "networkInterfaceId" {
					eni = aws.ToString(d.Value)
				}
			}
		}
		if eni == "" {
			t.Fatalf("the running awsvpc task names no network interface: %+v", describe().Attachments)
		}
		ni, err := e.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}})
		if err != nil || len(ni.NetworkInterfaces) != 1 || ni.NetworkInterfaces[0].Status != "in-use" || len(ni.NetworkInterfaces[0].TagSet) != 0 {
			t.Fatalf("DescribeNetworkInterfaces(%s) = %+v, %v; want it in use, untagged", eni, ni, err)
		}
		if _, err := e.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni)}); apiCode(err) != "InvalidNetworkInterface.InUse" {
			t.Errorf("DeleteNetworkInterface of an interface in use: %v, want InvalidNetworkInterface.InUse", err)
		}

		s.KillAgent(id)
		time.Sleep(31 * time.Second)
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		if got := describe(); aws.ToString(got.LastStatus) != "RUNNING" || aws.ToString(got.DesiredStatus) != "STOPPED" {
			t.Errorf("task of a dead agent, stopped and terminated: %s, desired %s; want RUNNING, desired STOPPED", aws.ToString(got.LastStatus), aws.ToString(got.DesiredStatus))
		}
		cis, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err != nil || len(cis.ContainerInstanceArns) != 1 {
			t.Fatalf("ListContainerInstances: %v, %v; want the dead agent's still there", cis, err)
		}
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: cis.ContainerInstanceArns})
		if err != nil || len(d.ContainerInstances) != 1 || d.ContainerInstances[0].AgentConnected || aws.ToString(d.ContainerInstances[0].Status) != "ACTIVE" {
			t.Errorf("DescribeContainerInstances: %+v, %v; want ACTIVE, agent disconnected", d, err)
		}
		if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(cluster)}); apiCode(err) != "ClusterContainsContainerInstancesException" {
			t.Errorf("DeleteCluster: %v, want ClusterContainsContainerInstancesException", err)
		}

		if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String(cluster), ContainerInstance: aws.String(cis.ContainerInstanceArns[0]), Force: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		if got := describe(); aws.ToString(got.LastStatus) != "STOPPED" {
			t.Errorf("task after its container instance was deregistered by force: %s, want STOPPED", aws.ToString(got.LastStatus))
		}
		ni, err = e.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}})
		if err != nil || len(ni.NetworkInterfaces) != 1 || ni.NetworkInterfaces[0].Status != "available" {
			t.Errorf("DescribeNetworkInterfaces(%s) = %+v, %v; want it left available", eni, ni, err)
		}
		if _, err := e.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni)}); err != nil {
			t.Errorf("DeleteNetworkInterface: %v", err)
		}
		if _, err := e.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}}); apiCode(err) != "InvalidNetworkInterfaceID.NotFound" {
			t.Errorf("DescribeNetworkInterfaces of a deleted interface: %v, want InvalidNetworkInterfaceID.NotFound", err)
		}
		if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(cluster)}); err != nil {
			t.Errorf("DeleteCluster: %v", err)
		}
	})
}
