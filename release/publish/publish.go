// Package publish records a released image id, once the gate passed it:
// it tags the AMI (and its copies in other regions) with the gate's
// provenance, writes the id to an SSM parameter of data type
// aws:ec2:image in each region, and reads it back until SSM's own check of
// the image kept it. What it tags and where it writes are the released
// AMI's contract, package release.
package publish

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cisecs/cisecs/internal/awsaccount"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// ImageDataType is the SSM data type of a parameter that holds an AMI id:
// SSM checks that the image exists and is available, asynchronously, after
// PutParameter has answered; a value that fails the check is dropped
// without a word.
const ImageDataType = "aws:ec2:image"

// How long Publish waits for SSM's check of the new value: it reads the
// parameter back at once and then after a delay that starts at
// PublishCheckInterval and doubles up to PublishCheckMaxInterval, until
// PublishCheckTimeout has passed. SSM's check takes seconds.
const (
	PublishCheckTimeout     = 3 * time.Minute
	PublishCheckInterval    = time.Second
	PublishCheckMaxInterval = 20 * time.Second
)

// ImageTagAPI is the part of EC2 the Publisher uses: it tags the released
// image with its provenance.
type ImageTagAPI interface {
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

var _ ImageTagAPI = (*ec2.Client)(nil)

// PublishAPI is the part of SSM the Publisher uses: it reads the
// parameter before writing it (its data type) and after (SSM's check).
type PublishAPI interface {
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

var _ PublishAPI = (*ssm.Client)(nil)

// Publisher records a released image id in SSM Parameter Store
// (validate.Publisher), after tagging the image with the gate's provenance.
type Publisher struct {
	ssm   PublishAPI
	ec2   ImageTagAPI
	tags  []ec2types.Tag
	clock validate.Clock
	// copies publish the image's copies, each in its region.
	copies []imageCopy
}

// imageCopy is a copy of the released image in another region, and the
// Publisher of that region.
type imageCopy struct {
	region, image string
	pub           *Publisher
}

var _ validate.Publisher = (*Publisher)(nil)

// Options configure a Publisher.
type Options struct {
	// Region is the AWS region; empty takes it from the default chain.
	Region string
	// Account builds the clients left nil; nil connects to the default
	// configuration chain for Region first (awsaccount.Connect).
	Account *awsaccount.Account
	// SSM is the client; nil builds one from Account.
	SSM PublishAPI
	// EC2 tags the image; nil builds one from Account when there is a
	// tag to write (RunID or ProvisionReportSHA256).
	EC2 ImageTagAPI
	// RunID is the id of the gate run that publishes: the image is tagged
	// release.TagGateRunID with it. Empty: no such tag.
	RunID string
	// ProvisionReportSHA256 is the SHA-256 (64 lower-case hex digits) of
	// the provisioner's report of the build: the image is tagged
	// release.TagProvisionReportSHA256 with it. Empty: no such tag.
	ProvisionReportSHA256 string
	// ECSAgentVersion is the version of the ECS agent the build installed,
	// like 1.86.3: the image is tagged release.TagECSAgentInstalled with it.
	// Empty: no such tag.
	ECSAgentVersion string
	// Clock times the wait for SSM's check of the value; nil is the
	// system clock.
	Clock validate.Clock
	// Copies are the image's copies in other regions, region to AMI id
	// (the build's copy_regions): each gets the same provenance tags and
	// the same parameter in its own region, once the image itself is
	// published. The gate validated the image they are copies of.
	Copies map[string]string
	// CopyClients returns the clients of a copy's region; nil builds them
	// from Account, in that region.
	CopyClients func(region string) (PublishAPI, ImageTagAPI)
}

var (
	sha256Pattern       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	agentVersionPattern = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
)

// New checks o and returns a Publisher for it. It builds the
// clients o leaves nil from o.Account, connecting first when that is nil
// (awsaccount.Connect); it creates nothing in AWS.
func New(ctx context.Context, o Options) (*Publisher, error) {
	p := &Publisher{ssm: o.SSM, ec2: o.EC2, clock: o.Clock}
	if p.clock == nil {
		p.clock = validate.RealClock{}
	}
	if o.RunID != "" {
		if !release.IsRunID(o.RunID) {
			return nil, fmt.Errorf("publisher: run id %q: want 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", o.RunID)
		}
		p.tags = append(p.tags, ec2types.Tag{Key: aws.String(release.TagGateRunID), Value: aws.String(o.RunID)})
	}
	if o.ProvisionReportSHA256 != "" {
		if !sha256Pattern.MatchString(o.ProvisionReportSHA256) {
			return nil, fmt.Errorf("publisher: provision report sha256 %q: want 64 lower-case hex digits", o.ProvisionReportSHA256)
		}
		p.tags = append(p.tags, ec2types.Tag{Key: aws.String(release.TagProvisionReportSHA256), Value: aws.String(o.ProvisionReportSHA256)})
	}
	if o.ECSAgentVersion != "" {
		if !agentVersionPattern.MatchString(o.ECSAgentVersion) {
			return nil, fmt.Errorf("publisher: ECS agent version %q: want a version like 1.86.3", o.ECSAgentVersion)
		}
		p.tags = append(p.tags, ec2types.Tag{Key: aws.String(release.TagECSAgentInstalled), Value: aws.String(o.ECSAgentVersion)})
	}
	if p.ssm == nil || (p.ec2 == nil && len(p.tags) > 0) || (len(o.Copies) > 0 && o.CopyClients == nil) {
		if o.Account == nil {
			a, err := awsaccount.Connect(ctx, o.Region)
			if err != nil {
				return nil, err
			}
			o.Account = a
		}
		cfg := o.Account.Config
		if p.ssm == nil {
			p.ssm = ssm.NewFromConfig(cfg)
		}
		if p.ec2 == nil && len(p.tags) > 0 {
			p.ec2 = ec2.NewFromConfig(cfg)
		}
		if o.CopyClients == nil {
			o.CopyClients = func(region string) (PublishAPI, ImageTagAPI) {
				c := cfg.Copy()
				c.Region = region
				return ssm.NewFromConfig(c), ec2.NewFromConfig(c)
			}
		}
	}
	for _, region := range slices.Sorted(maps.Keys(o.Copies)) {
		image := o.Copies[region]
		if !release.IsRegion(region) {
			return nil, fmt.Errorf("publisher: copy %s: region %q: not a region name; want one like eu-west-1", image, region)
		}
		if !release.IsImageID(image) {
			return nil, fmt.Errorf("publisher: copy in %s: %q is not an AMI id (ami- and 8 or 17 hex digits)", region, image)
		}
		cs, ce := o.CopyClients(region)
		p.copies = append(p.copies, imageCopy{region: region, image: image,
			pub: &Publisher{ssm: cs, ec2: ce, tags: p.tags, clock: p.clock}})
	}
	return p, nil
}

// Publish writes imageID to the parameter (a String of data type
// aws:ec2:image), overwriting the value it had, and returns once the
// parameter holds it.
//
// First it reads the parameter: one of another type or data type is
// refused, untouched (SSM cannot change a parameter to or from
// aws:ec2:image). Then it tags imageID with the gate's provenance
// (release.TagGateRunID, release.TagProvisionReportSHA256, release.TagECSAgentInstalled: those the
// options set), so
// that whoever reads the parameter finds an AMI that carries them; when
// tagging fails the parameter is left as it was. Then it writes the
// parameter and reads it back until it holds imageID in the version the
// write created: SSM answers PutParameter before it checks the AMI, and
// drops a value that fails the check without a word. Every step
// overwrites what is there, so Publish may be called again.
//
// Then it publishes each copy (Options.Copies) the same way in
// its region, in region order; an error names the region.
func (p *Publisher) Publish(ctx context.Context, parameter, imageID string) error {
	if err := p.publish(ctx, parameter, imageID); err != nil {
		return err
	}
	for _, c := range p.copies {
		if err := c.pub.publish(ctx, parameter, c.image); err != nil {
			return fmt.Errorf("copy in %s: %w", c.region, err)
		}
	}
	return nil
}

// publish publishes imageID to the parameter in the Publisher's region
// (see Publish).
func (p *Publisher) publish(ctx context.Context, parameter, imageID string) error {
	if err := CheckParameter(parameter); err != nil {
		return fmt.Errorf("publish image %q: %w", imageID, err)
	}
	if !release.IsImageID(imageID) {
		return fmt.Errorf("publish image %q to parameter %q: not an AMI id (ami- and 8 or 17 hex digits)", imageID, parameter)
	}
	cur, err := p.read(ctx, parameter)
	if err != nil {
		return fmt.Errorf("publish image %q to parameter %q: read it: %w", imageID, parameter, err)
	}
	if cur != nil {
		dataType := aws.ToString(cur.DataType)
		if dataType == "" {
			dataType = "text"
		}
		if cur.Type != ssmtypes.ParameterTypeString || dataType != ImageDataType {
			return fmt.Errorf("publish image %q to parameter %q: it exists as a %s of data type %q, want a String of data type %s; "+
				"SSM cannot change a parameter's data type to %s: delete it (aws ssm delete-parameter --name %s) or publish to another parameter",
				imageID, parameter, cur.Type, dataType, ImageDataType, ImageDataType, parameter)
		}
	}
	if len(p.tags) > 0 {
		_, err := p.ec2.CreateTags(ctx, &ec2.CreateTagsInput{
			Resources: []string{imageID},
			Tags:      p.tags,
		})
		if err != nil {
			return fmt.Errorf("publish image %q to parameter %q: tag its provenance: %w", imageID, parameter, err)
		}
	}
	out, err := p.ssm.PutParameter(ctx, &ssm.PutParameterInput{
		Name:      aws.String(parameter),
		Value:     aws.String(imageID),
		Type:      ssmtypes.ParameterTypeString,
		DataType:  aws.String(ImageDataType),
		Overwrite: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("publish image %q to parameter %q: %w", imageID, parameter, err)
	}
	if err := p.awaitCheck(ctx, parameter, imageID, out.Version); err != nil {
		return fmt.Errorf("publish image %q to parameter %q: %w", imageID, parameter, err)
	}
	return nil
}

// read returns the parameter, nil when it does not exist.
func (p *Publisher) read(ctx context.Context, parameter string) (*ssmtypes.Parameter, error) {
	out, err := p.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(parameter)})
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if out.Parameter == nil {
		return nil, errors.New("GetParameter answered no parameter")
	}
	return out.Parameter, nil
}

// NotStoredError says that SSM answered PutParameter but the parameter
// did not come to hold the image id: SSM's check of an aws:ec2:image value
// dropped it, or had not kept it when Publish stopped waiting.
type NotStoredError struct {
	Parameter, ImageID string
	// Version is the version PutParameter answered with.
	Version int64
	// After is how long Publish read the parameter back.
	After time.Duration
	// Last is what the last read found.
	Last string
}

func (e *NotStoredError) Error() string {
	return fmt.Sprintf("SSM answered PutParameter with version %d but has not stored it: parameter %q to hold %s: timed out after %s (last seen: %s) "+
		"(SSM checks an %s value after answering and drops it when the AMI is not available in this account and region)",
		e.Version, e.Parameter, e.ImageID, e.After, e.Last, ImageDataType)
}

// awaitCheck reads the parameter back until it holds imageID, at version
// (or later; 0: any), with a growing delay between reads, for at most
// PublishCheckTimeout (the last read is at the deadline).
func (p *Publisher) awaitCheck(ctx context.Context, parameter, imageID string, version int64) error {
	deadline := p.clock.Now().Add(PublishCheckTimeout)
	delay := PublishCheckInterval
	for {
		cur, err := p.read(ctx, parameter)
		if err != nil {
			return fmt.Errorf("read it back: %w", err)
		}
		last := "no parameter"
		if cur != nil {
			if aws.ToString(cur.Value) == imageID && cur.Version >= version {
				return nil
			}
			last = fmt.Sprintf("version %d, %s", cur.Version, aws.ToString(cur.Value))
		}
		if !p.clock.Now().Before(deadline) {
			return &NotStoredError{Parameter: parameter, ImageID: imageID, Version: version, After: PublishCheckTimeout, Last: last}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the parameter to hold %s (last seen: %s): %w", imageID, last, context.Cause(ctx))
		case <-p.clock.After(min(delay, deadline.Sub(p.clock.Now()))):
		}
		delay = min(2*delay, PublishCheckMaxInterval)
	}
}
