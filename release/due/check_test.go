package due_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/due"
)

// Hand-written fakes: a func field per operation; an operation whose func
// is nil fails with errUnexpected.

var errUnexpected = errors.New("fake: unexpected call")

type fakeEC2 struct {
	DescribeImagesFunc func(context.Context, *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error)
}

var _ due.ImagesAPI = (*fakeEC2)(nil)

func (f *fakeEC2) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	if f.DescribeImagesFunc == nil {
		return nil, errUnexpected
	}
	return f.DescribeImagesFunc(ctx, in)
}

type fakeSSM struct {
	GetParameterFunc func(context.Context, *ssm.GetParameterInput) (*ssm.GetParameterOutput, error)
}

var _ due.ParameterAPI = (*fakeSSM)(nil)

func (f *fakeSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.GetParameterFunc == nil {
		return nil, errUnexpected
	}
	return f.GetParameterFunc(ctx, in)
}

// fakeNow is the time the fake tests judge deprecation at.
var fakeNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ami is a base AMI as DescribeImages returns it, created days before
// fakeNow.
func ami(id string, days int, edit ...func(*ec2types.Image)) ec2types.Image {
	img := ec2types.Image{
		ImageId:      aws.String(id),
		Name:         aws.String("CIS Amazon Linux 2023 Benchmark - Level 1 " + id),
		State:        ec2types.ImageStateAvailable,
		CreationDate: aws.String(fakeNow.AddDate(0, 0, -days).Format("2006-01-02T15:04:05.000Z")),
	}
	for _, e := range edit {
		e(&img)
	}
	return img
}

func deprecatedBy(days int) func(*ec2types.Image) {
	return func(img *ec2types.Image) {
		img.DeprecationTime = aws.String(fakeNow.AddDate(0, 0, -days).Format(time.RFC3339))
	}
}

// TestCheckWithFakes drives Checker.Check with fakes: which base AMI it
// picks of those EC2 returns, how it reads the release, and its errors.
func TestCheckWithFakes(t *testing.T) {
	img := parse(t, "al2023", definition("al2023", "fake", ""))
	const param = "/cisecs-test/fake/ami-id"
	const released = "ami-0c000000000000001"
	// releasedFrom is the released AMI, built from base with img as it is.
	releasedFrom := func(base string) ec2types.Image {
		return ec2types.Image{
			ImageId: aws.String(released), Name: aws.String("cisecs-al2023"), State: ec2types.ImageStateAvailable,
			Tags: []ec2types.Tag{
				{Key: aws.String(release.TagSourceAMI), Value: aws.String(base)},
				{Key: aws.String(release.TagDefinitionSHA256), Value: aws.String(img.Digest)},
				{Key: aws.String(release.TagECSAgentVersion), Value: aws.String(release.NewestAgent)},
				{Key: aws.String(release.TagECSAgentInstalled), Value: aws.String("1.86.3")},
			},
		}
	}
	notFound := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "not there"} }
	parameter := func(v string) func(context.Context, *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
		return func(_ context.Context, in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
			if aws.ToString(in.Name) != param {
				t.Errorf("GetParameter(%q), want %s", aws.ToString(in.Name), param)
			}
			return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: aws.String(v)}}, nil
		}
	}
	tests := []struct {
		name     string
		pages    [][]ec2types.Image // the base look-up's answer, by page
		baseErr  error
		getParam func(context.Context, *ssm.GetParameterInput) (*ssm.GetParameterOutput, error)
		released *ec2types.Image // nil: the released AMI is not found
		relErr   error           // the released AMI look-up's error
		wantBase string
		want     []due.Code
		wantErr  string // empty: no error
		wantIs   error
	}{
		{
			name:     "up to date",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000001", 30), ami("ami-0b000000000000002", 3)}},
			getParam: parameter(released), released: new(releasedFrom("ami-0b000000000000002")),
			wantBase: "ami-0b000000000000002",
		},
		{
			name:     "newest across pages",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000001", 30)}, {ami("ami-0b000000000000003", 1), ami("ami-0b000000000000002", 3)}},
			getParam: parameter(released), released: new(releasedFrom("ami-0b000000000000002")),
			wantBase: "ami-0b000000000000003", want: []due.Code{due.NewBaseAMI},
		},
		{
			name:     "tie goes to the lower id",
			pages:    [][]ec2types.Image{{ami("ami-0b00000000000000f", 3), ami("ami-0b000000000000009", 3), ami("ami-0b000000000000001", 30)}},
			getParam: parameter(released), released: new(releasedFrom("ami-0b000000000000009")),
			wantBase: "ami-0b000000000000009",
		},
		{
			name:     "deprecated but returned: skipped",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000001", 30), ami("ami-0b000000000000002", 3, deprecatedBy(1))}},
			getParam: parameter(released), released: new(releasedFrom("ami-0b000000000000001")),
			wantBase: "ami-0b000000000000001",
		},
		{
			name:     "deprecation still ahead: counts",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000001", 30), ami("ami-0b000000000000002", 3, deprecatedBy(-10))}},
			getParam: parameter(released), released: new(releasedFrom("ami-0b000000000000001")),
			wantBase: "ami-0b000000000000002", want: []due.Code{due.NewBaseAMI},
		},
		{
			name: "not available: skipped",
			pages: [][]ec2types.Image{{ami("ami-0b000000000000001", 30), ami("ami-0b000000000000002", 3, func(i *ec2types.Image) {
				i.State = ec2types.ImageStatePending
			})}},
			getParam: parameter(released), released: new(releasedFrom("ami-0b000000000000001")),
			wantBase: "ami-0b000000000000001",
		},
		{
			name:  "never released",
			pages: [][]ec2types.Image{{ami("ami-0b000000000000002", 3)}},
			getParam: func(context.Context, *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
				return nil, notFound("ParameterNotFound")
			},
			wantBase: "ami-0b000000000000002", want: []due.Code{due.NeverReleased},
		},
		{
			name:     "released AMI gone",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000002", 3)}},
			getParam: parameter(released), relErr: notFound("InvalidAMIID.NotFound"),
			wantBase: "ami-0b000000000000002", want: []due.Code{due.ReleasedAMIMissing},
		},
		{
			name:     "released AMI deregistered",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000002", 3)}},
			getParam: parameter(released),
			released: new(func() ec2types.Image {
				i := releasedFrom("ami-0b000000000000002")
				i.State = ec2types.ImageStateDeregistered
				return i
			}()),
			wantBase: "ami-0b000000000000002", want: []due.Code{due.ReleasedAMIMissing},
		},
		{
			name:    "no base AMI",
			pages:   [][]ec2types.Image{{}},
			wantErr: `image "al2023": no base AMI matches in region "us-east-1": owners ["aws-marketplace"], name "CIS Amazon Linux 2023 Benchmark - Level 1*", architecture "x86_64", virtualization-type "hvm", root-device-type "ebs", state "available", not deprecated`,
			wantIs:  due.ErrNoBaseAMI,
		},
		{
			name:    "every base AMI deprecated",
			pages:   [][]ec2types.Image{{ami("ami-0b000000000000002", 300, deprecatedBy(5))}},
			wantErr: `not deprecated (1 matching AMI(s) deprecated)`,
			wantIs:  due.ErrNoBaseAMI,
		},
		{
			name:    "describe images fails",
			baseErr: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "not allowed"},
			wantErr: `image "al2023": base AMI: describe images in region "us-east-1": `,
		},
		{
			name:    "bad creation date",
			pages:   [][]ec2types.Image{{ami("ami-0b000000000000002", 3, func(i *ec2types.Image) { i.CreationDate = aws.String("yesterday") })}},
			wantErr: `image "al2023": base AMI: AMI "ami-0b000000000000002": creation date "yesterday"`,
		},
		{
			name:  "parameter unreadable",
			pages: [][]ec2types.Image{{ami("ami-0b000000000000002", 3)}},
			getParam: func(context.Context, *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
				return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}
			},
			wantErr: `image "al2023": released AMI: read parameter "/cisecs-test/fake/ami-id" in region "us-east-1": `,
		},
		{
			name:     "parameter holds no AMI id",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000002", 3)}},
			getParam: parameter("latest"),
			wantErr:  `image "al2023": released AMI: parameter "/cisecs-test/fake/ami-id" holds "latest", not an AMI id`,
		},
		{
			name:     "released AMI unreadable",
			pages:    [][]ec2types.Image{{ami("ami-0b000000000000002", 3)}},
			getParam: parameter(released), relErr: &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "slow down"},
			wantErr: `image "al2023": released AMI "ami-0c000000000000001" (parameter "/cisecs-test/fake/ami-id"): describe image: `,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := &fakeEC2{DescribeImagesFunc: func(_ context.Context, in *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
				if len(in.ImageIds) > 0 { // the released AMI
					if !slices.Equal(in.ImageIds, []string{released}) || len(in.Owners) > 0 || len(in.Filters) > 0 {
						t.Errorf("released AMI look-up %+v, want image id %s alone", in, released)
					}
					if tc.relErr != nil {
						return nil, tc.relErr
					}
					if tc.released == nil {
						return &ec2.DescribeImagesOutput{}, nil
					}
					return &ec2.DescribeImagesOutput{Images: []ec2types.Image{*tc.released}}, nil
				}
				if !slices.Equal(in.Owners, []string{"aws-marketplace"}) || aws.ToBool(in.IncludeDeprecated) || in.IncludeDeprecated == nil {
					t.Errorf("base look-up owners %q, include deprecated %v; want aws-marketplace, false", in.Owners, in.IncludeDeprecated)
				}
				filters := map[string]string{}
				for _, f := range in.Filters {
					filters[aws.ToString(f.Name)] = strings.Join(f.Values, ",")
				}
				want := map[string]string{"name": img.Base.NamePattern, "architecture": "x86_64", "virtualization-type": "hvm", "root-device-type": "ebs", "state": "available"}
				if len(filters) != len(want) {
					t.Errorf("filters %v, want %v", filters, want)
				}
				for k, v := range want {
					if filters[k] != v {
						t.Errorf("filter %s = %q, want %q", k, filters[k], v)
					}
				}
				if tc.baseErr != nil {
					return nil, tc.baseErr
				}
				page := 0
				if tok := aws.ToString(in.NextToken); tok != "" {
					page = int(tok[0] - '0')
				}
				out := &ec2.DescribeImagesOutput{Images: tc.pages[page]}
				if page+1 < len(tc.pages) {
					out.NextToken = aws.String(string(rune('0' + page + 1)))
				}
				return out, nil
			}}
			// The newest agent release, as AWS publishes it, and the
			// image's own parameter as the case says.
			getParam := func(ctx context.Context, in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
				if aws.ToString(in.Name) == due.AgentReleaseParameter(img) {
					return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: aws.String(`{"ecs_agent_version":"1.86.3","schema_version":1}`)}}, nil
				}
				return tc.getParam(ctx, in)
			}
			c := due.Checker{EC2: fe, SSM: &fakeSSM{GetParameterFunc: getParam}, Now: func() time.Time { return fakeNow }}
			d, err := c.Check(t.Context(), img)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) && !strings.HasSuffix(err.Error(), tc.wantErr) {
					t.Fatalf("Check: %v, want %q", err, tc.wantErr)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("Check: %v is not %v", err, tc.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d.Base.ID != tc.wantBase {
				t.Errorf("base %s, want %s", d.Base, tc.wantBase)
			}
			if got := codes(d); !slices.Equal(got, tc.want) {
				t.Errorf("reasons %q, want %q (%s)", got, tc.want, d.Message)
			}
		})
	}
}
