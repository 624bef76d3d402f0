package awsgate

import (
	"context"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cisecs/cisecs/validate"
)

// ImageDataType is the SSM data type of a parameter that holds an AMI id:
// SSM checks that the image exists before the parameter is available.
const ImageDataType = "aws:ec2:image"

// Publisher records a released image id in SSM Parameter Store
// (validate.Publisher).
type Publisher struct {
	ssm ParameterAPI
}

var _ validate.Publisher = (*Publisher)(nil)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Region is the AWS region; empty takes it from the default chain.
	Region string
	// SSM is the client; nil builds one from the default configuration
	// chain.
	SSM ParameterAPI
}

// NewPublisher returns a Publisher for o.
func NewPublisher(ctx context.Context, o PublisherOptions) (*Publisher, error) {
	if o.SSM == nil {
		cfg, err := loadConfig(ctx, o.Region)
		if err != nil {
			return nil, err
		}
		o.SSM = ssm.NewFromConfig(cfg)
	}
	return &Publisher{ssm: o.SSM}, nil
}

var imageIDPattern = regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`)

// Publish writes imageID to the parameter (a String of data type
// aws:ec2:image), overwriting the value it had.
func (p *Publisher) Publish(ctx context.Context, parameter, imageID string) error {
	if parameter == "" {
		return fmt.Errorf("publish image %q: no parameter name", imageID)
	}
	if !imageIDPattern.MatchString(imageID) {
		return fmt.Errorf("publish image %q to parameter %q: not an AMI id (ami- and 8 or 17 hex digits)", imageID, parameter)
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
