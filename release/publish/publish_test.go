package publish_test

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/publish"
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
	p, err := publish.New(t.Context(), publish.Options{SSM: client})
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
		{name: "no parameter", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": parameter: required; want letters, digits`},
		{name: "relative path", parameter: "cisecs/x", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": parameter "cisecs/x": not an SSM parameter name; want`},
		{name: "reserved prefix", parameter: "/aws/service/x", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": parameter "/aws/service/x": not an SSM parameter name`},
		{name: "space", parameter: "/cisecs/my image", image: "ami-0123456789abcdef0", wantErr: `publish image "ami-0123456789abcdef0": parameter "/cisecs/my image": not an SSM parameter name`},
		{name: "plain name", parameter: "cisecs-ami", image: "ami-0123456789abcdef0", wantCall: true},
		{name: "ssm fails", parameter: "/cisecs/x", image: "ami-0123456789abcdef0", putErr: errors.New("access denied"), wantErr: `publish image "ami-0123456789abcdef0" to parameter "/cisecs/x": access denied`, wantCall: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *ssm.PutParameterInput
			fake := storing(func(_ context.Context, in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
				got = in
				return &ssm.PutParameterOutput{Version: 1}, tt.putErr
			})
			p, err := publish.New(t.Context(), publish.Options{SSM: fake})
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

// fakeStore is a PublishAPI whose operations are its func fields; a nil
// one fails with errUnexpected.
type fakeStore struct {
	PutParameterFunc func(context.Context, *ssm.PutParameterInput) (*ssm.PutParameterOutput, error)
	GetParameterFunc func(context.Context, *ssm.GetParameterInput) (*ssm.GetParameterOutput, error)
}

var _ publish.PublishAPI = (*fakeStore)(nil)

func (f *fakeStore) PutParameter(ctx context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	if f.PutParameterFunc == nil {
		return nil, errUnexpected
	}
	return f.PutParameterFunc(ctx, in)
}

func (f *fakeStore) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.GetParameterFunc == nil {
		return nil, errUnexpected
	}
	return f.GetParameterFunc(ctx, in)
}

// storing is a fakeStore that stores at once each value put succeeds
// with (at the version it answers), and answers ParameterNotFound before
// the first.
func storing(put func(context.Context, *ssm.PutParameterInput) (*ssm.PutParameterOutput, error)) *fakeStore {
	var stored *ssmtypes.Parameter
	return &fakeStore{
		PutParameterFunc: func(ctx context.Context, in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
			out, err := put(ctx, in)
			if err == nil {
				stored = &ssmtypes.Parameter{Name: in.Name, Value: in.Value, Type: in.Type, DataType: in.DataType, Version: out.Version}
			}
			return out, err
		},
		GetParameterFunc: func(context.Context, *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
			if stored == nil {
				return nil, &ssmtypes.ParameterNotFound{}
			}
			return &ssm.GetParameterOutput{Parameter: stored}, nil
		},
	}
}

// fakeTagger is an ImageTagAPI whose CreateTags is CreateTagsFunc.
type fakeTagger struct {
	CreateTagsFunc func(context.Context, *ec2.CreateTagsInput) (*ec2.CreateTagsOutput, error)
}

var _ publish.ImageTagAPI = (*fakeTagger)(nil)

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
		opts     publish.Options
		tagErr   error
		wantErr  string // empty: no error
		wantTags map[string]string
		wantLog  []string
	}{
		{
			name:     "run id and report",
			opts:     publish.Options{RunID: "gh-1-1-0", ProvisionReportSHA256: testReportSHA256},
			wantTags: map[string]string{"cisecs:gate-run-id": "gh-1-1-0", "cisecs:provision-report-sha256": testReportSHA256},
			wantLog:  []string{"CreateTags", "PutParameter"},
		},
		{
			name:     "run id, report and agent",
			opts:     publish.Options{RunID: "gh-1-1-0", ProvisionReportSHA256: testReportSHA256, ECSAgentVersion: "1.101.2"},
			wantTags: map[string]string{"cisecs:gate-run-id": "gh-1-1-0", "cisecs:provision-report-sha256": testReportSHA256, "cisecs:ecs-agent-installed": "1.101.2"},
			wantLog:  []string{"CreateTags", "PutParameter"},
		},
		{
			name:     "run id only",
			opts:     publish.Options{RunID: "gh-1-1-0"},
			wantTags: map[string]string{"cisecs:gate-run-id": "gh-1-1-0"},
			wantLog:  []string{"CreateTags", "PutParameter"},
		},
		{
			name:    "nothing to tag",
			wantLog: []string{"PutParameter"},
		},
		{
			name:     "tagging fails",
			opts:     publish.Options{RunID: "gh-1-1-0"},
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
			o.SSM = storing(func(context.Context, *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
				log = append(log, "PutParameter")
				return &ssm.PutParameterOutput{Version: 1}, nil
			})
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
			p, err := publish.New(t.Context(), o)
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

// TestNewRefuses checks the provenance NewPublisher refuses to
// write as a tag.
func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts publish.Options
		want string
	}{
		{"bad run id", publish.Options{RunID: "run id"}, `publisher: run id "run id": want 1 to 64`},
		{"short digest", publish.Options{ProvisionReportSHA256: "abc"}, `publisher: provision report sha256 "abc": want 64 lower-case hex digits`},
		{"upper-case digest", publish.Options{ProvisionReportSHA256: strings.ToUpper(testReportSHA256)}, `want 64 lower-case hex digits`},
		{"bad agent version", publish.Options{ECSAgentVersion: "latest"}, `publisher: ECS agent version "latest": want a version like 1.86.3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.SSM, o.EC2 = &fakeStore{}, &fakeTagger{}
			if _, err := publish.New(t.Context(), o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want %q", err, tt.want)
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
	o := awssim.Options{Images: []awssim.Image{{
		ID:      built,
		Name:    "cisecs-al2023-cis-level1-20000101000000",
		Created: time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC),
		Tags:    map[string]string{"cisecs:image": "al2023-cis-level1", "SourceAMI": "ami-0bbbbbbbbbbbbbbb2"},
	}}}
	inBubble(t, o, func(t *testing.T, e *env) {
		param := "/cisecs/" + runID(t) + "/ami-id"
		p, err := publish.New(t.Context(), publish.Options{
			SSM: e.ssm, EC2: e.ec2, RunID: runID(t), ProvisionReportSHA256: testReportSHA256, ECSAgentVersion: "1.101.2",
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
			"cisecs:ecs-agent-installed":     "1.101.2",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tags of %s = %v, want %v", built, got, want)
		}
		par, err := e.ssm.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(param)})
		if err != nil {
			t.Fatalf("GetParameter: %v", err)
		}
		if v := aws.ToString(par.Parameter.Value); v != built || aws.ToString(par.Parameter.DataType) != publish.ImageDataType {
			t.Errorf("parameter %s = %q (data type %s), want %s (%s)", param, v, aws.ToString(par.Parameter.DataType), built, publish.ImageDataType)
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

// TestPublishReadsBack checks, on a scripted Parameter Store, that Publish
// refuses a parameter of another type or data type before it writes
// anything, and that it returns only once the parameter holds the new
// image id in the version its write created: SSM answers PutParameter of
// an aws:ec2:image value before it checks the AMI.
func TestPublishReadsBack(t *testing.T) {
	const (
		param = "/cisecs/x/ami-id"
		old   = "ami-0fedcba9876543210"
	)
	image := func(value string, version int64) *ssmtypes.Parameter {
		return &ssmtypes.Parameter{Name: aws.String(param), Value: aws.String(value), Type: ssmtypes.ParameterTypeString,
			DataType: aws.String(publish.ImageDataType), Version: version}
	}
	tests := []struct {
		name string
		// get answers the n-th GetParameter (from 1); put says whether
		// PutParameter was called before it.
		get func(n int, put bool) (*ssmtypes.Parameter, error)
		// putVersion is the version PutParameter answers; 0 is 4.
		putVersion int64
		wantErr    []string // each in the error; none: no error
		wantLog    []string
		wantTook   time.Duration
	}{
		{
			name: "new parameter, stored at once",
			get: func(_ int, put bool) (*ssmtypes.Parameter, error) {
				if !put {
					return nil, &ssmtypes.ParameterNotFound{}
				}
				return image(testAMI, 1), nil
			},
			putVersion: 1,
			wantLog:    []string{"GetParameter", "CreateTags", "PutParameter", "GetParameter"},
		},
		{
			name: "stored after SSM's check",
			get: func(n int, put bool) (*ssmtypes.Parameter, error) {
				if !put || n < 5 {
					return image(old, 3), nil
				}
				return image(testAMI, 4), nil
			},
			wantLog:  []string{"GetParameter", "CreateTags", "PutParameter", "GetParameter", "GetParameter", "GetParameter", "GetParameter"},
			wantTook: 7 * time.Second, // 1s, 2s, 4s
		},
		{
			name: "never stored: the check refused the AMI",
			get: func(int, bool) (*ssmtypes.Parameter, error) {
				return image(old, 3), nil
			},
			wantErr: []string{`publish image "ami-0123456789abcdef0" to parameter "/cisecs/x/ami-id": SSM answered PutParameter with version 4 but has not stored it`,
				`parameter "/cisecs/x/ami-id" to hold ami-0123456789abcdef0: timed out after 3m0s (last seen: version 3, ami-0fedcba9876543210)`,
				"not available in this account and region"},
			wantTook: publish.PublishCheckTimeout,
		},
		{
			name: "republished, new version never stored",
			get: func(int, bool) (*ssmtypes.Parameter, error) {
				return image(testAMI, 3), nil
			},
			wantErr:  []string{"SSM answered PutParameter with version 4 but has not stored it", "(last seen: version 3, ami-0123456789abcdef0)"},
			wantTook: publish.PublishCheckTimeout,
		},
		{
			name: "never created",
			get: func(int, bool) (*ssmtypes.Parameter, error) {
				return nil, &ssmtypes.ParameterNotFound{}
			},
			wantErr:  []string{"has not stored it", "(last seen: no parameter)"},
			wantTook: publish.PublishCheckTimeout,
		},
		{
			name: "text parameter",
			get: func(int, bool) (*ssmtypes.Parameter, error) {
				p := image(old, 3)
				p.DataType = aws.String("text")
				return p, nil
			},
			wantErr: []string{`publish image "ami-0123456789abcdef0" to parameter "/cisecs/x/ami-id": it exists as a String of data type "text", want a String of data type aws:ec2:image`,
				"delete it (aws ssm delete-parameter --name /cisecs/x/ami-id)"},
			wantLog: []string{"GetParameter"},
		},
		{
			name: "parameter without a data type",
			get: func(int, bool) (*ssmtypes.Parameter, error) {
				p := image(old, 3)
				p.DataType = nil
				return p, nil
			},
			wantErr: []string{`it exists as a String of data type "text"`},
			wantLog: []string{"GetParameter"},
		},
		{
			name: "secure string",
			get: func(int, bool) (*ssmtypes.Parameter, error) {
				p := image(old, 3)
				p.Type, p.DataType = ssmtypes.ParameterTypeSecureString, aws.String("text")
				return p, nil
			},
			wantErr: []string{`it exists as a SecureString of data type "text"`},
			wantLog: []string{"GetParameter"},
		},
		{
			name: "cannot read",
			get: func(int, bool) (*ssmtypes.Parameter, error) {
				return nil, errors.New("AccessDeniedException: not authorized to perform ssm:GetParameter")
			},
			wantErr: []string{`publish image "ami-0123456789abcdef0" to parameter "/cisecs/x/ami-id": read it: AccessDeniedException`},
			wantLog: []string{"GetParameter"},
		},
		{
			name: "cannot read back",
			get: func(_ int, put bool) (*ssmtypes.Parameter, error) {
				if put {
					return nil, errors.New("ThrottlingException")
				}
				return nil, &ssmtypes.ParameterNotFound{}
			},
			wantErr: []string{"read it back: ThrottlingException"},
			wantLog: []string{"GetParameter", "CreateTags", "PutParameter", "GetParameter"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log []string
				var gets int
				var put bool
				store := &fakeStore{
					GetParameterFunc: func(_ context.Context, in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
						log = append(log, "GetParameter")
						gets++
						if aws.ToString(in.Name) != param {
							t.Errorf("GetParameter(%q), want %s", aws.ToString(in.Name), param)
						}
						p, err := tt.get(gets, put)
						if err != nil {
							return nil, err
						}
						return &ssm.GetParameterOutput{Parameter: p}, nil
					},
					PutParameterFunc: func(context.Context, *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
						log = append(log, "PutParameter")
						put = true
						return &ssm.PutParameterOutput{Version: cmp.Or(tt.putVersion, 4)}, nil
					},
				}
				tagger := &fakeTagger{CreateTagsFunc: func(context.Context, *ec2.CreateTagsInput) (*ec2.CreateTagsOutput, error) {
					log = append(log, "CreateTags")
					return &ec2.CreateTagsOutput{}, nil
				}}
				p, err := publish.New(t.Context(), publish.Options{SSM: store, EC2: tagger, RunID: "gh-1-1-0"})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err = p.Publish(t.Context(), param, testAMI)
				took := time.Since(start)
				if len(tt.wantErr) == 0 && err != nil {
					t.Errorf("Publish: %v", err)
				}
				for _, want := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("Publish: %v, want an error with %q", err, want)
					}
				}
				if took != tt.wantTook {
					t.Errorf("Publish took %s, want %s", took, tt.wantTook)
				}
				if tt.wantLog != nil && !slices.Equal(log, tt.wantLog) {
					t.Errorf("calls %q, want %q", log, tt.wantLog)
				}
				if strings.Contains(tt.name, "never") && !isNotStored(err) {
					t.Errorf("Publish: %v, want a TimeoutError", err)
				}
			})
		})
	}
}

// TestPublisherImageCheckEmulated publishes through the front, which plays
// SSM's asynchronous check of aws:ec2:image values: PutParameter answers
// at once, the value appears Latencies.ImageParameter later, and never if
// the AMI is not available; a parameter's data type cannot change to or
// from aws:ec2:image. Publish returns only once the value is there, fails
// when SSM drops it, and refuses a text parameter before it tags the AMI.
func TestPublisherImageCheckEmulated(t *testing.T) {
	const (
		built   = "ami-0aaaaaaaaaaaaaaa1"
		failed  = "ami-0aaaaaaaaaaaaaaa2" // its build failed: state failed
		missing = "ami-0aaaaaaaaaaaaaaa3" // deregistered: not in the catalogue
		check   = 8 * time.Second
	)
	cisecs := map[string]string{"cisecs:image": "al2023-cis-level1"}
	o := awssim.Options{
		Latencies: awssim.Latencies{ImageParameter: check},
		Images: []awssim.Image{
			{ID: built, Name: "cisecs-al2023-1", Tags: cisecs},
			{ID: failed, Name: "cisecs-al2023-2", State: "failed", Tags: cisecs},
		},
	}
	// value is the parameter's value and data type, "(none)" when it
	// does not exist.
	value := func(t *testing.T, e *env, param string) string {
		t.Helper()
		out, err := e.ssm.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(param)})
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			return "(none)"
		}
		if err != nil {
			t.Fatalf("GetParameter(%s): %v", param, err)
		}
		return aws.ToString(out.Parameter.Value) + " " + aws.ToString(out.Parameter.DataType)
	}
	publisher := func(t *testing.T, e *env, tagged bool) *publish.Publisher {
		t.Helper()
		po := publish.Options{SSM: e.ssm}
		if tagged {
			po.EC2, po.RunID = e.ec2, runID(t)
		}
		p, err := publish.New(t.Context(), po)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("the value appears after the check", func(t *testing.T) {
		inBubble(t, o, func(t *testing.T, e *env) {
			param := "/cisecs/" + runID(t) + "/ami-id"
			start := time.Now()
			if err := publisher(t, e, true).Publish(t.Context(), param, built); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if took := time.Since(start); took < check {
				t.Errorf("Publish returned after %s, before SSM's %s check", took, check)
			}
			if got := value(t, e, param); got != built+" aws:ec2:image" {
				t.Errorf("right after Publish the parameter holds %s, want %s aws:ec2:image", got, built)
			}
		})
	})

	for _, tc := range []struct {
		name, image string
		tagged      bool // a deregistered AMI cannot be tagged
	}{
		{"the check refuses a failed AMI", failed, true},
		{"the check refuses a deregistered AMI", missing, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, o, func(t *testing.T, e *env) {
				param := "/cisecs/" + runID(t) + "/ami-id"
				p := publisher(t, e, tc.tagged)
				if err := p.Publish(t.Context(), param, built); err != nil {
					t.Fatalf("Publish(%s): %v", built, err)
				}
				err := p.Publish(t.Context(), param, tc.image)
				if err == nil || !strings.Contains(err.Error(), "SSM answered PutParameter with version 2 but has not stored it") {
					t.Errorf("Publish(%s): %v, want SSM's check to have dropped it", tc.image, err)
				}
				if got := value(t, e, param); got != built+" aws:ec2:image" {
					t.Errorf("after the refused publish the parameter holds %s, want %s", got, built)
				}
			})
		})
	}

	t.Run("a text parameter is refused before anything is written", func(t *testing.T) {
		inBubble(t, o, func(t *testing.T, e *env) {
			param := "/cisecs/" + runID(t) + "/ami-id"
			if _, err := e.ssm.PutParameter(t.Context(), &ssm.PutParameterInput{
				Name: aws.String(param), Value: aws.String(built), Type: ssmtypes.ParameterTypeString, DataType: aws.String("text"),
			}); err != nil {
				t.Fatalf("PutParameter(text): %v", err)
			}
			// The front, like SSM, refuses the change of data type.
			_, err := e.ssm.PutParameter(t.Context(), &ssm.PutParameterInput{
				Name: aws.String(param), Value: aws.String(built), Type: ssmtypes.ParameterTypeString,
				DataType: aws.String(publish.ImageDataType), Overwrite: aws.Bool(true),
			})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
				t.Errorf("PutParameter text -> aws:ec2:image: %v, want ValidationException", err)
			}

			err = publisher(t, e, true).Publish(t.Context(), param, built)
			if err == nil || !strings.Contains(err.Error(), `it exists as a String of data type "text", want a String of data type aws:ec2:image`) ||
				!strings.Contains(err.Error(), "aws ssm delete-parameter --name "+param) {
				t.Errorf("Publish to a text parameter: %v, want the data type named and the way out", err)
			}
			out, err := e.ec2.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{built}})
			if err != nil || len(out.Images) != 1 {
				t.Fatalf("DescribeImages(%s): %v", built, err)
			}
			for _, tag := range out.Images[0].Tags {
				if aws.ToString(tag.Key) == release.TagGateRunID && aws.ToString(tag.Value) == runID(t) {
					t.Errorf("the AMI was tagged %s=%s although nothing was published", release.TagGateRunID, runID(t))
				}
			}
			if got := value(t, e, param); got != built+" text" {
				t.Errorf("the parameter holds %s, want it untouched (%s text)", got, built)
			}
		})
	})
}
