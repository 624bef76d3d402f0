package awsgate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// Launch prepares the run for probes, the distinct probes the gate will
// run. It first checks what the run needs before it launches anything:
// that the subnet reaches ECS, SSM and the probe image's registry
// (CheckNetwork: a *NetworkError names every path missing), and, for
// awsvpc tasks, the ECS service-linked role, which it creates if it is
// missing (a *ServiceLinkedRoleError when IAM refuses). Then it creates the run's cluster and registers the probes' task
// definitions while, at the same time, it starts the instance and waits for
// it to run and for its ECS agent to register in the cluster. The two are
// independent (the agent registers long after the cluster exists), so
// Launch takes as long as the longer of the two. On an error it stops the
// rest and returns; Cleanup removes what was created.
func (b *Backend) Launch(ctx context.Context, probes []validate.Probe) error {
	for _, p := range probes {
		if err := checkMode(p.Mode); err != nil {
			return fmt.Errorf("launch run %q: nothing launched: %w", b.o.Gate.RunID, err)
		}
	}
	if _, err := CheckNetwork(ctx, b.network, b.o.Subnet, b.o.Gate.ProbeImage, b.region); err != nil {
		return fmt.Errorf("launch run %q: nothing launched: %w", b.o.Gate.RunID, err)
	}
	if runsAWSVPC(probes) {
		if err := b.ensureServiceLinkedRole(ctx); err != nil {
			return fmt.Errorf("launch run %q: nothing launched: %w", b.o.Gate.RunID, err)
		}
	}
	steps := []func(context.Context) error{b.createCluster, b.startInstance}
	for _, p := range probes {
		steps = append(steps, func(ctx context.Context) error {
			_, err := b.taskDefinition(ctx, p)
			return err
		})
	}
	if err := parallel(ctx, steps...); err != nil {
		return fmt.Errorf("launch run %q: %w", b.o.Gate.RunID, err)
	}
	return nil
}

// parallel runs steps at once. The first error cancels the others and is
// the one returned.
func parallel(ctx context.Context, steps ...func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, step := range steps {
		wg.Go(func() {
			if err := step(ctx); err != nil {
				once.Do(func() { first = err })
				cancel(err)
			}
		})
	}
	wg.Wait()
	return first
}

func (b *Backend) createCluster(ctx context.Context) error {
	b.ask(func(a *asked) { a.cluster = true })
	_, err := b.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String(b.Cluster()),
		Tags:        b.ecsTags(),
	})
	if err != nil {
		return fmt.Errorf("create cluster %q: %w", b.Cluster(), err)
	}
	return nil
}

// startInstance runs the instance and waits until its agent is registered.
func (b *Backend) startInstance(ctx context.Context) error {
	id, err := b.runInstance(ctx)
	if err != nil {
		return err
	}
	if err := b.waitRunning(ctx, id); err != nil {
		return err
	}
	return b.waitRegistered(ctx, id, b.timeouts.Agent)
}

// userData makes the image's ECS agent join the run's cluster, and tag its
// container instance with the instance's tags. It replaces any ECS_CLUSTER
// the image set.
func userData(cluster string) string {
	return fmt.Sprintf(`#!/bin/bash
set -euo pipefail
mkdir -p /etc/ecs
touch /etc/ecs/ecs.config
sed -i -e '/^ECS_CLUSTER=/d' -e '/^ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=/d' /etc/ecs/ecs.config
cat >>/etc/ecs/ecs.config <<'EOF'
ECS_CLUSTER=%s
ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance
EOF
echo "cisecs gate: /etc/ecs/ecs.config joins cluster %s"
`, cluster, cluster)
}

// instanceType is the type to launch the AMI on: Options.InstanceType, or
// the default for the AMI's architecture, which DescribeImages gives.
func (b *Backend) instanceType(ctx context.Context) (string, error) {
	if b.o.InstanceType != "" {
		return b.o.InstanceType, nil
	}
	out, err := b.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{b.o.Gate.ImageID}})
	if err != nil {
		return "", fmt.Errorf("image %q: architecture: %w", b.o.Gate.ImageID, err)
	}
	if len(out.Images) != 1 {
		return "", fmt.Errorf("image %q: architecture: %d images in the answer, want 1", b.o.Gate.ImageID, len(out.Images))
	}
	arch := string(out.Images[0].Architecture)
	t := release.GateInstanceType(arch)
	if t == "" {
		return "", fmt.Errorf("image %q: architecture %q: no default instance type for it; give one", b.o.Gate.ImageID, arch)
	}
	return t, nil
}

func (b *Backend) runInstance(ctx context.Context) (string, error) {
	instanceType, err := b.instanceType(ctx)
	if err != nil {
		return "", err
	}
	profile := &ec2types.IamInstanceProfileSpecification{Name: aws.String(b.o.InstanceProfile)}
	if isARN(b.o.InstanceProfile) {
		profile = &ec2types.IamInstanceProfileSpecification{Arn: aws.String(b.o.InstanceProfile)}
	}
	b.ask(func(a *asked) { a.instance = true })
	in := &ec2.RunInstancesInput{
		ImageId:                           aws.String(b.o.Gate.ImageID),
		InstanceType:                      ec2types.InstanceType(instanceType),
		MinCount:                          aws.Int32(1),
		MaxCount:                          aws.Int32(1),
		SubnetId:                          aws.String(b.o.Subnet),
		SecurityGroupIds:                  []string{b.o.SecurityGroup},
		IamInstanceProfile:                profile,
		InstanceInitiatedShutdownBehavior: ec2types.ShutdownBehaviorTerminate,
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{
			HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled,
			HttpTokens:   ec2types.HttpTokensStateRequired,
			// Bridge-mode containers are one hop further from IMDS.
			HttpPutResponseHopLimit: aws.Int32(2),
		},
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData(b.Cluster())))),
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: b.ec2Tags()},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: b.ec2Tags()},
		},
	}
	out, err := b.runInstances(ctx, in)
	// IAM is eventually consistent: EC2 refuses a profile made seconds
	// ago. A refused call created nothing; ask again, backing off.
	start, delay := b.poll.clock.Now(), 2*time.Second
	for profileNotYetUsable(err) && b.poll.clock.Now().Sub(start)+delay <= ProfileRetry {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("run %s instance from image %q: %w (after %w)", instanceType, b.o.Gate.ImageID, context.Cause(ctx), err)
		case <-b.poll.clock.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
		// A new call, with a client token of its own (the SDK wrote the
		// refused call's into in): EC2 may answer a token it saw with
		// that call's answer.
		in.ClientToken = nil
		out, err = b.runInstances(ctx, in)
	}
	if profileNotYetUsable(err) {
		return "", fmt.Errorf("run %s instance from image %q: instance profile %q still refused after %s (does it exist?): %w",
			instanceType, b.o.Gate.ImageID, b.o.InstanceProfile, b.poll.clock.Now().Sub(start).Round(time.Second), err)
	}
	if err != nil {
		return "", fmt.Errorf("run %s instance from image %q: %w", instanceType, b.o.Gate.ImageID, err)
	}
	if len(out.Instances) != 1 || aws.ToString(out.Instances[0].InstanceId) == "" {
		return "", fmt.Errorf("run instance from image %q: %d instances in the answer, want 1", b.o.Gate.ImageID, len(out.Instances))
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	b.mu.Lock()
	b.instance, b.launched = id, b.poll.clock.Now()
	b.mu.Unlock()
	return id, nil
}

// runInstances calls RunInstances, and records when a call got no answer
// from EC2 (cancelled, or lost on the way): it may have started an
// instance whose id the backend never learns.
func (b *Backend) runInstances(ctx context.Context, in *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
	if ctx.Err() != nil {
		return nil, context.Cause(ctx) // not asked: nothing started
	}
	asked := b.poll.clock.Now()
	out, err := b.ec2.RunInstances(ctx, in)
	var api smithy.APIError
	if err != nil && !errors.As(err, &api) {
		b.mu.Lock()
		b.lost = asked
		b.mu.Unlock()
	}
	return out, err
}

// ProfileRetry bounds how long Launch asks RunInstances again while EC2
// refuses the instance profile as invalid, as it does for some seconds
// after the profile was made (IAM is eventually consistent).
const ProfileRetry = 2 * time.Minute

// profileNotYetUsable says whether err is EC2 refusing the instance
// profile: InvalidParameterValue, "... for parameter iamInstanceProfile.name
// is invalid. Invalid IAM Instance Profile name" (or .arn, ARN).
func profileNotYetUsable(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "InvalidParameterValue" &&
		strings.Contains(api.ErrorMessage(), "Invalid IAM Instance Profile")
}

func isARN(s string) bool { return len(s) > 4 && s[:4] == "arn:" }

func (b *Backend) waitRunning(ctx context.Context, id string) error {
	in := &ec2.DescribeInstancesInput{InstanceIds: []string{id}}
	accept := instanceRunning(b.ec2)
	return b.poll.wait(ctx, fmt.Sprintf("instance %q running", id), b.timeouts.Instance, func(ctx context.Context) (bool, string, error) {
		out, err := b.ec2.DescribeInstances(ctx, in)
		retry, err := accept(ctx, in, out, err)
		return !retry && err == nil, instanceState(out), err
	})
}

func instanceState(out *ec2.DescribeInstancesOutput) string {
	if out == nil {
		return ""
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if i.State != nil {
				return string(i.State.Name)
			}
		}
	}
	return ""
}

// waitRegistered waits until the instance's agent has registered it in the
// cluster and is connected.
func (b *Backend) waitRegistered(ctx context.Context, id string, timeout time.Duration) error {
	what := fmt.Sprintf("instance %q registered in cluster %q", id, b.Cluster())
	return b.poll.wait(ctx, what, timeout, func(ctx context.Context) (bool, string, error) {
		ci, err := b.containerInstance(ctx, id)
		if err != nil || ci == nil {
			return false, "not registered", err
		}
		state := fmt.Sprintf("status %s, agent connected %t", aws.ToString(ci.Status), ci.AgentConnected)
		if aws.ToString(ci.Status) != "ACTIVE" || !ci.AgentConnected {
			return false, state, nil
		}
		b.mu.Lock()
		b.container = aws.ToString(ci.ContainerInstanceArn)
		b.mu.Unlock()
		return true, state, nil
	})
}

// containerInstance is the instance's container instance in the cluster,
// or nil when it has none (not INACTIVE).
func (b *Backend) containerInstance(ctx context.Context, id string) (*ecstypes.ContainerInstance, error) {
	list, err := b.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{
		Cluster: aws.String(b.Cluster()),
		Filter:  aws.String("ec2InstanceId == " + id),
	})
	if err != nil {
		return nil, err
	}
	if len(list.ContainerInstanceArns) == 0 {
		return nil, nil
	}
	out, err := b.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster:            aws.String(b.Cluster()),
		ContainerInstances: list.ContainerInstanceArns,
	})
	if err != nil {
		return nil, err
	}
	for i := range out.ContainerInstances {
		if aws.ToString(out.ContainerInstances[i].Ec2InstanceId) == id {
			return &out.ContainerInstances[i], nil
		}
	}
	return nil, nil
}

// probeKey identifies a probe task definition: one per distinct script.
type probeKey struct{ mode, role, script string }

// taskDef is a task definition registered, or being registered, for a
// probe. ready closes when arn or err is set.
type taskDef struct {
	ready chan struct{}
	arn   string
	err   error
}

// taskDefinition returns the ARN of p's task definition, registering it
// first if no call has. Concurrent calls for one probe register it once.
func (b *Backend) taskDefinition(ctx context.Context, p validate.Probe) (string, error) {
	if err := checkMode(p.Mode); err != nil {
		return "", err
	}
	script, err := validate.ProbeScript(p)
	if err != nil {
		return "", fmt.Errorf("render probe script (%s): %w", p.Mode, err)
	}
	role := p.RoleARN
	if role == "" {
		role = b.o.Gate.RoleARN
	}
	key := probeKey{mode: p.Mode, role: role, script: string(script)}

	b.mu.Lock()
	td, ok := b.taskDefs[key]
	if !ok {
		td = &taskDef{ready: make(chan struct{})}
		b.taskDefs[key] = td
	}
	b.mu.Unlock()
	if ok {
		select {
		case <-td.ready:
			if td.err == nil {
				return td.arn, nil
			}
			// It failed: the next call tries again.
			return "", td.err
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}

	td.arn, td.err = b.registerTaskDefinition(ctx, key)
	if td.err != nil {
		b.mu.Lock()
		delete(b.taskDefs, key)
		b.mu.Unlock()
	}
	close(td.ready)
	return td.arn, td.err
}

func (b *Backend) registerTaskDefinition(ctx context.Context, k probeKey) (string, error) {
	family := b.Family(k.mode)
	in := &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		NetworkMode:             ecstypes.NetworkMode(k.mode),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityEc2},
		TaskRoleArn:             aws.String(k.role),
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("256"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:      aws.String(probeContainer),
			Image:     aws.String(b.o.Gate.ProbeImage),
			Essential: aws.Bool(true),
			Command:   []string{"sh", "-c", k.script},
		}},
		Tags: b.ecsTags(),
	}
	if b.o.ExecutionRoleARN != "" {
		in.ExecutionRoleArn = aws.String(b.o.ExecutionRoleARN)
	}
	b.ask(func(a *asked) { a.taskDefs = true })
	out, err := b.tasks.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", fmt.Errorf("register task definition %q: %w", family, err)
	}
	if out.TaskDefinition == nil || aws.ToString(out.TaskDefinition.TaskDefinitionArn) == "" {
		return "", fmt.Errorf("register task definition %q: no ARN in the answer", family)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}

// probeContainer is the name of the probe's only container.
const probeContainer = "probe"
