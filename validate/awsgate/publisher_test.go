package awsgate_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/validate/awsgate"
	"github.com/cisecs/cisecs/validate/awsgate/awsgatetest"
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
		{name: "no parameter", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": Parameter: required; want letters, digits`},
		{name: "relative path", parameter: "cisecs/x", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": Parameter "cisecs/x": not an SSM parameter name; want`},
		{name: "reserved prefix", parameter: "/aws/service/x", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": Parameter "/aws/service/x": not an SSM parameter name`},
		{name: "space", parameter: "/cisecs/my image", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": Parameter "/cisecs/my image": not an SSM parameter name`},
		{name: "plain name", parameter: "cisecs-ami", image: "ami-0123456789abcdef0", wantCall: true},
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

// fakeTagger is an ImageTagAPI whose CreateTags is CreateTagsFunc.
type fakeTagger struct {
	CreateTagsFunc func(context.Context, *ec2.CreateTagsInput) (*ec2.CreateTagsOutput, error)
}

var _ awsgate.ImageTagAPI = (*fakeTagger)(nil)

func (f *fakeTagger) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	if f.CreateTagsFunc == nil {
		return nil, errUnexpected
	}
	return f.CreateTagsFunc(ctx, in)
}

const testReportSHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// TestPublishProvenance checks that Publish tags the image with the run id
// and the report's digest before it writes the parameter, and that a
// failed tagging leaves the parameter alone.
func TestPublishProvenance(t *testing.T) {
	tests := []struct {
		name     string
		opts     awsgate.PublisherOptions
		tagErr   error
		wantErr  string // empty: no error
		wantTags map[string]string
		wantLog  []string
	}{
		{
			name:     "run id and report",
			opts:     awsgate.PublisherOptions{RunID: "gh-1-1-0", ProvisionReportSHA256: testReportSHA256},
			wantTags: map[string]string{"cisecs:gate-run-id": "gh-1-1-0", "cisecs:provision-report-sha256": testReportSHA256},
			wantLog:  []string{"CreateTags", "PutParameter"},
		},
		{
			name:     "run id only",
			opts:     awsgate.PublisherOptions{RunID: "gh-1-1-0"},
			wantTags: map[string]string{"cisecs:gate-run-id": "gh-1-1-0"},
			wantLog:  []string{"CreateTags", "PutParameter"},
		},
		{
			name:    "nothing to tag",
			wantLog: []string{"PutParameter"},
		},
		{
			name:     "tagging fails",
			opts:     awsgate.PublisherOptions{RunID: "gh-1-1-0"},
			tagErr:   errors.New("UnauthorizedOperation"),
			wantErr:  `publish image "ami-0123456789abcdef0" to parameter "/cisecs/x": tag its provenance: UnauthorizedOperation`,
			wantTags: map[string]string{"cisecs:gate-run-id": "gh-1-1-0"},
			wantLog:  []string{"CreateTags"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			var gotTags map[string]string
			o := tt.opts
			o.SSM = &fakeSSM{PutParameterFunc: func(context.Context, *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
				log = append(log, "PutParameter")
				return &ssm.PutParameterOutput{Version: 1}, nil
			}}
			o.EC2 = &fakeTagger{CreateTagsFunc: func(_ context.Context, in *ec2.CreateTagsInput) (*ec2.CreateTagsOutput, error) {
				log = append(log, "CreateTags")
				if len(in.Resources) != 1 || in.Resources[0] != testAMI {
					t.Errorf("CreateTags on %q, want [%s]", in.Resources, testAMI)
				}
				gotTags = map[string]string{}
				for _, tag := range in.Tags {
					gotTags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
				}
				return &ec2.CreateTagsOutput{}, tt.tagErr
			}}
			p, err := awsgate.NewPublisher(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Publish(t.Context(), "/cisecs/x", testAMI)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("Publish: %v, want %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(gotTags, tt.wantTags) {
				t.Errorf("tags %v, want %v", gotTags, tt.wantTags)
			}
			if !slices.Equal(log, tt.wantLog) {
				t.Errorf("calls %q, want %q", log, tt.wantLog)
			}
		})
	}
}

// TestNewPublisherRefuses checks the provenance NewPublisher refuses to
// write as a tag.
func TestNewPublisherRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts awsgate.PublisherOptions
		want string
	}{
		{"bad run id", awsgate.PublisherOptions{RunID: "run id"}, `publisher: run id "run id": want 1 to 64`},
		{"short digest", awsgate.PublisherOptions{ProvisionReportSHA256: "abc"}, `publisher: provision report sha256 "abc": want 64 lower-case hex digits`},
		{"upper-case digest", awsgate.PublisherOptions{ProvisionReportSHA256: strings.ToUpper(testReportSHA256)}, `want 64 lower-case hex digits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.SSM, o.EC2 = &fakeSSM{}, &fakeTagger{}
			if _, err := awsgate.NewPublisher(t.Context(), o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewPublisher: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestPublisherProvenanceEmulated publishes a built AMI through the front
// (kumo's Parameter Store, the front's image catalogue): afterwards the
// AMI carries the gate's run id and the report's digest besides the build's
// tags, and the parameter holds its id. An AMI that does not exist is
// refused before the parameter is touched.
func TestPublisherProvenanceEmulated(t *testing.T) {
	const built = "ami-0aaaaaaaaaaaaaaa1"
	o := awsgatetest.Options{Images: []awsgatetest.Image{{
		ID:      built,
		Name:    "cisecs-al2023-cis-level1-20000101000000",
		Created: time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC),
		Tags:    map[string]string{"cisecs:image": "al2023-cis-level1", "SourceAMI": "ami-0bbbbbbbbbbbbbbb2"},
	}}}
	inBubble(t, o, func(t *testing.T, e *env) {
		param := "/cisecs/" + runID(t) + "/ami-id"
		p, err := awsgate.NewPublisher(t.Context(), awsgate.PublisherOptions{
			SSM: e.ssm, EC2: e.ec2, RunID: runID(t), ProvisionReportSHA256: testReportSHA256,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(t.Context(), param, built); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		out, err := e.ec2.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{built}})
		if err != nil {
			t.Fatalf("DescribeImages: %v", err)
		}
		if len(out.Images) != 1 {
			t.Fatalf("DescribeImages(%s): %d images", built, len(out.Images))
		}
		got := map[string]string{}
		for _, tag := range out.Images[0].Tags {
			got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		want := map[string]string{
			"cisecs:image":                   "al2023-cis-level1",
			"SourceAMI":                      "ami-0bbbbbbbbbbbbbbb2",
			"cisecs:gate-run-id":             runID(t),
			"cisecs:provision-report-sha256": testReportSHA256,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tags of %s = %v, want %v", built, got, want)
		}
		par, err := e.ssm.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(param)})
		if err != nil {
			t.Fatalf("GetParameter: %v", err)
		}
		if v := aws.ToString(par.Parameter.Value); v != built || aws.ToString(par.Parameter.DataType) != awsgate.ImageDataType {
			t.Errorf("parameter %s = %q (data type %s), want %s (%s)", param, v, aws.ToString(par.Parameter.DataType), built, awsgate.ImageDataType)
		}

		// An AMI that is not there: tagging fails, the parameter keeps
		// the released id.
		err = p.Publish(t.Context(), param, "ami-0ccccccccccccccc3")
		if err == nil || !strings.Contains(err.Error(), "InvalidAMIID.NotFound") {
			t.Errorf("Publish(missing AMI): %v, want InvalidAMIID.NotFound", err)
		}
		par, err = e.ssm.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(param)})
		if err != nil || aws.ToString(par.Parameter.Value) != built {
			t.Errorf("after a failed publish the parameter is %v (%v), want %s", par, err, built)
		}
	})
}
