package awssim_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
)

// fakeHosts is a Boot hook whose hosts are nothing but a record.
type fakeHosts struct {
	mu       sync.Mutex
	launches []awssim.Launch
	closed   int
}

func (f *fakeHosts) boot(_ context.Context, l awssim.Launch) (awssim.Host, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.launches = append(f.launches, l)
	return awssim.Host{
		Dial: func(context.Context, int) (net.Conn, error) { return nil, errors.New("no network") },
		Close: func() error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.closed++
			return nil
		},
		State: "disk of " + l.InstanceID,
	}, nil
}

func newBuildFront(t *testing.T, noDefaultVPC bool) (*awssim.Server, *ec2.Client, *fakeHosts) {
	t.Helper()
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	hosts := &fakeHosts{}
	front, err := awssim.New(awssim.Options{Kumo: k.URL, Images: awssim.CISImages(), Boot: hosts.boot, NoDefaultVPC: noDefaultVPC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	cfg := front.Config()
	cfg.RetryMaxAttempts = 1
	return front, ec2.NewFromConfig(cfg), hosts
}

const al2023x86 = "ami-0a2301cafe1000000" // CISImages: Amazon Linux 2023, x86_64, v06

// TestBuildRunInstancesRefuses: RunInstances refuses what EC2 refuses,
// with EC2's error codes, and DryRun answers DryRunOperation.
func TestBuildRunInstancesRefuses(t *testing.T) {
	root := func(size int32) []ec2types.BlockDeviceMapping {
		return []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(size)}}}
	}
	for _, tc := range []struct {
		name         string
		noDefaultVPC bool
		in           ec2.RunInstancesInput
		code, msg    string
	}{
		{name: "other architecture", in: ec2.RunInstancesInput{ImageId: aws.String(al2023x86), InstanceType: "t4g.medium"},
			code: "InvalidParameterValue", msg: "architecture 'arm64' of the specified instance type does not match"},
		{name: "no default VPC", noDefaultVPC: true, in: ec2.RunInstancesInput{ImageId: aws.String(al2023x86), InstanceType: "t3.medium"},
			code: "VPCIdNotSpecified", msg: "No default VPC for this user"},
		{name: "unknown profile", in: ec2.RunInstancesInput{ImageId: aws.String(al2023x86), InstanceType: "t3.medium",
			IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("nope")}},
			code: "InvalidParameterValue", msg: "Invalid IAM Instance Profile name"},
		{name: "root volume smaller than its snapshot", in: ec2.RunInstancesInput{ImageId: aws.String(al2023x86), InstanceType: "t3.medium", BlockDeviceMappings: root(4)},
			code: "InvalidBlockDeviceMapping", msg: "Volume of size 4GB is smaller than snapshot"},
		{name: "unknown subnet", in: ec2.RunInstancesInput{ImageId: aws.String(al2023x86), InstanceType: "t3.medium", SubnetId: aws.String("subnet-0123456789abcdef0")},
			code: "InvalidSubnetID.NotFound"},
		{name: "unknown key pair", in: ec2.RunInstancesInput{ImageId: aws.String(al2023x86), InstanceType: "t3.medium", KeyName: aws.String("nope")},
			code: "InvalidKeyPair.NotFound"},
		{name: "dry run", in: ec2.RunInstancesInput{ImageId: aws.String(al2023x86), InstanceType: "t3.medium", DryRun: aws.Bool(true),
			IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String(release.BuildInstanceProfile)}},
			code: "DryRunOperation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			front, client, hosts := newBuildFront(t, tc.noDefaultVPC)
			in := tc.in
			in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
			_, err := client.RunInstances(t.Context(), &in)
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("RunInstances: %v, want %s %q", err, tc.code, tc.msg)
			}
			if len(hosts.launches) != 0 {
				t.Errorf("a refused launch booted %d hosts", len(hosts.launches))
			}
			if left := front.BuildLeftovers(); len(left) != 0 {
				t.Errorf("a refused launch left %v", left)
			}
		})
	}
}

// TestBuildLifecycle: a launch boots a host with the key pair's public key
// and the launch's tags; a mapping for a device the AMI does not have gets
// an empty volume; the image keeps the host's state; and once everything
// is deleted nothing is left.
func TestBuildLifecycle(t *testing.T) {
	ctx := t.Context()
	front, client, hosts := newBuildFront(t, false)
	kp, err := client.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("packer_1")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(kp.KeyMaterial), "-----BEGIN RSA PRIVATE KEY-----") {
		t.Errorf("key material %.40q, want an RSA PEM key", aws.ToString(kp.KeyMaterial))
	}
	sg, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("packer_sg"), Description: aws.String("packer")})
	if err != nil {
		t.Fatal(err)
	}
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(al2023x86), InstanceType: "t3.medium", MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		KeyName: aws.String("packer_1"), SecurityGroupIds: []string{aws.ToString(sg.GroupId)},
		IamInstanceProfile:  &ec2types.IamInstanceProfileSpecification{Name: aws.String(release.BuildInstanceProfile)},
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sda1"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(30), DeleteOnTermination: aws.Bool(true)}}},
		TagSpecifications:   []ec2types.TagSpecification{{ResourceType: "instance", Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("build")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	if err := ec2.NewInstanceRunningWaiter(client, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 50 * time.Millisecond
	}).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(hosts.launches) != 1 || !strings.HasPrefix(hosts.launches[0].PublicKey, "ssh-rsa ") || hosts.launches[0].Tags["Name"] != "build" {
		t.Fatalf("launches %+v", hosts.launches)
	}
	if ev := front.EmptyVolumes(); len(ev) != 1 || ev[0].Device != "/dev/sda1" || ev[0].SizeGB != 30 {
		t.Errorf("empty volumes %+v, want one on /dev/sda1 (the AMI's root is /dev/xvda)", ev)
	}
	// The security group is in use until the instance terminates.
	if _, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}); apiCode(err) != "DependencyViolation" {
		t.Errorf("DeleteSecurityGroup of a group in use: %v, want DependencyViolation", err)
	}
	img, err := client.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("cisecs-test")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("cisecs-test")}); apiCode(err) != "InvalidAMIName.Duplicate" {
		t.Errorf("CreateImage of a name in use: %v, want InvalidAMIName.Duplicate", err)
	}
	made := front.MadeImages()
	if len(made) != 1 || made[0].HostState != "disk of "+id || made[0].ProductCode == "" || len(made[0].BlockDevices) != 2 {
		t.Errorf("made %+v, want one image with the host's state, the base's product code and two snapshots", made)
	}
	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewInstanceTerminatedWaiter(client, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 50 * time.Millisecond
	}).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	left := strings.Join(front.BuildLeftovers(), ", ")
	for _, want := range []string{"AMI " + aws.ToString(img.ImageId), "key pair packer_1", "security group " + aws.ToString(sg.GroupId), "snapshot "} {
		if !strings.Contains(left, want) {
			t.Errorf("leftovers %q lack %q", left, want)
		}
	}
	if strings.Contains(left, "instance ") || strings.Contains(left, "volume ") {
		t.Errorf("leftovers %q: the terminated instance and its volumes are gone", left)
	}
	// Snapshots of a registered AMI cannot be deleted.
	snap := made[0].BlockDevices[0].SnapshotID
	if _, err := client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); apiCode(err) != "InvalidSnapshot.InUse" {
		t.Errorf("DeleteSnapshot of an AMI's snapshot: %v, want InvalidSnapshot.InUse", err)
	}
	if _, err := client.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId}); err != nil {
		t.Fatal(err)
	}
	for _, d := range made[0].BlockDevices {
		if _, err := client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(d.SnapshotID)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("packer_1")}); err != nil {
		t.Fatal(err)
	}
	if left := front.BuildLeftovers(); len(left) != 0 {
		t.Errorf("leftovers %v, want none", left)
	}
	if hosts.closed != 1 {
		t.Errorf("%d hosts closed, want 1", hosts.closed)
	}
	// Every request is recorded with its service.
	for _, r := range front.Requests("RunInstances") {
		if r.Service != "ec2" {
			t.Errorf("RunInstances recorded for service %q", r.Service)
		}
	}
}

// TestBuildInstanceProfile: IAM knows the account's build profile and its
// role, and not another.
func TestBuildInstanceProfile(t *testing.T) {
	front, _, _ := newBuildFront(t, false)
	cfg := front.Config()
	cfg.RetryMaxAttempts = 1
	client := iam.NewFromConfig(cfg)
	out, err := client.GetInstanceProfile(t.Context(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(release.BuildInstanceProfile)})
	if err != nil {
		t.Fatal(err)
	}
	if p := out.InstanceProfile; len(p.Roles) != 1 || aws.ToString(p.Roles[0].RoleName) != release.BuildInstanceProfile {
		t.Errorf("profile %+v, want the role %s", p, release.BuildInstanceProfile)
	}
	if _, err := client.GetInstanceProfile(t.Context(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("nope")}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("GetInstanceProfile of an unknown profile: %v, want NoSuchEntity", err)
	}
}

// TestBuildFilters: EC2 ANDs its filters, even two of the same name, and
// refuses one it does not know.
func TestBuildFilters(t *testing.T) {
	ctx := t.Context()
	_, client, _ := newBuildFront(t, false)
	tag := func(k, v string) ec2types.Tag { return ec2types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	for name, tags := range map[string][]ec2types.Tag{
		"both":     {tag("cisecs:image", "x"), tag("cisecs:build-started-at", "2026-01-01T00:00:00Z")},
		"only-one": {tag("cisecs:image", "x")},
	} {
		if _, err := client.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: "key-pair", Tags: tags}}}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag-key"), Values: []string{"cisecs:image"}},
		{Name: aws.String("tag-key"), Values: []string{"cisecs:build-started-at"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.KeyPairs) != 1 || aws.ToString(out.KeyPairs[0].KeyName) != "both" {
		t.Errorf("key pairs %+v, want only the one with both tags", out.KeyPairs)
	}
	if _, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("DescribeKeyPairs with an unknown filter: %v, want InvalidParameterValue", err)
	}
}
