package awssim_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
)

// bubble runs f in a synctest bubble with a front on kumo (started outside
// it: kumo listens on loopback).
func bubble(t *testing.T, o awssim.Options, f func(t *testing.T, s *awssim.Server)) {
	t.Helper()
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	synctest.Test(t, func(t *testing.T) {
		o.Kumo = k.URL
		s, err := awssim.New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f(t, s)
	})
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// TestRunInstancesArchitecture: like EC2, the front launches an AMI only
// on an instance type of its architecture, and only an AMI it has.
func TestRunInstancesArchitecture(t *testing.T) {
	o := awssim.Options{Images: []awssim.Image{
		{ID: "ami-0b00000000000a001", Architecture: "x86_64"},
		{ID: "ami-0b00000000000a002", Architecture: "arm64"},
	}}
	bubble(t, o, func(t *testing.T, s *awssim.Server) {
		c, _, _ := s.Clients()
		for _, tc := range []struct{ ami, instanceType, code string }{
			{"ami-0b00000000000a001", "t3.small", ""},
			{"ami-0b00000000000a002", "t4g.small", ""},
			{"ami-0b00000000000a002", "t3.small", "InvalidParameterValue"},
			{"ami-0b00000000000a001", "t4g.small", "InvalidParameterValue"},
			{"ami-0b00000000000a001", "z9.huge", "InvalidParameterValue"},
			{"ami-0b00000000000a003", "t3.small", "InvalidAMIID.NotFound"},
		} {
			_, err := c.RunInstances(t.Context(), &ec2.RunInstancesInput{
				ImageId: aws.String(tc.ami), InstanceType: ec2types.InstanceType(tc.instanceType), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			})
			if got := apiCode(err); got != tc.code {
				t.Errorf("RunInstances %s on %s: %v, want code %q", tc.ami, tc.instanceType, err, tc.code)
			}
		}
	})
}

// TestBootID: an SSM command that reads the boot id prints one that holds
// until the host goes down for a reboot, and a new one after it.
func TestBootID(t *testing.T) {
	lat := awssim.Latencies{RebootDown: 5 * time.Second, Reboot: 60 * time.Second, Command: 2 * time.Second, InstanceVisible: 10 * time.Second}
	o := awssim.Options{Latencies: lat, Images: []awssim.Image{{ID: "ami-0b00000000000b001"}}}
	bubble(t, o, func(t *testing.T, s *awssim.Server) {
		ctx := t.Context()
		ec2c, _, ssmc := s.Clients()
		run, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0b00000000000b001"), InstanceType: "t3.small", MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(run.Instances[0].InstanceId)
		if _, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); apiCode(err) != "InvalidInstanceID.NotFound" {
			t.Errorf("DescribeInstances at once: %v, want InvalidInstanceID.NotFound (not visible yet)", err)
		}
		time.Sleep(10 * time.Second)
		if _, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Errorf("DescribeInstances after InstanceVisible: %v", err)
		}
		bootID := func() string {
			t.Helper()
			sent, err := ssmc.SendCommand(ctx, &ssm.SendCommandInput{
				DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{id},
				Parameters: map[string][]string{"commands": {"cat " + awssim.BootIDFile}},
			})
			if err != nil {
				t.Fatalf("SendCommand: %v", err)
			}
			time.Sleep(lat.Command)
			got, err := ssmc.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: sent.Command.CommandId, InstanceId: aws.String(id)})
			if err != nil {
				t.Fatalf("GetCommandInvocation: %v", err)
			}
			return aws.ToString(got.StandardOutputContent)
		}
		first := bootID()
		if len(first) != 37 || first != s.BootID(id, time.Now())+"\n" {
			t.Errorf("boot id %q, want a UUID and a newline", first)
		}
		if _, err := ec2c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
		if got := bootID(); got != first { // sent before the host went down
			t.Errorf("boot id %q right after RebootInstances, want the old %q", got, first)
		}
		time.Sleep(lat.Reboot)
		if got := bootID(); got == first || len(got) != 37 {
			t.Errorf("boot id %q after the reboot, want a new one (was %q)", got, first)
		}
	})
}
