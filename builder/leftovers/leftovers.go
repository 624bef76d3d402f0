// Package leftovers removes what killed Packer builds of "cisecs generate"
// templates left in an account: the build instance, its volumes, the
// temporary key pair and security group, and an AMI (with its snapshots)
// the build created but never finished.
//
// Packer removes all of these itself when a build fails or is cancelled;
// what it leaves is a build killed outright (SIGKILL, a lost runner). The
// template tags each of them with the image (release.TagImage) and the time the
// build started (release.TagBuildStarted); a build that started more than MaxBuild
// ago is over, since the builder role's sessions last 2 hours. An AMI or
// snapshot counts as unfinished only while it lacks the provenance tag the
// build adds last (release.TagDefinitionSHA256): a finished AMI, released or not, is
// never touched, and the builder policy's DeregisterImage and
// DeleteSnapshot are scoped by the same two tags.
package leftovers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cisecs/cisecs/release"
)

// MaxBuild is how long a build may run: one that started longer ago is
// over. The builder role's sessions last 2 hours.
const MaxBuild = 3 * time.Hour

// EC2API is what a sweep calls.
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeKeyPairs(context.Context, *ec2.DescribeKeyPairsInput, ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
	DeleteKeyPair(context.Context, *ec2.DeleteKeyPairInput, ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	DescribeVolumes(context.Context, *ec2.DescribeVolumesInput, ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error)
	DeleteVolume(context.Context, *ec2.DeleteVolumeInput, ...func(*ec2.Options)) (*ec2.DeleteVolumeOutput, error)
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DeregisterImage(context.Context, *ec2.DeregisterImageInput, ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DescribeSnapshots(context.Context, *ec2.DescribeSnapshotsInput, ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error)
	DeleteSnapshot(context.Context, *ec2.DeleteSnapshotInput, ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// Sweeper sweeps one region.
type Sweeper struct {
	EC2 EC2API
	// Terminated waits for the instances to be terminated before their
	// security groups are deleted; nil is EC2's instance-terminated waiter
	// with a 10-minute bound.
	Terminated func(ctx context.Context, ids []string) error
}

// Swept lists what a sweep removed, by id.
type Swept struct {
	Instances, KeyPairs, SecurityGroups, Volumes, Images, Snapshots []string
}

// Sweep removes the leftovers of the builds that started before
// now-MaxBuild: it terminates their instances and waits for them to end,
// deletes their key pairs, available volumes and security groups,
// deregisters their unfinished AMIs and deletes those AMIs' unfinished
// snapshots. It goes on past a failure; the error joins them all, and
// Swept says what was removed. A resource without both tags, or of a build
// that may still run, is never touched.
func (s Sweeper) Sweep(ctx context.Context, now time.Time) (Swept, error) {
	var sw Swept
	var errs []error
	fail := func(what, id string, err error) {
		errs = append(errs, fmt.Errorf("%s %q: %w", what, id, err))
	}
	isDue := func(tags []ec2types.Tag) bool { return due(tags, now) }
	filters := []ec2types.Filter{
		{Name: aws.String("tag-key"), Values: []string{release.TagImage}},
		{Name: aws.String("tag-key"), Values: []string{release.TagBuildStarted}},
	}

	// Instances first: their security groups and volumes are theirs until
	// they are gone.
	var instances []string
	for p := ec2.NewDescribeInstancesPaginator(s.EC2, &ec2.DescribeInstancesInput{Filters: append(slices.Clone(filters), ec2types.Filter{
		Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"},
	})}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe build instances: %w", err))
			break
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				if isDue(i.Tags) {
					instances = append(instances, aws.ToString(i.InstanceId))
				}
			}
		}
	}
	if len(instances) > 0 {
		if _, err := s.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: instances}); err != nil {
			errs = append(errs, fmt.Errorf("terminate build instances %q: %w", instances, err))
		} else {
			sw.Instances = instances
			if err := s.terminated(ctx, instances); err != nil {
				errs = append(errs, fmt.Errorf("wait for build instances %q to terminate: %w", instances, err))
			}
		}
	}

	if out, err := s.EC2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: filters}); err != nil {
		errs = append(errs, fmt.Errorf("describe build key pairs: %w", err))
	} else {
		for _, k := range out.KeyPairs {
			if !isDue(k.Tags) {
				continue
			}
			id := aws.ToString(k.KeyPairId)
			if _, err := s.EC2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: k.KeyPairId}); err != nil {
				fail("delete key pair", id, err)
				continue
			}
			sw.KeyPairs = append(sw.KeyPairs, id)
		}
	}

	for p := ec2.NewDescribeVolumesPaginator(s.EC2, &ec2.DescribeVolumesInput{Filters: append(slices.Clone(filters), ec2types.Filter{
		Name: aws.String("status"), Values: []string{"available"},
	})}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe build volumes: %w", err))
			break
		}
		for _, v := range out.Volumes {
			if !isDue(v.Tags) {
				continue
			}
			id := aws.ToString(v.VolumeId)
			if _, err := s.EC2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: v.VolumeId}); err != nil {
				fail("delete volume", id, err)
				continue
			}
			sw.Volumes = append(sw.Volumes, id)
		}
	}

	for p := ec2.NewDescribeSecurityGroupsPaginator(s.EC2, &ec2.DescribeSecurityGroupsInput{Filters: filters}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe build security groups: %w", err))
			break
		}
		for _, g := range out.SecurityGroups {
			if !isDue(g.Tags) {
				continue
			}
			id := aws.ToString(g.GroupId)
			if _, err := s.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: g.GroupId}); err != nil {
				fail("delete security group", id, err)
				continue
			}
			sw.SecurityGroups = append(sw.SecurityGroups, id)
		}
	}

	for p := ec2.NewDescribeImagesPaginator(s.EC2, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: filters}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe unfinished AMIs: %w", err))
			break
		}
		for _, img := range out.Images {
			if !isDue(img.Tags) || finished(img.Tags) {
				continue
			}
			id := aws.ToString(img.ImageId)
			if _, err := s.EC2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId}); err != nil {
				fail("deregister AMI", id, err)
				continue
			}
			sw.Images = append(sw.Images, id)
		}
	}

	// The snapshots of the AMIs deregistered above, and of any unfinished
	// AMI deregistered before: tagged like them, and unfinished too.
	for p := ec2.NewDescribeSnapshotsPaginator(s.EC2, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: filters}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe unfinished snapshots: %w", err))
			break
		}
		for _, sn := range out.Snapshots {
			if !isDue(sn.Tags) || finished(sn.Tags) {
				continue
			}
			id := aws.ToString(sn.SnapshotId)
			if _, err := s.EC2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: sn.SnapshotId}); err != nil {
				fail("delete snapshot", id, err)
				continue
			}
			sw.Snapshots = append(sw.Snapshots, id)
		}
	}
	return sw, errors.Join(errs...)
}

func (s Sweeper) terminated(ctx context.Context, ids []string) error {
	if s.Terminated != nil {
		return s.Terminated(ctx, ids)
	}
	return ec2.NewInstanceTerminatedWaiter(s.EC2).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 10*time.Minute)
}

// due says whether a resource with tags is a build's whose time is over at
// now: it carries release.TagImage and a release.TagBuildStarted before now-MaxBuild. A
// start time that does not parse is not due: the resource is not one the
// template tagged.
func due(tags []ec2types.Tag, now time.Time) bool {
	var image, started string
	for _, t := range tags {
		switch aws.ToString(t.Key) {
		case release.TagImage:
			image = aws.ToString(t.Value)
		case release.TagBuildStarted:
			started = aws.ToString(t.Value)
		}
	}
	if image == "" {
		return false
	}
	at, err := time.Parse(time.RFC3339, started)
	return err == nil && now.Sub(at) > MaxBuild
}

// finished says whether an AMI or snapshot with tags carries the
// provenance a build adds last.
func finished(tags []ec2types.Tag) bool {
	return slices.ContainsFunc(tags, func(t ec2types.Tag) bool { return aws.ToString(t.Key) == release.TagDefinitionSHA256 })
}
