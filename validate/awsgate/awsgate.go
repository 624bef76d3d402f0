// Package awsgate is the gate's AWS backend: it checks that the subnet
// reaches ECS, SSM and the probe image's registry and that the ECS
// service-linked role exists (creating it if not), then launches one
// instance from the image into a temporary ECS cluster, runs the probe
// tasks on it, reboots it, collects diagnostics through SSM Run Command,
// and removes everything it created. It also sweeps what killed runs left
// behind (Janitor); publishing a passed image is release/publish's.
//
// Every resource it creates carries two tags, release.TagRunID and
// release.TagExpiresAt; the Janitor removes only resources that carry both. Every wait polls on the
// gate's Clock: there are no fixed sleeps.
package awsgate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cisecs/cisecs/internal/awsaccount"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/publish"
	"github.com/cisecs/cisecs/validate"
)

// NamePrefix starts the name of the gate's clusters and the family of its
// task definitions: cisecs-gate-<run id> and cisecs-gate-<run id>-<mode>.
const NamePrefix = "cisecs-gate-"

// Defaults for the Options left zero.
const (
	DefaultTTL          = 3 * time.Hour
	DefaultPollInterval = 5 * time.Second
)

// ForcedStopReason is the reason ForceStop gives ECS.
const ForcedStopReason = "cisecs gate: forced stop"

// cleanupStopReason is the reason Cleanup gives ECS for the tasks it stops.
const cleanupStopReason = "cisecs gate: cleanup"

// Options configure a Backend: the gate's own options (Gate: the image
// under test, the run id, the task role, the probe image, the clock), and
// where on AWS to run. Gate.ImageID (an AMI id), Gate.RoleARN, Gate.RunID,
// Subnet, SecurityGroup and InstanceProfile are required.
type Options struct {
	// Gate holds the settings the gate and its backend share, given to
	// validate.Run as well, with defaults applied once (Gate.RunID set:
	// validate.Options.WithDefaults) so that both use one run id.
	Gate validate.Options
	// Region is the AWS region; empty takes it from the default chain
	// (AWS_REGION, the profile).
	Region string
	// Subnet is the subnet of the instance and of the awsvpc tasks. The
	// instance must reach ECS, SSM and the probe image's registry from
	// it: Launch checks that first (CheckNetwork).
	Subnet string
	// SecurityGroup is the security group of the instance and of the
	// awsvpc tasks.
	SecurityGroup string
	// InstanceProfile is the instance profile's name or ARN; its role needs
	// AmazonEC2ContainerServiceforEC2Role and AmazonSSMManagedInstanceCore.
	InstanceProfile string
	// InstanceType is the instance's type; empty picks the default for
	// the AMI's architecture (release.GateInstanceType), which Launch
	// reads with DescribeImages.
	InstanceType string
	// ExecutionRoleARN is the task execution role; optional (needed only
	// for a probe image in a private registry).
	ExecutionRoleARN string
	// TTL is how long after New the resources may be swept by the Janitor;
	// defaults to DefaultTTL.
	TTL time.Duration
	// PollInterval is the time between two looks at a state that is
	// awaited; defaults to DefaultPollInterval.
	PollInterval time.Duration
	// Timeouts bound the waits; zero fields take their defaults.
	Timeouts Timeouts

	// Account builds the clients left nil; nil connects to the default
	// configuration chain for Region first (awsaccount.Connect).
	Account *awsaccount.Account
	// Clients; nil ones are built from Account.
	EC2   EC2API
	ECS   ClusterAPI
	Tasks TaskAPI
	SSM   CommandAPI
	IAM   RoleAPI
	// Network reads the subnet's routes and endpoints; nil is EC2, if
	// it can.
	Network NetworkAPI
}

// Timeouts bound the backend's waits.
type Timeouts struct {
	// Instance bounds the wait for the instance to run and for it to
	// terminate. Default 10 minutes.
	Instance time.Duration
	// Agent bounds the wait for the ECS agent to register the instance.
	// Default 10 minutes.
	Agent time.Duration
	// Task bounds the wait for a task to start or to stop. Default 10
	// minutes.
	Task time.Duration
	// Reboot bounds Reboot, from its first read of the boot id to the
	// agent connected again after the new boot. Default 15 minutes.
	Reboot time.Duration
	// Command bounds one SSM command. Default 5 minutes.
	Command time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Instance, 10*time.Minute)
	def(&t.Agent, 10*time.Minute)
	def(&t.Task, 10*time.Minute)
	def(&t.Reboot, 15*time.Minute)
	def(&t.Command, 5*time.Minute)
	return t
}

// Backend is the gate's AWS backend (validate.Backend).
type Backend struct {
	o         Options
	ec2       EC2API
	ecs       ClusterAPI
	tasks     TaskAPI
	ssm       CommandAPI
	iam       RoleAPI
	network   NetworkAPI
	region    string // the region, when known: Options.Region or the account's
	poll      poller
	timeouts  Timeouts
	expiresAt time.Time

	mu        sync.Mutex
	asked     asked                 // what the run has asked AWS to create
	instance  string                // the instance's id, once RunInstances answered
	launched  time.Time             // when RunInstances answered
	lost      time.Time             // when a RunInstances was asked whose answer never came
	container string                // its container instance ARN, once registered
	started   []string              // ARNs of the tasks RunTask started
	enis      []string              // ids of the awsvpc tasks' network interfaces it tagged
	taskDefs  map[probeKey]*taskDef // registered (or registering) task definitions
}

var _ validate.Backend = (*Backend)(nil)

// asked records the kinds of resource a run has asked AWS to create: the
// call was made, whatever its answer (a lost answer may hide a resource
// created). Cleanup looks for these alone. Tasks need no record: they run
// in the cluster, and there are none without it.
type asked struct{ cluster, instance, taskDefs, enis bool }

// ask records that the run is about to ask AWS to create a resource, of
// the kind set marks. It is called before the call is made.
func (b *Backend) ask(set func(*asked)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	set(&b.asked)
}

// New checks o and returns a Backend for it. It builds the clients o leaves
// nil from o.Account, connecting first when that is nil (awsaccount.Connect: a
// *RegionError or *CredentialsError says what is wrong); it creates
// nothing in AWS.
func New(ctx context.Context, o Options) (*Backend, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	o.Gate = o.Gate.WithDefaults() // RunID is set (Check): the clock, the probe image
	region := o.Region
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if n, ok := o.EC2.(NetworkAPI); ok && o.Network == nil {
		o.Network = n
	}
	if o.EC2 == nil || o.ECS == nil || o.Tasks == nil || o.SSM == nil || o.IAM == nil || o.Network == nil {
		if o.Account == nil {
			a, err := awsaccount.Connect(ctx, o.Region)
			if err != nil {
				return nil, err
			}
			o.Account = a
		}
		cfg := o.Account.Config
		if region == "" {
			region = cfg.Region
		}
		if o.EC2 == nil || o.Network == nil {
			c := ec2.NewFromConfig(cfg)
			if o.EC2 == nil {
				o.EC2 = c
			}
			if o.Network == nil {
				o.Network = c
			}
		}
		if o.ECS == nil || o.Tasks == nil {
			c := ecs.NewFromConfig(cfg)
			if o.ECS == nil {
				o.ECS = c
			}
			if o.Tasks == nil {
				o.Tasks = c
			}
		}
		if o.SSM == nil {
			o.SSM = ssm.NewFromConfig(cfg)
		}
		if o.IAM == nil {
			o.IAM = iam.NewFromConfig(cfg)
		}
	}
	return &Backend{
		o:         o,
		ec2:       o.EC2,
		ecs:       o.ECS,
		tasks:     o.Tasks,
		ssm:       o.SSM,
		iam:       o.IAM,
		network:   o.Network,
		region:    region,
		poll:      poller{clock: o.Gate.Clock, interval: o.PollInterval},
		timeouts:  o.Timeouts.withDefaults(),
		expiresAt: o.Gate.Clock.Now().Add(o.TTL).UTC().Truncate(time.Second),
		taskDefs:  make(map[probeKey]*taskDef),
	}, nil
}

// Check reports every bad setting of o at once, offline: what AWS asks of
// the gate's settings (an AMI id, a task role, a run id given, an SSM
// parameter to publish to) and of its own, then the gate's other problems
// (Gate.Validate), one error per setting. The error joins one
// *validate.SettingError per bad setting (Setting is the field's name:
// "ImageID", "Subnet"), each saying what a good value looks like. New
// checks them too.
func (o Options) Check() error {
	var errs []error
	reported := map[string]bool{}
	bad := func(setting, value, problem string) {
		if value != "" {
			value = fmt.Sprintf("%q", value)
		}
		reported[setting] = true
		errs = append(errs, &validate.SettingError{Setting: setting, Label: setting, Value: value, Problem: problem})
	}
	g := o.Gate
	for _, f := range []struct {
		name, value string
		required    bool
		rule        rule
	}{
		{"ImageID", strings.TrimSpace(g.ImageID), true, amiRule},
		{"Region", o.Region, false, regionRule},
		{"Subnet", o.Subnet, true, subnetRule},
		{"SecurityGroup", o.SecurityGroup, true, securityGroupRule},
		{"InstanceProfile", o.InstanceProfile, true, instanceProfileRule},
		{"InstanceType", o.InstanceType, false, instanceTypeRule},
		{"RoleARN", g.RoleARN, true, roleRule},
		{"ExecutionRoleARN", o.ExecutionRoleARN, false, roleRule},
	} {
		switch {
		case strings.TrimSpace(f.value) == "":
			if f.required {
				bad(f.name, "", "required; want "+f.rule.want)
			}
		case f.rule.ok != nil && !f.rule.ok(f.value):
			bad(f.name, f.value, f.rule.problem+"; want "+f.rule.want)
		}
	}
	if g.RunID == "" {
		bad("RunID", "", "required: default the gate's options once (validate.Options.WithDefaults) and give validate.Run the same")
	}
	if g.Publish != "" {
		if err := publish.CheckParameter(g.Publish); err != nil {
			reported["Publish"] = true
			errs = append(errs, err)
		}
	}
	// The gate's own checks, but for the settings said above.
	gate, _ := validate.SettingErrors(g.Validate()) // Validate's are all settings
	for _, se := range gate {
		if !reported[se.Setting] {
			errs = append(errs, se)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("aws gate options: %w", err)
	}
	return nil
}

func checkMode(mode string) error {
	if !slices.Contains(release.NetworkModes(), mode) {
		return fmt.Errorf("probe network mode %q: want one of %s", mode, strings.Join(release.NetworkModes(), ", "))
	}
	return nil
}

// Name returns "aws".
func (b *Backend) Name() string { return "aws" }

// Cluster is the name of the run's ECS cluster.
func (b *Backend) Cluster() string { return NamePrefix + b.o.Gate.RunID }

// Family is the task definition family of the probes in mode.
func (b *Backend) Family(mode string) string { return NamePrefix + b.o.Gate.RunID + "-" + mode }

// Instance returns the id of the run's instance, once Launch started it.
func (b *Backend) Instance() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.instance
}

// ExpiresAt is the time the run's resources are tagged to expire.
func (b *Backend) ExpiresAt() time.Time { return b.expiresAt }
