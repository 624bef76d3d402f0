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
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/cisecs/cisecs/release"
)

// Cleanup removes everything the run created, in order: it stops the run's
// tasks, terminates its instance and waits until it is terminated,
// deregisters by force the container instances whose agent is gone (ECS
// would never stop their tasks), waits for the other tasks to stop,
// deregisters what is left of the instance in the cluster, deletes the
// network interfaces of its awsvpc tasks that ECS left behind (see
// tagENI), deregisters the probe task definitions and deletes the cluster.
//
// It looks only for the kinds of resource the run asked AWS to create (the
// call made, whatever its answer): a run that asked for nothing created
// nothing, and Cleanup then makes no call at all and returns nil. It finds
// them by the run's tag and names, not only by what this Backend saw
// created, so it also removes what a cancelled call created without its
// answer arriving; EC2's API is eventually consistent, so for
// InstanceVisibility after RunInstances it looks again for an instance EC2
// does not show yet. Whatever is already gone it takes as done, so it is
// safe to call again, and after a partial Launch. A step that fails does
// not stop the steps that do not depend on it; the error joins every
// failure.
func (b *Backend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	a := b.asked
	b.mu.Unlock()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	var tasks []string
	if a.cluster {
		var err error
		tasks, err = b.liveTasks(ctx)
		add(err)
		for _, t := range tasks {
			add(stopTask(ctx, b.tasks, b.Cluster(), t, cleanupStopReason))
		}
	}

	if a.instance {
		ids, err := b.liveInstances(ctx)
		add(err)
		if len(ids) > 0 {
			if err := terminate(ctx, b.ec2, ids); err != nil {
				add(err)
			} else {
				add(waitTerminated(ctx, b.poll, b.ec2, ids, b.timeouts.Instance))
			}
		}
	}

	if a.cluster {
		gone, err := deregisterAgentGone(ctx, b.ecs, b.ec2, b.Cluster())
		add(err)
		tasks, err = tasksOff(ctx, b.tasks, b.Cluster(), tasks, gone)
		add(err)
	}
	if len(tasks) > 0 {
		add(waitStopped(ctx, b.poll, b.tasks, b.Cluster(), tasks, b.timeouts.Task))
	}
	if a.cluster {
		add(deregisterContainerInstances(ctx, b.ecs, b.Cluster()))
	}
	if a.enis {
		b.mu.Lock()
		known := slices.Clone(b.enis)
		b.mu.Unlock()
		add(deleteRunENIs(ctx, b.poll, b.ec2, b.o.Gate.RunID, known, b.timeouts.Task))
	}
	if a.taskDefs {
		for _, mode := range release.NetworkModes() {
			add(b.deregisterFamily(ctx, b.Family(mode)))
		}
	}
	if a.cluster {
		add(deleteCluster(ctx, b.ecs, b.Cluster()))
	}

	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup of run %q: %w", b.o.Gate.RunID, err)
	}
	b.mu.Lock()
	b.container = ""
	b.mu.Unlock()
	return nil
}

// liveTasks are the run's tasks that are not stopped: those ECS lists in
// the cluster, and those this Backend started.
func (b *Backend) liveTasks(ctx context.Context) ([]string, error) {
	b.mu.Lock()
	arns := slices.Clone(b.started)
	b.mu.Unlock()
	listed, err := listTasks(ctx, b.tasks, b.Cluster())
	if err != nil {
		return nil, err
	}
	for _, a := range listed {
		if !slices.Contains(arns, a) {
			arns = append(arns, a)
		}
	}
	return notStopped(ctx, b.tasks, b.Cluster(), arns)
}

// listTasks lists a cluster's tasks that are meant to run; none if the
// cluster is gone.
func listTasks(ctx context.Context, c ecs.ListTasksAPIClient, cluster string) ([]string, error) {
	var arns []string
	p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: aws.String(cluster), DesiredStatus: ecstypes.DesiredStatusRunning})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list tasks of cluster %q: %w", cluster, err)
		}
		arns = append(arns, page.TaskArns...)
	}
	return arns, nil
}

// notStopped keeps the tasks ECS does not report stopped, or stopping.
func notStopped(ctx context.Context, c ecs.DescribeTasksAPIClient, cluster string, arns []string) ([]string, error) {
	var live []string
	for chunk := range slices.Chunk(arns, 100) {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("describe tasks of cluster %q: %w", cluster, err)
		}
		for _, t := range out.Tasks {
			if aws.ToString(t.LastStatus) != "STOPPED" {
				live = append(live, aws.ToString(t.TaskArn))
			}
		}
	}
	return live, nil
}

type taskStopper interface {
	StopTask(ctx context.Context, in *ecs.StopTaskInput, optFns ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

func stopTask(ctx context.Context, c taskStopper, cluster, arn, reason string) error {
	_, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn), Reason: aws.String(reason)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("stop task %q: %w", arn, err)
	}
	return nil
}

func waitStopped(ctx context.Context, p poller, c ecs.DescribeTasksAPIClient, cluster string, arns []string, timeout time.Duration) error {
	accept := tasksStopped(c)
	var errs []error
	for chunk := range slices.Chunk(arns, 100) {
		in := &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk}
		err := p.wait(ctx, fmt.Sprintf("%d tasks of cluster %q stopped", len(chunk), cluster), timeout, func(ctx context.Context) (bool, string, error) {
			out, err := c.DescribeTasks(ctx, in)
			if notFound(err) {
				return true, "cluster gone", nil
			}
			retry, err := accept(ctx, in, out, err)
			return !retry && err == nil, "", err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// liveInstances are the run's instances that are not terminated: those
// tagged with the run's id, and the one this Backend started.
func (b *Backend) liveInstances(ctx context.Context) ([]string, error) {
	byTag := &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + release.TagRunID), Values: []string{b.o.Gate.RunID}}},
	}
	ids, err := describeLive(ctx, b.ec2, byTag, false)
	if err != nil {
		return nil, fmt.Errorf("find instances of run %q: %w", b.o.Gate.RunID, err)
	}
	b.mu.Lock()
	lost, known := b.lost, b.instance != ""
	b.mu.Unlock()
	if len(ids) == 0 && !known && !lost.IsZero() {
		// A RunInstances whose answer was lost may have started an
		// instance that EC2 does not list yet: look again until
		// InstanceVisibility has passed since it was asked.
		shownBy := lost.Add(InstanceVisibility)
		err := b.poll.wait(ctx, fmt.Sprintf("instances of run %q shown by EC2", b.o.Gate.RunID), shownBy.Sub(b.poll.clock.Now()), func(ctx context.Context) (bool, string, error) {
			ids, err = describeLive(ctx, b.ec2, byTag, false)
			return len(ids) > 0 || !b.poll.clock.Now().Before(shownBy), "none", err
		})
		if err != nil && !IsTimeout(err) {
			return nil, fmt.Errorf("find instances of run %q: %w", b.o.Gate.RunID, err)
		}
	}
	if id := b.Instance(); id != "" && !slices.Contains(ids, id) {
		known, err := b.describeOwn(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("describe instance %q: %w", id, err)
		}
		ids = append(ids, known...)
	}
	return ids, nil
}

// InstanceVisibility bounds how long after RunInstances answered EC2 may
// still answer InvalidInstanceID.NotFound for the new instance: its API is
// eventually consistent. Within it, NotFound means "not shown yet", and
// the backend asks again; after it, the instance is gone.
const InstanceVisibility = 5 * time.Minute

// describeOwn is describeLive of the instance RunInstances started: a
// NotFound within InstanceVisibility of its launch is asked again, every
// poll interval, until EC2 shows it.
func (b *Backend) describeOwn(ctx context.Context, id string) ([]string, error) {
	b.mu.Lock()
	launched := b.launched
	b.mu.Unlock()
	shownBy := launched.Add(InstanceVisibility)
	var ids []string
	err := b.poll.wait(ctx, fmt.Sprintf("instance %q shown by EC2", id), shownBy.Sub(b.poll.clock.Now()), func(ctx context.Context) (bool, string, error) {
		var err error
		ids, err = describeLive(ctx, b.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, true)
		if notFound(err) {
			// Not shown yet, or gone once InstanceVisibility has passed.
			ids = nil
			return !b.poll.clock.Now().Before(shownBy), "not found", nil
		}
		return err == nil, "", err
	})
	if IsTimeout(err) {
		return nil, nil // the last look said not found, after InstanceVisibility
	}
	return ids, err
}

// describeLive lists the instances in that are not terminated. An id that
// does not exist is none, unless notFoundErr asks for EC2's error then.
func describeLive(ctx context.Context, c ec2.DescribeInstancesAPIClient, in *ec2.DescribeInstancesInput, notFoundErr bool) ([]string, error) {
	in.Filters = append(in.Filters, ec2types.Filter{
		Name:   aws.String("instance-state-name"),
		Values: []string{"pending", "running", "shutting-down", "stopping", "stopped"},
	})
	var ids []string
	p := ec2.NewDescribeInstancesPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if notFound(err) && !notFoundErr {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				if i.State != nil && i.State.Name == ec2types.InstanceStateNameTerminated {
					continue
				}
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
	}
	return ids, nil
}

type instanceTerminator interface {
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

func terminate(ctx context.Context, c instanceTerminator, ids []string) error {
	_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	if err != nil && !notFound(err) {
		return fmt.Errorf("terminate instances %q: %w", ids, err)
	}
	return nil
}

func waitTerminated(ctx context.Context, p poller, c ec2.DescribeInstancesAPIClient, ids []string, timeout time.Duration) error {
	in := &ec2.DescribeInstancesInput{InstanceIds: ids}
	accept := instanceTerminated(c)
	return p.wait(ctx, fmt.Sprintf("instances %q terminated", ids), timeout, func(ctx context.Context) (bool, string, error) {
		out, err := c.DescribeInstances(ctx, in)
		if notFound(err) {
			return true, "gone", nil
		}
		retry, err := accept(ctx, in, out, err)
		return !retry && err == nil, instanceState(out), err
	})
}

type containerDeregistrar interface {
	ecs.ListContainerInstancesAPIClient
	DeregisterContainerInstance(ctx context.Context, in *ecs.DeregisterContainerInstanceInput, optFns ...func(*ecs.Options)) (*ecs.DeregisterContainerInstanceOutput, error)
}

// deregisterContainerInstances deregisters, by force, the container
// instances still registered in the cluster (ECS does it by itself for a
// terminated instance, eventually; DeleteCluster cannot wait for that).
func deregisterContainerInstances(ctx context.Context, c containerDeregistrar, cluster string) error {
	var errs []error
	p := ecs.NewListContainerInstancesPaginator(c, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if notFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list container instances of cluster %q: %w", cluster, err)
		}
		for _, arn := range page.ContainerInstanceArns {
			_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
				Cluster: aws.String(cluster), ContainerInstance: aws.String(arn), Force: aws.Bool(true),
			})
			if err != nil && !notFound(err) {
				errs = append(errs, fmt.Errorf("deregister container instance %q: %w", arn, err))
			}
		}
	}
	return errors.Join(errs...)
}

type agentGoneDeregistrar interface {
	containerDeregistrar
	DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
}

// deregisterAgentGone deregisters, by force, the cluster's container
// instances whose agent is gone: ECS reports it disconnected, or its EC2
// instance is terminated. ECS stops the tasks of such an instance only
// then: a StopTask leaves them RUNNING or PENDING (desired STOPPED), as
// the agent is not there to stop them, and ECS does not deregister an
// instance whose agent was disconnected when it terminated. It returns the
// ARNs of the container instances it deregistered; a cluster that is gone
// has none.
func deregisterAgentGone(ctx context.Context, c agentGoneDeregistrar, e ec2.DescribeInstancesAPIClient, cluster string) ([]string, error) {
	var arns []string
	p := ecs.NewListContainerInstancesPaginator(c, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list container instances of cluster %q: %w", cluster, err)
		}
		arns = append(arns, page.ContainerInstanceArns...)
	}
	var (
		gone []string
		errs []error
	)
	for chunk := range slices.Chunk(arns, 100) {
		out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: chunk})
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("describe container instances of cluster %q: %w", cluster, err)
		}
		for _, ci := range out.ContainerInstances {
			arn := aws.ToString(ci.ContainerInstanceArn)
			lost := !ci.AgentConnected
			if !lost {
				lost, err = isTerminated(ctx, e, aws.ToString(ci.Ec2InstanceId))
				if err != nil {
					errs = append(errs, err)
					continue
				}
			}
			if !lost {
				continue
			}
			_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
				Cluster: aws.String(cluster), ContainerInstance: aws.String(arn), Force: aws.Bool(true),
			})
			if err != nil && !notFound(err) {
				errs = append(errs, fmt.Errorf("deregister container instance %q, whose agent is gone: %w", arn, err))
				continue
			}
			gone = append(gone, arn)
		}
	}
	return gone, errors.Join(errs...)
}

// isTerminated says whether EC2 reports the instance terminated, or
// does not know it (a container instance's instance was shown long ago:
// its agent registered).
func isTerminated(ctx context.Context, e ec2.DescribeInstancesAPIClient, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	out, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if notFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe instance %q: %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if i.State == nil || i.State.Name != ec2types.InstanceStateNameTerminated {
				return false, nil
			}
		}
	}
	return true, nil
}

// tasksOff keeps the tasks that are not on the container instances in
// off: those are the tasks not to wait for.
func tasksOff(ctx context.Context, c ecs.DescribeTasksAPIClient, cluster string, arns, off []string) ([]string, error) {
	if len(off) == 0 || len(arns) == 0 {
		return arns, nil
	}
	var keep []string
	for chunk := range slices.Chunk(arns, 100) {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return arns, fmt.Errorf("describe tasks of cluster %q: %w", cluster, err)
		}
		for _, t := range out.Tasks {
			if !slices.Contains(off, aws.ToString(t.ContainerInstanceArn)) {
				keep = append(keep, aws.ToString(t.TaskArn))
			}
		}
	}
	return keep, nil
}

type taskDefinitionDeregistrar interface {
	ecs.ListTaskDefinitionsAPIClient
	DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
}

// deregisterFamily deregisters every active revision of the family.
func (b *Backend) deregisterFamily(ctx context.Context, family string) error {
	arns, err := activeRevisions(ctx, b.tasks, family)
	if err != nil {
		return err
	}
	var errs []error
	for _, arn := range arns {
		errs = append(errs, deregisterTaskDefinition(ctx, b.tasks, arn))
	}
	return errors.Join(errs...)
}

func activeRevisions(ctx context.Context, c ecs.ListTaskDefinitionsAPIClient, family string) ([]string, error) {
	var arns []string
	p := ecs.NewListTaskDefinitionsPaginator(c, &ecs.ListTaskDefinitionsInput{
		FamilyPrefix: aws.String(family), // the whole family name, despite its name
		Status:       ecstypes.TaskDefinitionStatusActive,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list task definitions of family %q: %w", family, err)
		}
		arns = append(arns, page.TaskDefinitionArns...)
	}
	return arns, nil
}

func deregisterTaskDefinition(ctx context.Context, c taskDefinitionDeregistrar, arn string) error {
	_, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("deregister task definition %q: %w", arn, err)
	}
	return nil
}

type clusterDeleter interface {
	DeleteCluster(ctx context.Context, in *ecs.DeleteClusterInput, optFns ...func(*ecs.Options)) (*ecs.DeleteClusterOutput, error)
}

func deleteCluster(ctx context.Context, c clusterDeleter, cluster string) error {
	_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(cluster)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete cluster %q: %w", cluster, err)
	}
	return nil
}
