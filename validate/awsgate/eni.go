package awsgate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/cisecs/cisecs/release"
)

// An awsvpc task's network interface is ECS's: ECS creates it (as its
// service-linked role) and tags it with nothing, neither the task's tags
// nor its managed tags, whatever RunTask's propagateTags and
// enableECSManagedTags say (aws/containers-roadmap#567). ECS deletes it
// when the task stops with its agent there; when the instance terminates
// under a running task, or the agent is lost, it can be left "available"
// for good. The gate therefore tags each interface with the run's tags as
// soon as DescribeTasks names it, so that Cleanup and the Janitor find it
// by tag, and IAM lets them delete only what carries the tag.

type eniTagger interface {
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

// taskENI is the id of the task's network interface, once ECS names it.
func taskENI(t *ecstypes.Task) string {
	for _, a := range t.Attachments {
		if aws.ToString(a.Type) != "ElasticNetworkInterface" {
			continue
		}
		for _, d := range a.Details {
			if aws.ToString(d.Name) == "networkInterfaceId" {
				return aws.ToString(d.Value)
			}
		}
	}
	return ""
}

// tagENI tags the task's network interface with the run's tags, once: it
// does nothing if DescribeTasks does not name one yet, or if this Backend
// tagged it already. An interface already gone needs no tag.
func (b *Backend) tagENI(ctx context.Context, t *ecstypes.Task) error {
	id := taskENI(t)
	if id == "" {
		return nil
	}
	b.mu.Lock()
	known := slices.Contains(b.enis, id)
	if !known {
		b.enis = append(b.enis, id)
	}
	b.mu.Unlock()
	if known {
		return nil
	}
	_, err := b.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: b.ec2Tags()})
	if err != nil && !notFound(err) {
		return fmt.Errorf("tag network interface %q of task %q: %w", id, aws.ToString(t.TaskArn), err)
	}
	return nil
}

type eniDeleter interface {
	ec2.DescribeNetworkInterfacesAPIClient
	DeleteNetworkInterface(ctx context.Context, in *ec2.DeleteNetworkInterfaceInput, optFns ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error)
}

// taggedENIs are the network interfaces, in status (any if empty), that
// carry the gate's tags: runID's, or any run's if runID is empty.
func taggedENIs(ctx context.Context, c ec2.DescribeNetworkInterfacesAPIClient, runID, status string) ([]ec2types.NetworkInterface, error) {
	f := []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{release.TagRunID}}}
	if runID != "" {
		f = []ec2types.Filter{{Name: aws.String("tag:" + release.TagRunID), Values: []string{runID}}}
	}
	if status != "" {
		f = append(f, ec2types.Filter{Name: aws.String("status"), Values: []string{status}})
	}
	var out []ec2types.NetworkInterface
	p := ec2.NewDescribeNetworkInterfacesPaginator(c, &ec2.DescribeNetworkInterfacesInput{Filters: f})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("find the gate's network interfaces: %w", err)
		}
		out = append(out, page.NetworkInterfaces...)
	}
	return out, nil
}

func deleteENI(ctx context.Context, c eniDeleter, id string) error {
	_, err := c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete network interface %q: %w", id, err)
	}
	return nil
}

// deleteRunENIs deletes the run's network interfaces: those tagged with
// the run, and those this Backend saw (known). One still in use (ECS
// detaching it) is waited for until timeout; one ECS deleted is done.
func deleteRunENIs(ctx context.Context, p poller, c eniDeleter, runID string, known []string, timeout time.Duration) error {
	tagged, err := taggedENIs(ctx, c, runID, "")
	if err != nil {
		return err
	}
	ids := slices.Clone(known)
	for _, n := range tagged {
		if id := aws.ToString(n.NetworkInterfaceId); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	var errs []error
	for _, id := range ids {
		err := p.wait(ctx, fmt.Sprintf("network interface %q deleted", id), timeout, func(ctx context.Context) (bool, string, error) {
			out, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}})
			if notFound(err) {
				return true, "gone", nil
			}
			if err != nil {
				return false, "", fmt.Errorf("describe network interface %q: %w", id, err)
			}
			if len(out.NetworkInterfaces) == 0 {
				return true, "gone", nil
			}
			st := out.NetworkInterfaces[0].Status
			if st != ec2types.NetworkInterfaceStatusAvailable {
				return false, string(st), nil
			}
			return true, "deleted", deleteENI(ctx, c, id)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
