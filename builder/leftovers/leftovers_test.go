package leftovers_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cisecs/cisecs/builder/leftovers"
	"github.com/cisecs/cisecs/release"
)

// account is a fake EC2 account: what exists, by kind and id, with tags;
// deletions remove from it.
type account struct {
	instances, keyPairs, groups, volumes, images, snapshots map[string][]ec2types.Tag
	// fail makes the deletion of an id fail.
	fail   map[string]bool
	calls  []string
	waited []string
	// usedBy names the instance that uses a security group: EC2 refuses
	// to delete the group while it exists.
	usedBy map[string]string
}

func tags(kv ...string) []ec2types.Tag {
	var out []ec2types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

// hasFilters checks that a look-up asks EC2 for both tags, so that it
// never lists what no build made.
func hasFilters(t *testing.T, fs []ec2types.Filter) {
	t.Helper()
	var keys []string
	for _, f := range fs {
		if aws.ToString(f.Name) == "tag-key" {
			keys = append(keys, f.Values...)
		}
	}
	if !slices.Contains(keys, release.TagImage) || !slices.Contains(keys, release.TagBuildStarted) {
		t.Errorf("look-up filters %v lack the tag-key filters of %s and %s", keys, release.TagImage, release.TagBuildStarted)
	}
}

func (a *account) del(kind map[string][]ec2types.Tag, what, id string) error {
	a.calls = append(a.calls, what+" "+id)
	if a.fail[id] {
		return errors.New("UnauthorizedOperation: not allowed")
	}
	delete(kind, id)
	return nil
}

type fakeEC2 struct {
	t *testing.T
	a *account
}

func (f fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	hasFilters(f.t, in.Filters)
	var r ec2types.Reservation
	for id, tg := range f.a.instances {
		r.Instances = append(r.Instances, ec2types.Instance{InstanceId: aws.String(id), Tags: tg})
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{r}}, nil
}

func (f fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	for _, id := range in.InstanceIds {
		if err := f.a.del(f.a.instances, "terminate", id); err != nil {
			return nil, err
		}
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f fakeEC2) DescribeKeyPairs(_ context.Context, in *ec2.DescribeKeyPairsInput, _ ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error) {
	hasFilters(f.t, in.Filters)
	out := &ec2.DescribeKeyPairsOutput{}
	for id, tg := range f.a.keyPairs {
		out.KeyPairs = append(out.KeyPairs, ec2types.KeyPairInfo{KeyPairId: aws.String(id), Tags: tg})
	}
	return out, nil
}

func (f fakeEC2) DeleteKeyPair(_ context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	return &ec2.DeleteKeyPairOutput{}, f.a.del(f.a.keyPairs, "delete-key-pair", aws.ToString(in.KeyPairId))
}

func (f fakeEC2) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	hasFilters(f.t, in.Filters)
	out := &ec2.DescribeSecurityGroupsOutput{}
	for id, tg := range f.a.groups {
		out.SecurityGroups = append(out.SecurityGroups, ec2types.SecurityGroup{GroupId: aws.String(id), Tags: tg})
	}
	return out, nil
}

func (f fakeEC2) DeleteSecurityGroup(_ context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	id := aws.ToString(in.GroupId)
	if _, used := f.a.instances[f.a.usedBy[id]]; used {
		return nil, errors.New("DependencyViolation: resource has a dependent object")
	}
	return &ec2.DeleteSecurityGroupOutput{}, f.a.del(f.a.groups, "delete-security-group", id)
}

func (f fakeEC2) DescribeVolumes(_ context.Context, in *ec2.DescribeVolumesInput, _ ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	hasFilters(f.t, in.Filters)
	out := &ec2.DescribeVolumesOutput{}
	for id, tg := range f.a.volumes {
		out.Volumes = append(out.Volumes, ec2types.Volume{VolumeId: aws.String(id), Tags: tg})
	}
	return out, nil
}

func (f fakeEC2) DeleteVolume(_ context.Context, in *ec2.DeleteVolumeInput, _ ...func(*ec2.Options)) (*ec2.DeleteVolumeOutput, error) {
	return &ec2.DeleteVolumeOutput{}, f.a.del(f.a.volumes, "delete-volume", aws.ToString(in.VolumeId))
}

func (f fakeEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	hasFilters(f.t, in.Filters)
	if !slices.Equal(in.Owners, []string{"self"}) {
		f.t.Errorf("images of owners %q, want self only", in.Owners)
	}
	out := &ec2.DescribeImagesOutput{}
	for id, tg := range f.a.images {
		out.Images = append(out.Images, ec2types.Image{ImageId: aws.String(id), Tags: tg})
	}
	return out, nil
}

func (f fakeEC2) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	return &ec2.DeregisterImageOutput{}, f.a.del(f.a.images, "deregister", aws.ToString(in.ImageId))
}

func (f fakeEC2) DescribeSnapshots(_ context.Context, in *ec2.DescribeSnapshotsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	hasFilters(f.t, in.Filters)
	if !slices.Equal(in.OwnerIds, []string{"self"}) {
		f.t.Errorf("snapshots of owners %q, want self only", in.OwnerIds)
	}
	out := &ec2.DescribeSnapshotsOutput{}
	for id, tg := range f.a.snapshots {
		out.Snapshots = append(out.Snapshots, ec2types.Snapshot{SnapshotId: aws.String(id), Tags: tg})
	}
	return out, nil
}

func (f fakeEC2) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	return &ec2.DeleteSnapshotOutput{}, f.a.del(f.a.snapshots, "delete-snapshot", aws.ToString(in.SnapshotId))
}

var _ leftovers.EC2API = fakeEC2{}

// TestSweep: what a killed build left is removed once its build is over,
// and nothing else: not a build that may still run, not a finished AMI,
// not what carries no start time or no image tag.
func TestSweep(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	old := now.Add(-leftovers.MaxBuild - time.Minute).Format(time.RFC3339)
	recent := now.Add(-time.Hour).Format(time.RFC3339)
	killed := tags("cisecs:image", "al2023", "cisecs:build-started-at", old, "Name", "cisecs build x")
	running := tags("cisecs:image", "al2023", "cisecs:build-started-at", recent)
	finished := tags("cisecs:image", "al2023", "cisecs:build-started-at", old, "cisecs:definition-sha256", "abc")
	noStart := tags("cisecs:image", "al2023")
	otherStart := tags("cisecs:image", "al2023", "cisecs:build-started-at", "yesterday")
	noImage := tags("cisecs:build-started-at", old)

	a := &account{
		instances: map[string][]ec2types.Tag{"i-killed": killed, "i-running": running, "i-mine": noImage},
		keyPairs:  map[string][]ec2types.Tag{"key-killed": killed, "key-running": running},
		groups:    map[string][]ec2types.Tag{"sg-killed": killed, "sg-running": running, "sg-bad": otherStart},
		volumes:   map[string][]ec2types.Tag{"vol-killed": killed, "vol-nostart": noStart},
		images:    map[string][]ec2types.Tag{"ami-killed": killed, "ami-finished": finished, "ami-running": running},
		snapshots: map[string][]ec2types.Tag{"snap-killed": killed, "snap-finished": finished},
		usedBy:    map[string]string{"sg-killed": "i-killed"},
	}
	s := leftovers.Sweeper{EC2: fakeEC2{t, a}, Terminated: func(_ context.Context, ids []string) error {
		a.waited = append(a.waited, ids...)
		return nil
	}}
	sw, err := s.Sweep(t.Context(), now)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	want := leftovers.Swept{
		Instances: []string{"i-killed"}, KeyPairs: []string{"key-killed"}, SecurityGroups: []string{"sg-killed"},
		Volumes: []string{"vol-killed"}, Images: []string{"ami-killed"}, Snapshots: []string{"snap-killed"},
	}
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"instances", sw.Instances, want.Instances}, {"key pairs", sw.KeyPairs, want.KeyPairs},
		{"security groups", sw.SecurityGroups, want.SecurityGroups}, {"volumes", sw.Volumes, want.Volumes},
		{"images", sw.Images, want.Images}, {"snapshots", sw.Snapshots, want.Snapshots},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("swept %s %q, want %q", c.what, c.got, c.want)
		}
	}
	if !slices.Equal(a.waited, []string{"i-killed"}) {
		t.Errorf("waited for %q to terminate, want i-killed", a.waited)
	}
	// The instance went before its security group (EC2 refuses to delete
	// a group in use), the AMI before its snapshot.
	order := strings.Join(a.calls, ", ")
	if strings.Index(order, "terminate i-killed") > strings.Index(order, "delete-security-group sg-killed") ||
		strings.Index(order, "deregister ami-killed") > strings.Index(order, "delete-snapshot snap-killed") {
		t.Errorf("order %s: want instances before groups, AMIs before snapshots", order)
	}
	for _, id := range []string{"i-running", "i-mine", "key-running", "sg-running", "sg-bad", "vol-nostart", "ami-finished", "ami-running", "snap-finished"} {
		if slices.ContainsFunc(a.calls, func(c string) bool { return strings.HasSuffix(c, " "+id) }) {
			t.Errorf("%s was touched: %s", id, order)
		}
	}
}

// TestSweepGoesOn: a removal that fails is reported with its id, and the
// sweep removes the rest.
func TestSweepGoesOn(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	killed := tags("cisecs:image", "al2023", "cisecs:build-started-at", now.Add(-4*time.Hour).Format(time.RFC3339))
	a := &account{
		instances: map[string][]ec2types.Tag{}, keyPairs: map[string][]ec2types.Tag{"key-1": killed},
		groups: map[string][]ec2types.Tag{}, volumes: map[string][]ec2types.Tag{},
		images:    map[string][]ec2types.Tag{"ami-1": killed},
		snapshots: map[string][]ec2types.Tag{"snap-1": killed},
		fail:      map[string]bool{"key-1": true},
	}
	sw, err := leftovers.Sweeper{EC2: fakeEC2{t, a}}.Sweep(t.Context(), now)
	if err == nil || !strings.Contains(err.Error(), `delete key pair "key-1": UnauthorizedOperation`) {
		t.Errorf("error %v, want the key pair's failure named", err)
	}
	if !slices.Equal(sw.Images, []string{"ami-1"}) || !slices.Equal(sw.Snapshots, []string{"snap-1"}) || len(sw.KeyPairs) != 0 {
		t.Errorf("swept %+v: want the AMI and snapshot, not the key pair", sw)
	}
}
