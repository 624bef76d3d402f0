package awsgate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/cisecs/cisecs/internal/awsaccount"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// janitorStopReason is the reason the Janitor gives ECS for the tasks it
// stops.
const janitorStopReason = "cisecs janitor: run expired"

// Janitor removes what killed gate runs left behind: instances, ECS
// clusters (with their tasks and container instances), task definitions
// and the available network interfaces of awsvpc tasks that carry both
// gate tags (release.TagRunID, release.TagExpiresAt) and whose expiry has
// passed, or, with RunIDPrefix, whose run id starts with it. It never
// touches a resource without both tags, nor another run's before its
// expiry.
type Janitor struct {
	EC2 JanitorEC2API
	ECS JanitorECSAPI
	// Clock times the waits; nil is the system clock.
	Clock validate.Clock
	// PollInterval defaults to DefaultPollInterval.
	PollInterval time.Duration
	// Timeout bounds each wait (instances terminated, tasks stopped);
	// default 10 minutes.
	Timeout time.Duration
	// RunIDPrefix, when set, also sweeps the resources of the runs whose
	// id starts with it, expired or not: the caller says those runs are
	// over (a CI run's cleanup job after a cancel, whose gate was killed
	// before its own cleanup).
	RunIDPrefix string
}

// Swept lists what a sweep removed.
type Swept struct {
	// Instances are the ids of the instances it terminated.
	Instances []string
	// Tasks are the ARNs of the tasks it stopped.
	Tasks []string
	// Clusters are the ARNs of the clusters it deleted.
	Clusters []string
	// TaskDefinitions are the ARNs of the task definitions it deregistered.
	TaskDefinitions []string
	// NetworkInterfaces are the ids of the awsvpc tasks' network
	// interfaces it deleted.
	NetworkInterfaces []string
}

// Sweep removes the gate's resources that are due (expired before now, or
// of a run RunIDPrefix names): it
// terminates the instances and stops the clusters' tasks, waits for the
// instances, deregisters by force the container instances whose agent is
// gone (ECS would never stop their tasks), waits for the other tasks,
// deregisters the clusters' container instances, deletes the clusters,
// deregisters the task definitions (families starting with NamePrefix) and
// deletes the available network interfaces ECS left behind. It
// goes on past a failure; the error joins them all, and Swept says what
// was removed.
func (j Janitor) Sweep(ctx context.Context, now time.Time) (Swept, error) {
	p := poller{clock: j.Clock, interval: j.PollInterval}
	if p.clock == nil {
		p.clock = validate.RealClock{}
	}
	if p.interval <= 0 {
		p.interval = DefaultPollInterval
	}
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}

	var (
		s    Swept
		errs []error
	)
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	ids, err := j.dueInstances(ctx, now)
	add(err)
	if len(ids) > 0 {
		if err := terminate(ctx, j.EC2, ids); err != nil {
			add(err)
		} else {
			s.Instances = ids
		}
	}

	clusters, err := j.dueClusters(ctx, now)
	add(err)
	stopped := make(map[string][]string)
	for _, c := range clusters {
		tasks, err := listTasks(ctx, j.ECS, c)
		add(err)
		for _, t := range tasks {
			if err := stopTask(ctx, j.ECS, c, t, janitorStopReason); err != nil {
				add(err)
				continue
			}
			stopped[c] = append(stopped[c], t)
			s.Tasks = append(s.Tasks, t)
		}
	}

	if len(s.Instances) > 0 {
		add(waitTerminated(ctx, p, j.EC2, s.Instances, timeout))
	}
	for _, c := range clusters {
		gone, err := deregisterAgentGone(ctx, j.ECS, j.EC2, c)
		add(err)
		wait, err := tasksOff(ctx, j.ECS, c, stopped[c], gone)
		add(err)
		if len(wait) > 0 {
			add(waitStopped(ctx, p, j.ECS, c, wait, timeout))
		}
		if err := deregisterContainerInstances(ctx, j.ECS, c); err != nil {
			add(err)
			continue
		}
		if err := deleteCluster(ctx, j.ECS, c); err != nil {
			add(err)
			continue
		}
		s.Clusters = append(s.Clusters, c)
	}

	tds, err := j.dueTaskDefinitions(ctx, now)
	add(err)
	for _, td := range tds {
		if err := deregisterTaskDefinition(ctx, j.ECS, td); err != nil {
			add(err)
			continue
		}
		s.TaskDefinitions = append(s.TaskDefinitions, td)
	}

	// Last, once the instances are terminated and the tasks stopped: the
	// network interfaces ECS left behind are available only then.
	enis, err := j.dueENIs(ctx, now)
	add(err)
	for _, id := range enis {
		if err := deleteENI(ctx, j.EC2, id); err != nil {
			add(err)
			continue
		}
		s.NetworkInterfaces = append(s.NetworkInterfaces, id)
	}

	if err := errors.Join(errs...); err != nil {
		if j.RunIDPrefix != "" {
			return s, fmt.Errorf("sweep of runs %s* and runs expired before %s: %w", j.RunIDPrefix, now.UTC().Format(time.RFC3339), err)
		}
		return s, fmt.Errorf("sweep of runs expired before %s: %w", now.UTC().Format(time.RFC3339), err)
	}
	return s, nil
}

// due says whether a resource with these tags is the janitor's to remove:
// it carries both gate tags, and its expiry has passed or its run id
// starts with RunIDPrefix.
func (j Janitor) due(get func(string) (string, bool), now time.Time) bool {
	run, at, ok := expiry(get)
	return ok && (!at.After(now) || j.RunIDPrefix != "" && strings.HasPrefix(run, j.RunIDPrefix))
}

// dueInstances are the gate's instances, not terminated, that are due.
func (j Janitor) dueInstances(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	p := ec2.NewDescribeInstancesPaginator(j.EC2, &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{
			{Name: aws.String("tag-key"), Values: []string{release.TagRunID}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("find the gate's instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				if j.due(ec2Tag(i.Tags), now) {
					ids = append(ids, aws.ToString(i.InstanceId))
				}
			}
		}
	}
	return ids, nil
}

// dueENIs are the ids of the gate's available network interfaces
// (those of awsvpc tasks, which the gate tags: see tagENI) that are due.
// One still in use is left for a later sweep.
func (j Janitor) dueENIs(ctx context.Context, now time.Time) ([]string, error) {
	enis, err := taggedENIs(ctx, j.EC2, "", string(ec2types.NetworkInterfaceStatusAvailable))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range enis {
		if j.due(ec2Tag(n.TagSet), now) {
			ids = append(ids, aws.ToString(n.NetworkInterfaceId))
		}
	}
	return ids, nil
}

// dueClusters are the ARNs of the gate's active clusters that are due.
func (j Janitor) dueClusters(ctx context.Context, now time.Time) ([]string, error) {
	var arns []string
	p := ecs.NewListClustersPaginator(j.ECS, &ecs.ListClustersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		arns = append(arns, page.ClusterArns...)
	}
	var out []string
	for chunk := range slices.Chunk(arns, 100) {
		d, err := j.ECS.DescribeClusters(ctx, &ecs.DescribeClustersInput{
			Clusters: chunk,
			Include:  []ecstypes.ClusterField{ecstypes.ClusterFieldTags},
		})
		if err != nil {
			return out, fmt.Errorf("describe clusters: %w", err)
		}
		for _, c := range d.Clusters {
			if aws.ToString(c.Status) == "ACTIVE" && j.due(ecsTag(c.Tags), now) {
				out = append(out, aws.ToString(c.ClusterArn))
			}
		}
	}
	return out, nil
}

// dueTaskDefinitions are the ARNs of the gate's active task
// definitions that are due.
func (j Janitor) dueTaskDefinitions(ctx context.Context, now time.Time) ([]string, error) {
	var families []string
	p := ecs.NewListTaskDefinitionFamiliesPaginator(j.ECS, &ecs.ListTaskDefinitionFamiliesInput{
		FamilyPrefix: aws.String(NamePrefix),
		Status:       ecstypes.TaskDefinitionFamilyStatusActive,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list task definition families %q: %w", NamePrefix+"*", err)
		}
		families = append(families, page.Families...)
	}
	var (
		out  []string
		errs []error
	)
	for _, f := range families {
		arns, err := activeRevisions(ctx, j.ECS, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, arn := range arns {
			d, err := j.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
				TaskDefinition: aws.String(arn),
				Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("describe task definition %q: %w", arn, err))
				continue
			}
			if j.due(ecsTag(d.Tags), now) {
				out = append(out, arn)
			}
		}
	}
	return out, errors.Join(errs...)
}

// NewJanitor returns a Janitor whose clients are built from a's
// configuration (awsaccount.Connect).
func NewJanitor(a *awsaccount.Account) Janitor {
	return Janitor{EC2: ec2.NewFromConfig(a.Config), ECS: ecs.NewFromConfig(a.Config)}
}
