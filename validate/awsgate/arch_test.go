package awsgate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestInstanceTypeFromArchitecture: with no instance type given, the gate
// launches the AMI on the default type of its architecture, read with
// DescribeImages; EC2 (the front) refuses a type of another architecture,
// as it refused the t3.small the gate used to launch every arm64 image on.
func TestInstanceTypeFromArchitecture(t *testing.T) {
	const (
		x86AMI  = "ami-0aaaaaaaaaaaaaaa1"
		armAMI  = "ami-0aaaaaaaaaaaaaaa2"
		i386AMI = "ami-0aaaaaaaaaaaaaaa3"
		goneAMI = "ami-0aaaaaaaaaaaaaaa4"
	)
	catalogue := []awssim.Image{
		{ID: x86AMI, Name: "cisecs-al2023-cis-level1", Architecture: "x86_64"},
		{ID: armAMI, Name: "cisecs-al2023-cis-level1-arm64", Architecture: "arm64"},
		{ID: i386AMI, Name: "old", Architecture: "i386"},
	}
	tests := []struct {
		name, ami, instanceType string
		// launched is the type RunInstances asked for; empty: Launch
		// fails, with wantErr.
		launched, wantErr string
		// runInstances is how many RunInstances calls are made.
		runInstances int
	}{
		{name: "x86_64", ami: x86AMI, launched: "t3.small", runInstances: 1},
		{name: "arm64", ami: armAMI, launched: "t4g.small", runInstances: 1},
		{name: "arm64 type given", ami: armAMI, instanceType: "m7g.medium", launched: "m7g.medium", runInstances: 1},
		{name: "arm64 on an x86_64 type", ami: armAMI, instanceType: "t3.small", runInstances: 1,
			wantErr: "InvalidParameterValue: The architecture 'x86_64' of the specified instance type does not match the architecture 'arm64' of the specified AMI"},
		{name: "no default for i386", ami: i386AMI, wantErr: `architecture "i386": no default instance type for it; give one`},
		{name: "AMI gone", ami: goneAMI, wantErr: "InvalidAMIID.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, awssim.Options{Latencies: briefLatencies(), Images: catalogue}, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.Gate.ImageID, o.InstanceType = tc.ami, tc.instanceType })
				err := b.Launch(t.Context(), probes)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("Launch: %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("Launch: %v, want an error with %q", err, tc.wantErr)
				}
				ri := e.front.Requests("RunInstances")
				if len(ri) != tc.runInstances {
					t.Fatalf("%d RunInstances, want %d", len(ri), tc.runInstances)
				}
				if tc.launched != "" {
					if got := ri[0].Form.Get("InstanceType"); got != tc.launched {
						t.Errorf("RunInstances InstanceType %q, want %q", got, tc.launched)
					}
				}
				if tc.instanceType != "" && e.front.Calls("DescribeImages") > 0 {
					t.Errorf("DescribeImages called although the instance type was given")
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}
