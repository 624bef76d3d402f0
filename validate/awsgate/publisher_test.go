package awsgate_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestPublisherKumo publishes twice to kumo's Parameter Store and reads
// the parameter back: the latest AMI id, data type aws:ec2:image.
func TestPublisherKumo(t *testing.T) {
	k := kumo.NewServer()
	defer k.Close()
	client := ssm.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(k.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
	})
	p, err := awsgate.NewPublisher(t.Context(), awsgate.PublisherOptions{SSM: client})
	if err != nil {
		t.Fatal(err)
	}
	const name = "/cisecs/test-publisher/al2023/latest"
	for _, ami := range []string{"ami-0123456789abcdef0", "ami-0fedcba9876543210"} {
		if err := p.Publish(t.Context(), name, ami); err != nil {
			t.Fatalf("Publish(%s): %v", ami, err)
		}
		out, err := client.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil {
			t.Fatalf("GetParameter: %v", err)
		}
		got := out.Parameter
		if aws.ToString(got.Value) != ami || aws.ToString(got.DataType) != "aws:ec2:image" || got.Type != ssmtypes.ParameterTypeString {
			t.Errorf("parameter %s = %q (type %s, data type %s), want %s, String, aws:ec2:image",
				name, aws.ToString(got.Value), got.Type, aws.ToString(got.DataType), ami)
		}
	}
}

// TestPublish checks what Publish asks SSM for, and its errors.
func TestPublish(t *testing.T) {
	tests := []struct {
		name, parameter, image string
		putErr                 error
		wantErr                string // empty: no error
		wantCall               bool
	}{
		{name: "ok", parameter: "/cisecs/x", image: "ami-0123456789abcdef0", wantCall: true},
		{name: "short id", parameter: "/cisecs/x", image: "ami-01234567", wantCall: true},
		{name: "not an ami id", parameter: "/cisecs/x", image: "i-0123456789abcdef0", wantErr: `publish image "i-0123456789abcdef0" to parameter "/cisecs/x": not an AMI id`},
		{name: "no parameter", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": no parameter name`},
		{name: "ssm fails", parameter: "/cisecs/x", image: "ami-0123456789abcdef0", putErr: errors.New("access denied"), wantErr: `publish image "ami-0123456789abcdef0" to parameter "/cisecs/x": access denied`, wantCall: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *ssm.PutParameterInput
			fake := &fakeSSM{PutParameterFunc: func(_ context.Context, in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
				got = in
				return &ssm.PutParameterOutput{Version: 1}, tt.putErr
			}}
			p, err := awsgate.NewPublisher(t.Context(), awsgate.PublisherOptions{SSM: fake})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Publish(t.Context(), tt.parameter, tt.image)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Errorf("Publish: %v, want %q", err, tt.wantErr)
			}
			if (got != nil) != tt.wantCall {
				t.Fatalf("PutParameter called: %t, want %t", got != nil, tt.wantCall)
			}
			if got != nil && (aws.ToString(got.Name) != tt.parameter || aws.ToString(got.Value) != tt.image ||
				got.Type != ssmtypes.ParameterTypeString || aws.ToString(got.DataType) != "aws:ec2:image" || !aws.ToBool(got.Overwrite)) {
				t.Errorf("PutParameter(%+v): want the image id, String, aws:ec2:image, overwrite", got)
			}
		})
	}
}
