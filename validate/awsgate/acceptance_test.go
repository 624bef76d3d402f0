package awsgate_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestAcceptance runs the backend against real AWS, with the default
// configuration chain. It runs only when CISECS_AWS_ACC=1, and needs
// CISECS_AWS_AMI, CISECS_AWS_SUBNET, CISECS_AWS_SECURITY_GROUP,
// CISECS_AWS_INSTANCE_PROFILE, CISECS_AWS_TASK_ROLE and
// CISECS_AWS_PROBE_IMAGE (an image with sh and curl: the real probe runs). It costs a few minutes of one
// instance; t.Cleanup removes everything, and the Janitor sweeps what a
// killed run leaves.
func TestAcceptance(t *testing.T) {
	if os.Getenv("CISECS_AWS_ACC") != "1" {
		t.Skip("set CISECS_AWS_ACC=1 (and CISECS_AWS_*) to run against AWS")
	}
	env := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is not set", k)
		}
		return v
	}
	probe := validate.Probe{Mode: release.ModeAWSVPC, RoleARN: env("CISECS_AWS_TASK_ROLE")}
	b, err := awsgate.New(t.Context(), awsgate.Options{
		Gate: validate.Options{
			ImageID:    env("CISECS_AWS_AMI"),
			RoleARN:    probe.RoleARN,
			ProbeImage: env("CISECS_AWS_PROBE_IMAGE"),
			RunID:      "acc-" + time.Now().UTC().Format("20060102t150405"),
		},
		Subnet:          env("CISECS_AWS_SUBNET"),
		SecurityGroup:   env("CISECS_AWS_SECURITY_GROUP"),
		InstanceProfile: env("CISECS_AWS_INSTANCE_PROFILE"),
		TTL:             time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		if err := b.Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	if err := b.Launch(t.Context(), []validate.Probe{probe}); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	got, err := b.RunProbe(t.Context(), probe)
	if err != nil || got.ExitCode != 0 {
		t.Errorf("RunProbe = %+v, %v; want exit 0", got, err)
	}
}
