package awsgate

import (
	"context"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cisecs/cisecs/validate"
)

// ImageDataType is the SSM data type of a parameter that holds an AMI id:
// SSM checks that the image exists before the parameter is available.
const ImageDataType = "aws:ec2:image"

// Provenance tags Publish adds to the released AMI, next to those the
// build wrote (SourceAMI, cisecs:definition-sha256, ...).
const (
	// TagGateRunID holds the id of the gate run that released the AMI.
	TagGateRunID = "cisecs:gate-run-id"
	// TagProvisionReportSHA256 holds the SHA-256 (hex) of the
	// provisioner's report of the build that made the AMI.
	TagProvisionReportSHA256 = "cisecs:provision-report-sha256"
)

// ImageTagAPI is the part of EC2 the Publisher uses: it tags the released
// image with its provenance.
type ImageTagAPI interface {
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

var _ ImageTagAPI = (*ec2.Client)(nil)

// Publisher records a released image id in SSM Parameter Store
// (validate.Publisher), after tagging the image with the gate's provenance.
type Publisher struct {
	ssm  ParameterAPI
	ec2  ImageTagAPI
	tags []ec2types.Tag
}

var _ validate.Publisher = (*Publisher)(nil)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Region is the AWS region; empty takes it from the default chain.
	Region string
	// Account builds the clients left nil; nil connects to the default
	// configuration chain for Region first (Connect).
	Account *Account
	// SSM is the client; nil builds one from Account.
	SSM ParameterAPI
	// EC2 tags the image; nil builds one from Account when there is a
	// tag to write (RunID or ProvisionReportSHA256).
	EC2 ImageTagAPI
	// RunID is the id of the gate run that publishes: the image is tagged
	// TagGateRunID with it. Empty: no such tag.
	RunID string
	// ProvisionReportSHA256 is the SHA-256 (64 lower-case hex digits) of
	// the provisioner's report of the build: the image is tagged
	// TagProvisionReportSHA256 with it. Empty: no such tag.
	ProvisionReportSHA256 string
}

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NewPublisher checks o and returns a Publisher for it. It builds the
// clients o leaves nil from o.Account, connecting first when that is nil
// (Connect); it creates nothing in AWS.
func NewPublisher(ctx context.Context, o PublisherOptions) (*Publisher, error) {
	p := &Publisher{ssm: o.SSM, ec2: o.EC2}
	if o.RunID != "" {
		if !runIDPattern.MatchString(o.RunID) {
			return nil, fmt.Errorf("publisher: run id %q: want 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", o.RunID)
		}
		p.tags = append(p.tags, ec2types.Tag{Key: aws.String(TagGateRunID), Value: aws.String(o.RunID)})
	}
	if o.ProvisionReportSHA256 != "" {
		if !sha256Pattern.MatchString(o.ProvisionReportSHA256) {
			return nil, fmt.Errorf("publisher: provision report sha256 %q: want 64 lower-case hex digits", o.ProvisionReportSHA256)
		}
		p.tags = append(p.tags, ec2types.Tag{Key: aws.String(TagProvisionReportSHA256), Value: aws.String(o.ProvisionReportSHA256)})
	}
	if p.ssm == nil || (p.ec2 == nil && len(p.tags) > 0) {
		if o.Account == nil {
			a, err := Connect(ctx, o.Region)
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
	}
	return p, nil
}

// Publish tags imageID with the gate's provenance (TagGateRunID and
// TagProvisionReportSHA256, those the options set), then writes imageID to
// the parameter (a String of data type aws:ec2:image), overwriting the
// value it had. The tags go first, so that whoever reads the parameter
// finds an AMI that carries them; when tagging fails the parameter is left
// as it was. Both steps overwrite what is there, so Publish may be called
// again.
func (p *Publisher) Publish(ctx context.Context, parameter, imageID string) error {
	if err := CheckParameter(parameter); err != nil {
		return fmt.Errorf("publish image %q: %w", imageID, err)
	}
	if !imageIDPattern.MatchString(imageID) {
		return fmt.Errorf("publish image %q to parameter %q: not an AMI id (ami- and 8 or 17 hex digits)", imageID, parameter)
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
	_, err := p.ssm.PutParameter(ctx, &ssm.PutParameterInput{
		Name:      aws.String(parameter),
		Value:     aws.String(imageID),
		Type:      ssmtypes.ParameterTypeString,
		DataType:  aws.String(ImageDataType),
		Overwrite: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("publish image %q to parameter %q: %w", imageID, parameter, err)
	}
	return nil
}
